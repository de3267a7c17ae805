"""``eventchain import``: XLSX (python-calamine) and CSV (UTF-8, UTF-8 with BOM, GBK/GB18030)
into import touchpoints, with every rejected row written to a rejects file.

A cell holding a formula is read as its formula (openpyxl, only when the sheet has
formulas: calamine reads cached values only), so ``=VLOOKUP(…)`` is rejected in XLSX as
it is in CSV, cached value or not. Merged cells and the CSV encoding (BOM or not) are
reported as notes.

Accepted + rejected = rows read, always. Each accepted row becomes an ``import``
touchpoint whose id derives from the row's cleaned content, so importing the same file
again records nothing new; rows go through identity resolution like any touchpoint.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import html
import io
import multiprocessing
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import openpyxl
from eventsourcing.persistence import IntegrityError
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.formula import ArrayFormula
from python_calamine import CalamineWorkbook

from application.event_chain import EventChain
from domain.cleaning import CleanRow, Problem, RejectedRow, clean_row, header_mapping
from domain.identities import identity_kind
from domain.imports import ImportBatch
from domain.touchpoints import (
    AcceptedTouchpoint,
    Contact,
    Identity,
    ImportPayload,
    ImportRow,
)

CORE_FIELDS: Final = ("name", "phone", "email", "company", "city", "industry", "uscc")
PARALLEL_FROM_ROWS: Final = 5_000
CLEAN_CHUNK: Final = 2_000
ENCODINGS: Final = ("utf-8-sig", "gb18030")
FORMULA_FORMATS: Final = frozenset({".xlsx", ".xlsm"})  # where openpyxl reads the formulas
_FORMULA_ELEMENT: Final = re.compile(rb"<(?:\w+:)?f[\s>/]")
_FORMULA: Final = re.compile(rb"<((?:\w+:)?)f(\s[^>]*?)?(?:/>|>(.*?)</\1f>)", re.DOTALL)
_CELL_REFERENCE: Final = re.compile(rb'\sr="([A-Z]{1,3})([0-9]+)"')
_SHARED_INDEX: Final = re.compile(rb'\bsi="([0-9]+)"')
_FIRST_SHEET_ID: Final = re.compile(rb'<(?:\w+:)?sheet\s[^>]*?\br:id="([^"]+)"')
_RELATIONSHIP: Final = re.compile(rb"<(?:\w+:)?Relationship\s[^>]*>")
_TARGET: Final = re.compile(rb'\bTarget="([^"]+)"')


@dataclass
class ImportSummary:
    batch_id: str
    rows_read: int = 0
    accepted: int = 0
    recorded: int = 0  # new touchpoints (a re-import records none)
    rejected: list[tuple[int, Problem]] = field(default_factory=list)  # (row number, problem)
    rejected_rows: int = 0
    abnormal_rows: int = 0
    already_imported: bool = False
    notes: list[str] = field(default_factory=list)  # merged cells, the encoding read, formulas found


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, no mappable column…)."""


def read_rows(path: Path, notes: list[str] | None = None) -> Iterator[tuple[int, list[str | None] | Problem]]:
    """Yields (row number, cells) for the header (row 1) and every data row; a row that
    cannot be decoded is yielded as a Problem instead (never silently replaced). What the
    reader noticed about the file (merged cells, encoding) is appended to ``notes``."""
    notes = [] if notes is None else notes
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm", ".xls", ".ods"}:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        for (top, left), (bottom, right) in sheet.merged_cell_ranges or []:
            notes.append(
                f"merged cells {_a1(top, left)}:{_a1(bottom, right)}: only {_a1(top, left)} holds a value, "
                "the other cells read as empty"
            )
        formulas = _formula_cells(path) if suffix in FORMULA_FORMATS else {}
        if formulas:
            count = sum(len(row) for row in formulas.values())
            notes.append(f"{count} formula cells, read as their formulas (a row with one is rejected)")
        for number, row in enumerate(sheet.to_python(skip_empty_area=False), start=1):
            cells = [None if cell == "" else _cell_text(cell) for cell in row]
            for column, formula in formulas.get(number, {}).items():
                cells += [None] * (column + 1 - len(cells))
                cells[column] = formula
            yield number, cells
        return
    yield from _read_csv(path.read_bytes(), notes)


