"""What the demo shows from DuckDB: project, publish the snapshot, print funnel and CTRE,
write the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from application.event_chain import EventChain
from eventchain.config import Settings
from eventchain.report.page import render_page
from projections.queries import Window, load_report_data, open_views
from projections.service import project_pending
from projections.visibility import EXEC


def project_and_show(console: Console, app: EventChain, settings: Settings) -> Path:
    """Projects the log into the views, prints the funnel and CTRE from the analyst
    snapshot, writes ``report.html`` next to it and returns its path."""
    processed = project_pending(app, settings)
    console.print(
        f"[bold]projected[/] {processed} events into {settings.views_path}; "
        f"analyst snapshot: {settings.snapshot_path}"
    )
    with open_views(settings.snapshot_path) as connection:  # in China Standard Time, as `report`
        print_funnel(console, connection)
        print_ctre(console, connection)
        data = load_report_data(connection, EXEC, Window())
    report = settings.data_dir / "report.html"
    report.write_text(render_page(data, datetime.now(UTC), settings.snapshot_path.name), encoding="utf-8")
    console.print(f"[bold]report[/] {report}")
    return report


def print_funnel(console: Console, connection: duckdb.DuckDBPyConnection) -> None:
    table = Table(title="Funnel (DuckDB view funnel): stage × lead channel")
    for column in ("stage", "channel", "customers", "followed up ≤ 7 d", "rate"):
        table.add_column(column, justify="right")
    rows = connection.execute(
        "SELECT stage, channel, customers, followed_up_7d, follow_up_rate_7d FROM funnel "
        "ORDER BY stage, channel"
    ).fetchall()
    for stage, channel, customers, followed, rate in rows:
        table.add_row(stage or "—", channel, str(customers), str(followed), f"{rate:.0%}")
    console.print(table)


def print_ctre(console: Console, connection: duckdb.DuckDBPyConnection) -> None:
    table = Table(title="CTRE (DuckDB view ctre): unanswered leads count up to the latest event time")
    for column in ("channel", "leads", "responded", "mean response (h)", "lead share"):
        table.add_column(column, justify="right")
    rows = connection.execute(
        "SELECT channel, leads, responded, mean_response_hours, lead_share, ctre_hours, balance_index "
        "FROM ctre ORDER BY channel = '*', channel"
    ).fetchall()
    for channel, leads, responded, mean, share, ctre, balance in rows:
        if channel == "*":
            console.print(table)
            console.print(
                f"CTRE = Σ mean × share = [bold]{ctre:.2f} h[/] · balance index {balance:.2f} "
                "(0 = every channel answered equally fast)"
            )
            return
        table.add_row(channel, str(leads), str(responded), f"{mean:.1f}", f"{share:.0%}")
    console.print(table)
