"""XLSX formula residue (seed 004) found by scanning the sheet's XML, as openpyxl finds it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import xlsxwriter

from application.importer import _formula_cells, _formula_cells_by_openpyxl


def workbook(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    first = book.add_worksheet("客户")
    first.write_row(0, 0, ["姓名", "手机", "公司"])
    first.write_row(1, 0, ["李雷", "13800138000", "杭州某公司"])
    first.write_formula(2, 2, '=VLOOKUP(A2,Sheet2!A:B,2,0)&"<有限>"', None, "杭州某公司")
    first.write_array_formula(3, 1, 3, 1, "{=SUM(B1:B2*1)}", None, 0)
    first.write_formula(30, 27, "=A1", None, "x")  # column AB, row 31
    book.add_worksheet("说明").write_formula(0, 0, "=1+1", None, 2)  # only the first sheet is imported
    book.close()
    return path


def test_the_xml_scan_finds_what_openpyxl_finds(tmp_path: Path) -> None:
    path = workbook(tmp_path / "客户.xlsx")
    expected = {3: {2: '=VLOOKUP(A2,Sheet2!A:B,2,0)&"<有限>"'}, 4: {1: "=SUM(B1:B2*1)"}, 31: {27: "=A1"}}
    assert expected == _formula_cells(path) == _formula_cells_by_openpyxl(path)


def test_a_shared_formula_flags_every_cell_that_shares_it(tmp_path: Path) -> None:
    path = workbook(tmp_path / "客户.xlsx")
    shared = tmp_path / "shared.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(shared, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<f>A1</f>", b'<f t="shared" ref="AB31:AB32" si="0">A1</f>')
                data = data.replace(
                    b"</sheetData>", b'<row r="32"><c r="AB32"><f t="shared" si="0"/></c></row></sheetData>'
                )
            target.writestr(item, data)
    assert {27: "=A1"} == _formula_cells(shared)[31] == _formula_cells(shared)[32]


def test_a_sheet_without_formulas_costs_one_scan(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(str(tmp_path / "plain.xlsx"), {"strings_to_formulas": False})
    book.add_worksheet().write_row(0, 0, ["=not a formula, text"])
    book.close()
    assert {} == _formula_cells(tmp_path / "plain.xlsx")
