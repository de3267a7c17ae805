"""``eventchain export``: customer_360 as CSV, through a role, safe to open in Excel."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from adapters.derived_files import record_derived
from eventchain.cli_support import audit_read, open_app, operator_option, settings_of
from eventchain.output import neutralise
from eventchain.read_paths import as_role, snapshot_connection, team_of
from projections.visibility import VISIBLE_TABLE, Role, load_visible_customers


@click.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="CSV file (default: stdout).")
@as_role
@operator_option
@click.pass_context
def export_command(ctx: click.Context, out: Path | None, role: Role, actor: str) -> None:
    """Export customer_360 as CSV (UTF-8 with BOM), neutralising formula injection.

    \b
    Example:
      eventchain export --out customers.csv
      eventchain export --as sales:a-wang > mine.csv
    """
    settings = settings_of(ctx)
    app = open_app(ctx)  # refuses a wrong or missing key-encryption key
    with snapshot_connection(settings.snapshot_path) as connection:
        load_visible_customers(connection, role, team_of(role))
        cursor = connection.execute(
            f"SELECT * FROM customer_360 WHERE CAST(customer_id AS VARCHAR) IN (SELECT customer_id FROM "
            f"{VISIBLE_TABLE}) ORDER BY first_touch_at, customer_id"
        )
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    handle = out.open("w", encoding="utf-8-sig", newline="") if out else sys.stdout
    try:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
    finally:
        if out:
            handle.close()
    # listed so an erasure can find it again; stdout is listed as a copy it cannot vouch for
    record_derived(settings.data_dir, "export", out, app.clock())
    audit_read(ctx, app, role=role, action="export", subject=str(out or "stdout"), rows=len(rows))
    if out:
        click.echo(f"exported {len(rows)} customers to {out}", err=True)


def register(group: click.Group) -> None:
    group.add_command(export_command)