def _formula_cells(path: Path) -> dict[int, dict[int, str]]:
    """Row number → column index → formula text, for the formula cells of the first sheet.

    Read straight from the sheet's XML: the ``<f>`` elements and the cell each belongs to (the
    nearest ``<c`` before it: a cell's formula comes before its value). openpyxl's full read of
    a 32,756-row sheet took 7 s; this scan takes a fraction of calamine's own read. A sheet
    whose cells carry no ``r`` reference (allowed, rare) is read with openpyxl as before."""
    with zipfile.ZipFile(path) as archive:
        name = _first_sheet(archive)
        xml = archive.read(name) if name else b""
    if not _FORMULA_ELEMENT.search(xml):
        return {}  # the common case: no formula, nothing more to read
    formulas: dict[int, dict[int, str]] = {}
    shared: dict[bytes, str] = {}  # a shared formula's text, given on its first cell only
    for match in _FORMULA.finditer(xml):
        start = max(xml.rfind(b"<c ", 0, match.start()), xml.rfind(b":c ", 0, match.start()))
        reference = _CELL_REFERENCE.search(xml, start, xml.find(b">", start)) if start >= 0 else None
        if reference is None:
            return _formula_cells_by_openpyxl(path)
        text = html.unescape(match.group(3).decode("utf-8", "replace")) if match.group(3) else ""
        index = _SHARED_INDEX.search(match.group(2) or b"")
        if index is not None:
            text = shared.setdefault(index.group(1), text) if text else shared.get(index.group(1), "")
        row, column = int(reference.group(2)), _column_index(reference.group(1))
        formulas.setdefault(row, {})[column] = f"={text}" if text else "=(formula)"
    return formulas


def _first_sheet(archive: zipfile.ZipFile) -> str | None:
    """The archive member of the workbook's first sheet (the one calamine reads)."""
    names = set(archive.namelist())
    try:
        workbook = archive.read("xl/workbook.xml")
        relations = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return "xl/worksheets/sheet1.xml" if "xl/worksheets/sheet1.xml" in names else None
    first = _FIRST_SHEET_ID.search(workbook)
    if first is not None:
        for relation in _RELATIONSHIP.finditer(relations):
            attributes = relation.group(0)
            if f'Id="{first.group(1).decode()}"'.encode() in attributes:
                target = _TARGET.search(attributes)
                if target is not None:
                    member = target.group(1).decode().lstrip("/")
                    member = member if member.startswith("xl/") else f"xl/{member}"
                    if member in names:
                        return member
    return "xl/worksheets/sheet1.xml" if "xl/worksheets/sheet1.xml" in names else None


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - 64
    return index - 1


def _formula_cells_by_openpyxl(path: Path) -> dict[int, dict[int, str]]:
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        formulas: dict[int, dict[int, str]] = {}
        rows = workbook.worksheets[0].iter_rows(min_row=1, min_col=1, values_only=True)
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row):
                text = value.text if isinstance(value, ArrayFormula) else value
                if isinstance(text, str) and text.startswith("="):
                    formulas.setdefault(number, {})[column] = text
        return formulas
    finally:
        workbook.close()


def _a1(row: int, column: int) -> str:
    return f"{get_column_letter(column + 1)}{row + 1}"


def _cell_text(cell: object) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # phone numbers typed as numbers in Excel
    return str(cell)


def _read_csv(data: bytes, notes: list[str]) -> Iterator[tuple[int, list[str | None] | Problem]]:
    lines = data.splitlines()
    encoding = _guess_encoding(lines)
    if encoding == "utf-8-sig":
        notes.append("encoding UTF-8 with BOM" if data.startswith(codecs.BOM_UTF8) else "encoding UTF-8")
    else:
        notes.append("encoding GB18030 (GBK, Excel's ANSI on Chinese Windows)")
    decoded: list[tuple[int, str]] = []
    problems: dict[int, Problem] = {}
    for number, line in enumerate(lines, start=1):
        try:
            decoded.append((number, line.decode(encoding)))
        except UnicodeDecodeError as error:
            problems[number] = Problem("(row)", f"bytes that are not {encoding} at offset {error.start}")
    parsed = csv.reader(io.StringIO("\n".join(text for _, text in decoded)))
    rows: dict[int, list[str | None] | Problem] = dict(problems)
    for (number, _), cells in zip(decoded, parsed, strict=False):
        rows[number] = [c if c != "" else None for c in cells]
    for number in sorted(rows):
        row = rows[number]
        if isinstance(row, list) and number != 1 and not any(row):
            continue  # a blank line is not a row
        yield number, row


def _guess_encoding(lines: list[bytes]) -> str:
    """UTF-8 (with or without BOM) when most non-ASCII lines decode as UTF-8, else GB18030."""
    non_ascii = [line for line in lines[:2000] if not line.isascii()]
    utf8 = 0
    for line in non_ascii:
        try:
            line.decode("utf-8-sig")
            utf8 += 1
        except UnicodeDecodeError:
            pass
    return "utf-8-sig" if not non_ascii or utf8 * 2 >= len(non_ascii) else "gb18030"


