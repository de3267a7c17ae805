"""Generated customer sheets with known bad rows (seed 004's incident, scaled)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import xlsxwriter

HEADERS = ["姓名", "手机", "邮箱", "公司", "城市", "行业", "负责人"]
CITIES = ["杭州", "成都", "北京", "上海"]
INDUSTRIES = ["智能硬件", "医疗设备", "新能源"]


@dataclass
class Sheet:
    rows: list[list[str]] = field(default_factory=list)
    bad_rows: dict[int, str] = field(default_factory=dict)  # sheet row number (header = 1) → column
    cleaned_rows: set[int] = field(default_factory=set)  # accepted after removing U+200E / full-width
    duplicate_rows: set[int] = field(default_factory=set)


def customer_sheet(count: int, seed: int = 1, bad_share: float = 0.05) -> Sheet:
    rng = random.Random(seed)
    sheet = Sheet()
    for index in range(count):
        number = index + 2
        phone = f"139{index:08d}"
        row = [
            f"客户{index}",
            phone,
            f"c{index}@example.cn",
            f"{rng.choice(CITIES)}某{rng.choice(INDUSTRIES)}有限公司",
            rng.choice(CITIES),
            rng.choice(INDUSTRIES),
            f"a-{index % 7}",
        ]
        if index > 0 and rng.random() < bad_share:
            kind = rng.randrange(7)
            if kind == 0:
                row[1] = phone[:3] + "\u200e" + phone[3:]  # invisible LRM inside the phone: cleaned
                sheet.cleaned_rows.add(number)
            elif kind == 1:
                row[3] = "=VLOOKUP(A2,Sheet2!A:B,2,0)"
                sheet.bad_rows[number] = "公司"
            elif kind == 2:
                row[1] = phone.translate(
                    str.maketrans("0123456789", "０１２３４５６７８９")
                )  # full-width: cleaned
                sheet.cleaned_rows.add(number)
            elif kind == 3:
                row[2] = f"c{index}@@example"
                sheet.bad_rows[number] = "邮箱"
            elif kind == 4:
                row[3] = "华为"
                sheet.bad_rows[number] = "公司"
            elif kind == 5:
                row = list(sheet.rows[-1])  # the previous row again, good or bad
                if number - 1 in sheet.bad_rows:
                    sheet.bad_rows[number] = sheet.bad_rows[number - 1]
                else:
                    sheet.duplicate_rows.add(number)
                    if number - 1 in sheet.cleaned_rows:
                        sheet.cleaned_rows.add(number)
            else:
                row[1] = "12345"
                sheet.bad_rows[number] = "手机"
        sheet.rows.append(row)
    return sheet


def write_xlsx(sheet: Sheet, path: Path, *, formulas: bool = False) -> Path:
    """``formulas``: cells starting with "=" become real formula cells (with a cached value, as
    Excel saves them: seed 004's "formula residue"); otherwise they are text."""
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False})
    worksheet = workbook.add_worksheet("客户")
    worksheet.write_row(0, 0, HEADERS)
    for index, row in enumerate(sheet.rows, start=1):
        worksheet.write_row(index, 0, row)
        if formulas:
            for column, value in enumerate(row):
                if isinstance(value, str) and value.startswith("="):
                    worksheet.write_formula(index, column, value, None, "杭州某公司")
    workbook.close()
    return path
