"""How read commands print rows: one table on a terminal, full values that survive a pipe.

``--format`` picks ``table`` (a terminal's default: a table that wraps, never truncates),
``tsv`` (the default when stdout is not a terminal: a header line, then tab-separated full
values), ``json`` (one JSON array; ``--json`` is short for it) or ``csv`` (formula-safe, as
``export``). Instants are in ``EVENTCHAIN_TIMEZONE`` (default Asia/Shanghai, China Standard
Time): ISO 8601 with the offset in tsv, csv and json; to the minute in a terminal's table, whose
caption names the zone (a table is for reading, and 25-character instants fold in 80 columns).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Final, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

FORMATS: Final = ("table", "tsv", "json", "csv")
TIMEZONE_ENV: Final = "EVENTCHAIN_TIMEZONE"
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

F = TypeVar("F", bound=Callable[..., Any])


def display_zone() -> ZoneInfo:
    name = os.environ.get(TIMEZONE_ENV, "").strip() or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.UsageError(
            f"{TIMEZONE_ENV}={name!r} is not an IANA time zone such as Asia/Shanghai"
        ) from None


def instant(moment: datetime) -> str:
    """``2026-03-02T09:15:00+08:00``: the one way instants are shown."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(display_zone()).isoformat(timespec="seconds")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 touchpoint``, ``2 touchpoints``, ``0 customers``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def output_options(function: F) -> F:
    """``--format table|tsv|json|csv`` and ``--json`` (= ``--format json``)."""
    function = click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON array (same as --format json)."
    )(function)
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        help="table (on a terminal), tsv (when piped: full values, tab-separated), json or csv.",
    )(function)


def chosen_format(output_format: str | None, as_json: bool) -> str:
    if as_json:
        if output_format not in (None, "json"):
            raise click.UsageError(f"--json and --format {output_format} contradict each other")
        return "json"
    if output_format:
        return output_format
    return "table" if sys.stdout.isatty() else "tsv"


def cell(value: Any) -> str:
    """A value as text for tsv, csv and tables: instants in the one format, lists joined by |."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, (list, tuple)):
        return "|".join(cell(item) for item in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def minute(moment: datetime) -> str:
    """``2026-03-02 09:15``: an instant for a person to read, in the display zone."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(display_zone()).strftime("%Y-%m-%d %H:%M")


def zone_caption() -> str:
    """``times: Asia/Shanghai (UTC+08:00)``: what a table of ``minute`` instants says once."""
    zone = display_zone()
    offset = datetime.now(zone).strftime("%z")
    return f"times: {zone.key} (UTC{offset[:3]}:{offset[3:]})"


def _table_cell(value: Any) -> str:
    """A cell for a person reading a terminal: instants to the minute in the display zone."""
    return minute(value) if isinstance(value, datetime) else cell(value)


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, (date, UUID)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def emit_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], output_format: str, title: str | None = None
) -> None:
    """Prints ``rows`` (dicts holding at least ``columns``) in ``output_format``."""
    if output_format == "json":
        click.echo(
            json.dumps([{c: json_value(row.get(c)) for c in columns} for row in rows], ensure_ascii=False)
        )
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_formula_safe(cell(row.get(c))) for c in columns])
    elif output_format == "tsv":
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(_tsv_safe(cell(row.get(c))) for c in columns))
    else:
        _table(rows, columns, title)


def neutralise(value: Any) -> str:
    """A cell Excel will show as text: formula-looking cells get a leading apostrophe (lists
    are joined with ``|``, None is empty). Every CSV export goes through it."""
    if value is None:
        return ""
    text = "|".join(map(str, value)) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _formula_safe(text: str) -> str:
    return neutralise(text)


def _tsv_safe(text: str) -> str:
    # one record per line, one field per tab: the separators inside a value become spaces
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None) -> None:
    """A table when it fits the terminal's width; otherwise one block per row, a field a line
    (psql's expanded display), so no header or value is folded into pieces."""
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    console = Console(no_color=bool(os.environ.get("NO_COLOR")))
    headers = [column.replace("_", " ") for column in columns]
    cells = [[_table_cell(row.get(c)) or "—" for c in columns] for row in rows]
    caption = None
    if any(isinstance(row.get(c), datetime) for row in rows for c in columns):
        caption = zone_caption()
    widths = [max([cell_len(h), *(cell_len(line[i]) for line in cells)]) for i, h in enumerate(headers)]
    if not rows:
        console.print(f"{title}: no rows" if title else "no rows", markup=False, highlight=False)
        return
    if sum(widths) + 3 * len(widths) + 1 <= console.width:
        table = Table(title=title, caption=caption, show_lines=False)
        for header in headers:
            table.add_column(header, overflow="fold")
        for line in cells:
            table.add_row(*line)
        console.print(table)
        return
    label = max(cell_len(h) for h in headers)
    if title:
        console.print(title, style="italic", markup=False, highlight=False)
    for number, line in enumerate(cells, 1):
        console.print(
            f"─[ {number} ]" + "─" * max(0, min(console.width, 40) - len(str(number)) - 5),
            markup=False,
            highlight=False,
        )
        for header, value in zip(headers, line, strict=True):
            console.print(
                f"{header}{' ' * (label - cell_len(header))} │ {value}", markup=False, highlight=False
            )
    if caption:
        console.print(caption, style="italic", markup=False, highlight=False)