def import_file(
    app: EventChain,
    path: Path,
    *,
    overrides: Mapping[str, str] | None = None,
    occurred_at: datetime,
    batch_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Cleans, validates and records every row; returns what happened to each."""
    content_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    summary = ImportSummary(batch_id or f"import-{content_hash}")
    rows = read_rows(path, summary.notes)
    _, header = next(rows, (0, None))
    if not isinstance(header, list):
        raise ImportFileError(f"{path.name}: no readable header row")
    mapping = header_mapping([h or "" for h in header], overrides)
    if not any(f in mapping.values() for f in ("phone", "email", "uscc")):
        raise ImportFileError(f"{path.name}: no phone, email or USCC column among {header}; use --map")
    header_of = {target: header[index] or target for index, target in mapping.items()}
    filled = dict.fromkeys(CORE_FIELDS, 0)
    pending: list[AcceptedTouchpoint] = []
    for number, outcome in _cleaned(list(rows), mapping, header_of):
        summary.rows_read += 1
        if isinstance(outcome, RejectedRow):
            summary.rejected_rows += 1
            summary.rejected += [(number, problem) for problem in outcome.problems]
        else:
            summary.accepted += 1
            summary.abnormal_rows += outcome.abnormal
            for name in CORE_FIELDS:
                filled[name] += name in outcome.values
            pending.append(_touchpoint(outcome, summary.batch_id, path.name, number, occurred_at))
        if len(pending) >= app.max_batch:
            summary.recorded += app.record_batch(pending).recorded
            pending = []
        if progress and summary.rows_read % 1000 == 0:
            progress(1000)
    if pending:
        summary.recorded += app.record_batch(pending).recorded
    _complete(app, summary, path.name, filled, occurred_at)
    return summary


def _cleaned(
    rows: list[tuple[int, list[str | None] | Problem]],
    mapping: Mapping[int, str],
    header_of: Mapping[str, str],
) -> Iterator[tuple[int, CleanRow | RejectedRow]]:
    """Cleaning (phone parsing above all) costs as much as recording: on a big file it runs
    in a second process, chunk by chunk, while this one records the chunks already cleaned."""
    if len(rows) < PARALLEL_FROM_ROWS:
        for number, cells in rows:
            yield number, _outcome(cells, mapping, header_of)
        return
    chunks = [rows[start : start + CLEAN_CHUNK] for start in range(0, len(rows), CLEAN_CHUNK)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        cleaning = functools.partial(_clean_chunk, mapping=dict(mapping), header_of=dict(header_of))
        for cleaned in pool.map(cleaning, chunks):
            yield from cleaned


def _clean_chunk(
    chunk: list[tuple[int, list[str | None] | Problem]], mapping: dict[int, str], header_of: dict[str, str]
) -> list[tuple[int, CleanRow | RejectedRow]]:
    return [(number, _outcome(cells, mapping, header_of)) for number, cells in chunk]


def _outcome(
    cells: list[str | None] | Problem, mapping: Mapping[int, str], header_of: Mapping[str, str]
) -> CleanRow | RejectedRow:
    if isinstance(cells, Problem):
        return RejectedRow([cells])
    values = {target: cells[index] if index < len(cells) else None for index, target in mapping.items()}
    return clean_row(values, header_of)


def _touchpoint(
    row: CleanRow, batch_id: str, source: str, number: int, occurred_at: datetime
) -> AcceptedTouchpoint:
    values = row.values
    digest = hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest()[:24]
    identities = [
        Identity(kind=identity_kind(key), value=key.partition(":")[2])  # type: ignore[arg-type]
        for key in row.identity_keys
    ]
    contact = Contact(
        name=values.get("name"),
        company=values.get("company"),
        city=values.get("city"),
        industry=values.get("industry"),
    )
    touchpoint = ImportRow(
        touchpoint_id=f"import-{digest}",
        occurred_at=occurred_at,
        direction="inbound",
        identities=identities,
        contact=contact,
        payload=ImportPayload(
            batch_id=batch_id, row_number=number, source_file=source[:500], owner=values.get("owner")
        ),
    )
    # the identity keys were normalised by clean_row with the same functions accept() uses
    return AcceptedTouchpoint(touchpoint, row.identity_keys)


def _complete(
    app: EventChain, summary: ImportSummary, source: str, filled: Mapping[str, int], at: datetime
) -> None:
    null_rates = {name: (1 - filled[name] / summary.accepted) if summary.accepted else 0.0 for name in filled}
    batch = ImportBatch.complete(
        summary.batch_id,
        source,
        summary.rows_read,
        summary.accepted,
        summary.rejected_rows,
        null_rates,
        summary.abnormal_rows,
        at,
        rejected_by_column=_rejected_by_column(summary),
    )
    try:
        app.save(batch)
    except IntegrityError:
        summary.already_imported = True  # the same file (batch id) was imported before


def _rejected_by_column(summary: ImportSummary) -> dict[str, int]:
    """Rejected rows by the column of their first problem (each row counted once)."""
    first: dict[int, str] = {}
    for number, problem in summary.rejected:
        first.setdefault(number, problem.column or "$")
    counts: dict[str, int] = {}
    for column in first.values():
        counts[column] = counts.get(column, 0) + 1
    return counts


def write_rejects(path: Path, summary: ImportSummary) -> None:
    """One line per problem: row number, column, reason (UTF-8 with BOM so Excel opens it)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "column", "reason"])
        for number, problem in summary.rejected:
            writer.writerow([number, problem.column, _neutralise(problem.reason)])


def _neutralise(text: str) -> str:
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text
