"""``eventchain report --html OUT``: the dashboard as one self-contained HTML file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import duckdb

from adapters.derived_files import record_derived
from eventchain.cli_support import audit_read, open_app, operator_option, settings_of
from eventchain.console import progress
from eventchain.read_paths import EVENT_TIME, as_role, snapshot_connection, team_of
from eventchain.report.page import render_page
from projections.queries import Window, load_report_data
from projections.visibility import EXEC, Role


@click.command("report")
@click.option(
    "--html",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the HTML file.",
)
@as_role
@click.option("--from", "start", type=EVENT_TIME, help="Only leads from this event time on (UTC+8 if naive).")
@click.option("--to", "end", type=EVENT_TIME, help="Only leads before this event time (UTC+8 if naive).")
@operator_option
@click.pass_context
def report_command(
    ctx: click.Context, out: Path, role: Role, start: datetime | None, end: datetime | None, actor: str
) -> None:
    """Write the dashboard: funnel, CTRE by channel, response heatmap, SLA breaches,
    silent customers, journey break points and data health.

    Reads the analyst snapshot (read-only) and writes one HTML file that opens without
    network access (plotly.js is inlined once). A sales rep's report counts only the
    customers they own.

    \b
    Example:
      eventchain report --html report.html
      eventchain report --html wang.html --as sales:a-wang --from 2026-03-01 --to 2026-04-01
    """
    if start and end and start >= end:
        raise click.BadParameter("--from must be before --to", param_hint="'--from'")
    if not out.parent.is_dir():
        raise click.BadParameter(f"directory {out.parent} does not exist", param_hint="'--html'")
    settings = settings_of(ctx)
    snapshot = settings.snapshot_path
    app = open_app(ctx)  # refuses a wrong or missing key-encryption key
    team = team_of(role)
    with progress("report", total=2) as advance, snapshot_connection(snapshot) as connection:
        try:
            data = load_report_data(connection, role, Window(start, end), team)
        except duckdb.Error as error:
            raise click.ClickException(
                f"{snapshot} is missing a read model the report needs: {str(error).splitlines()[0]}"
            ) from None
        advance(1)
        html = render_page(data, datetime.now(UTC), snapshot.name)
        advance(1)
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror}") from None
    record_derived(settings.data_dir, "report", out, app.clock())  # erasure finds it again
    audit_read(ctx, app, role=role, action="report", subject=str(out), rows=data.visible_customers)
    scope = "every customer" if role == EXEC else f"{data.visible_customers} customers visible to {role}"
    click.echo(f"wrote {out} ({scope}, {sum(c.leads for c in data.ctre.channels)} leads)")


def register(group: click.Group) -> None:
    group.add_command(report_command)
