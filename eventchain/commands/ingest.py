"""``eventchain ingest FILE.jsonl``: record touchpoints straight into the store."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adapters.jsonl import LineRejection, read_touchpoints
from adapters.limits import limits_from_env
from application.event_chain import EventChain
from application.rules import blocked_identities, identity_rules
from domain.touchpoints import AcceptedTouchpoint
from eventchain.cli_support import open_app
from eventchain.console import progress

EXIT_SOME_REJECTED = 1


@click.command("ingest")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Touchpoints per store transaction.",
)
@click.pass_context
def ingest_command(ctx: click.Context, file: Path, batch_size: int) -> None:
    """Record touchpoints from a JSON Lines file straight into the store (no NATS).

    Bad lines are reported with their line number and field path; good lines are
    still recorded. Exit code 1 means some lines were rejected. occurred_at must lie
    within the limits around now (see --max-future-skew-s, --max-age-days).

    \b
    Example:
      eventchain ingest examples/touchpoints.jsonl
    """
    app = open_app(ctx, max_batch=batch_size)
    summary = ingest_file(app, file, batch_size)
    for rejection in summary.rejections:
        click.echo(f"rejected {rejection}", err=True)
    click.echo(
        f"{file.name}: {summary.recorded} recorded, {summary.duplicates} duplicates, "
        f"{len(summary.rejections)} rejected"
    )
    if summary.rejections:
        sys.exit(EXIT_SOME_REJECTED)


class IngestSummary:
    def __init__(self) -> None:
        self.recorded = 0
        self.duplicates = 0
        self.rejections: list[LineRejection] = []


def ingest_file(app: EventChain, file: Path, batch_size: int) -> IngestSummary:
    summary = IngestSummary()
    batch: list[AcceptedTouchpoint] = []

    def flush() -> None:
        for result in app.record(batch):
            summary.recorded += result.recorded
            summary.duplicates += result.duplicates
        batch.clear()

    limits = limits_from_env(blocked=blocked_identities(app))
    app.identity_rules = identity_rules(app)
    with progress(f"ingest {file.name}", total=None) as advance:
        for _, item in read_touchpoints(file, received_at=app.clock(), limits=limits):
            if isinstance(item, LineRejection):
                summary.rejections.append(item)
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                flush()
                advance(batch_size)
        flush()
    return summary


def register(group: click.Group) -> None:
    group.add_command(ingest_command)
