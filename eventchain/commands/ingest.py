"""``eventchain ingest FILE.jsonl``: record touchpoints straight into the store.

Like the NATS ingest, every store transaction also records an ``IntakeTally`` saying what
became of each line (recorded, duplicate, held, or rejected: counted as dead-lettered, with the
kind of reason), so the intake ledger accounts for a file as for a stream. The file's "stream"
is ``file:<name>:<first 16 hex of its SHA-256>`` and a line's sequence its ordinal among the
non-blank lines: ingesting the same file again counts nothing twice.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import click
import msgspec

from adapters.jsonl import LineRejection, read_touchpoints
from adapters.limits import limits_from_env
from application.event_chain import EventChain
from application.rules import blocked_identities, identity_rules
from domain.intake import IntakeEntry, IntakeTally, entry_of_placement, entry_of_reject, reject_kind
from domain.resolution import Placement
from domain.touchpoints import CHANNELS, AcceptedTouchpoint, RejectedTouchpointError
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
    stream = file_stream(file)
    batch: list[AcceptedTouchpoint] = []
    sequences: list[int] = []
    rejected: list[IntakeEntry] = []  # tallied with the next transaction

    def flush() -> None:
        if not batch and not rejected:
            return

        def tally(placements: Sequence[Placement]) -> IntakeTally:
            entries = [
                entry_of_placement(sequence, accepted, placement)
                for sequence, accepted, placement in zip(sequences, batch, placements, strict=True)
            ]
            return IntakeTally.count(uuid4(), stream, app.clock(), [*rejected, *entries])

        result = app.record_batch(batch, tally)
        summary.recorded += result.recorded
        summary.duplicates += result.duplicates
        batch.clear()
        sequences.clear()
        rejected.clear()

    limits = limits_from_env(blocked=blocked_identities(app))
    app.identity_rules = identity_rules(app)
    received_at = app.clock()
    with progress(f"ingest {file.name}", total=None) as advance:
        for sequence, (raw, item) in enumerate(
            read_touchpoints(file, received_at=received_at, limits=limits), 1
        ):
            if isinstance(item, LineRejection):
                summary.rejections.append(item)
                kind = reject_kind(RejectedTouchpointError(item.path, item.reason))
                rejected.append(
                    entry_of_reject(sequence, raw, _channel_of(raw), received_at, kind, item.path)
                )
                if len(rejected) >= batch_size:  # a file of nothing but bad lines: tallied as it goes
                    flush()
                continue
            batch.append(item)
            sequences.append(sequence)
            if len(batch) >= min(batch_size, app.max_batch):
                flush()
                advance(batch_size)
        flush()
    return summary


def file_stream(file: Path) -> str:
    """The ledger's name for a file's lines: its name and a digest of its bytes, so the same
    file ingested again is the same stream. A pipe or a device (``/dev/stdin``, ``/dev/zero``)
    cannot be read twice or may never end: each reading of it is a stream of its own."""
    if not file.is_file():
        return f"file:{file.name[:100]}:{uuid4().hex[:16]}"
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"file:{file.name[:100]}:{digest.hexdigest()[:16]}"


class _Channel(msgspec.Struct):
    channel: object = None


def _channel_of(raw: bytes) -> str:
    """A rejected line's channel as far as its bytes tell (``unknown`` otherwise)."""
    try:
        channel = msgspec.json.decode(raw, type=_Channel).channel
    except (msgspec.DecodeError, RecursionError):
        return "unknown"
    return channel if isinstance(channel, str) and channel in CHANNELS else "unknown"


def register(group: click.Group) -> None:
    group.add_command(ingest_command)
