"""``eventchain intake``: the intake ledger (seed 002) — every message that reached the ingest,
per channel and day, and what became of it; exit 1 when some row does not add up."""

from __future__ import annotations

from datetime import date
from typing import Any, Final

import click

from eventchain.cli_support import settings_of
from eventchain.output import chosen_format, emit_rows, output_options, plural
from eventchain.read_paths import snapshot_connection

# On a terminal the main columns (tsv, csv and json carry every column of the macro).
TABLE_COLUMNS: Final = (
    "channel",
    "day",
    "received",
    "recorded",
    "duplicates",
    "dead_lettered",
    "held",
    "redriven",
    "import_rejected",
    "adds_up",
    "sent",
    "gap",
)


@click.command("intake")
@click.option("--campaign", help="Only messages of this utm campaign.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only days from this one on (YYYY-MM-DD, China time).",
)
@output_options
@click.pass_context
def intake_command(
    ctx: click.Context, campaign: str | None, since: Any, output_format: str | None, as_json: bool
) -> None:
    """Account for every lead the channels sent: received = recorded + duplicates +
    dead-lettered + held, per channel and day (China time), from the intake_daily view.

    Exit status 1 when some row does not add up (a message received and not accounted for).

    \b
    Example:
      eventchain intake --campaign spring2026          # "marketing says 1,200, sales says 830"
      eventchain intake --since 2026-03-01 --json
    """
    fmt = chosen_format(output_format, as_json)
    from_day = since.date() if since else date(1, 1, 1)
    with snapshot_connection(settings_of(ctx).snapshot_path) as connection:
        cursor = connection.execute(
            "SELECT * FROM ec.intake_by_channel_of(?, DATE '9999-12-31', ?) ORDER BY day, channel",
            [from_day, campaign],
        )
        columns = tuple(name for name, *_ in cursor.description)
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    scope = f"campaign {campaign}" if campaign else "all campaigns"
    title = f"intake, {scope}: {plural(len(rows), 'row')}"
    emit_rows(rows, columns if fmt != "table" else TABLE_COLUMNS, fmt, title=title)
    broken = [row for row in rows if not row["adds_up"]]
    if broken:
        where = ", ".join(
            f"{row['channel']} {row['day']} ({row['unaccounted']} unaccounted)" for row in broken
        )
        click.echo(f"does not add up: {where}", err=True)
        ctx.exit(1)


def register(group: click.Group) -> None:
    group.add_command(intake_command)
