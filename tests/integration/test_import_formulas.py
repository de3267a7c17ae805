"""XLSX formula cells, merged cells and encodings on real files (issue 15, seed 004)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import xlsxwriter

from application.event_chain import EventChain
from application.importer import import_file

NOW = datetime(2026, 4, 1, tzinfo=UTC)
HEADER = ["姓名", "手机", "公司"]


def sheet_with_formulas(path: Path) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("客户")
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, ["李雷", "13905712345", "杭州某智能硬件有限公司"])
    sheet.write_row(2, 0, ["韩梅梅", "13905712346"])
    sheet.write_formula(2, 2, "=VLOOKUP(A2,Sheet2!A:B,2,0)")  # no cached value: calamine reads ""
    sheet.write_row(3, 0, ["王芳", "13905712347"])
    sheet.write_formula(3, 2, "=VLOOKUP(A3,Sheet2!A:B,2,0)", None, "成都某医疗设备有限公司")  # cached
    sheet.write_row(4, 0, ["赵强", "13905712348", "北京某新能源有限公司"])
    workbook.close()
    return path


def test_xlsx_formula_cells_are_rejected_per_row_with_or_without_a_cached_value(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    summary = import_file(app, sheet_with_formulas(tmp_path / "客户.xlsx"), occurred_at=NOW)
    assert (4, 2, 2) == (summary.rows_read, summary.accepted, summary.rejected_rows)
    assert summary.accepted + summary.rejected_rows == summary.rows_read
    assert {3: "公司", 4: "公司"} == {number: problem.column for number, problem in summary.rejected}
    assert all("=VLOOKUP(" in problem.reason for _, problem in summary.rejected)
    assert any("2 formula cells" in note for note in summary.notes)


def test_merged_cells_are_reported_with_their_range_and_counts_still_reconcile(tmp_path: Path) -> None:
    path = tmp_path / "merged.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    sheet.merge_range("C2:C3", "杭州某智能硬件有限公司")  # one company typed once for two people
    sheet.write_row(1, 0, ["李雷", "13905712345"])
    sheet.write_row(2, 0, ["韩梅梅", "13905712346"])
    workbook.close()
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    summary = import_file(app, path, occurred_at=NOW)
    assert summary.accepted + summary.rejected_rows == summary.rows_read == 2
    assert any(note.startswith("merged cells C2:C3") for note in summary.notes)


def test_a_sheet_without_formulas_is_read_once_and_reports_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.xlsx"
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, ["李雷", "13905712345", "=VLOOKUP(A2,Sheet2!A:B,2,0)"])  # residue typed as text
    workbook.close()
    summary = import_file(EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}"), path, occurred_at=NOW)
    assert (1, 0, 1) == (summary.rows_read, summary.accepted, summary.rejected_rows)
    assert not any("formula cells" in note for note in summary.notes)


def test_the_csv_encoding_and_its_bom_are_reported(tmp_path: Path) -> None:
    rows = "姓名,手机,公司\n李雷,13905712345,杭州某智能硬件有限公司\n"
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    for name, encoding, expected in [
        ("bom.csv", "utf-8-sig", "encoding UTF-8 with BOM"),
        ("plain.csv", "utf-8", "encoding UTF-8"),
        ("ansi.csv", "gbk", "encoding GB18030"),
    ]:
        path = tmp_path / name
        path.write_bytes(rows.encode(encoding))
        summary = import_file(app, path, occurred_at=NOW, batch_id=name)
        assert expected == summary.notes[0].partition(" (")[0] and summary.accepted == 1
