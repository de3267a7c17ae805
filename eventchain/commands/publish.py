"""``eventchain publish FILE.jsonl``: what upstream channels do, for integrators and tests."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from adapters.jsonl import LineRejection
from adapters.nats_ingest import publish_envelopes
from domain.touchpoints import AcceptedTouchpoint, RejectedTouchpointError, decode_touchpoint
from eventchain.cli_support import settings_of
from eventchain.console import progress
from eventchain.nats_support import nats_url

EXIT_SOME_REJECTED = 1


@click.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def publish_command(ctx: click.Context, file: Path) -> None:
    """Publish touchpoints from a JSON Lines file to NATS JetStream.

    Each valid line goes to `touchpoints.<channel>` with header Nats-Msg-Id =
    touchpoint_id (JetStream drops a repeat inside its duplicate window; the store drops
    it after). Invalid lines are reported with line number and field path and NOT
    published; exit code 1 says some were rejected.

    \b
    Example:
      eventchain publish examples/touchpoints.jsonl
      EVENTCHAIN_NATS_URL=nats://nats.internal:4222 eventchain publish feed.jsonl
    """
    envelopes: list[tuple[AcceptedTouchpoint, bytes]] = []
    rejections: list[LineRejection] = []
    with file.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            raw = line.strip()
            if not raw:
                continue
            try:
                envelopes.append((decode_touchpoint(raw), raw))
            except RejectedTouchpointError as error:
                rejections.append(LineRejection(number, error.path, error.reason))
    for rejection in rejections:
        click.echo(f"rejected {rejection}", err=True)
    with nats_url(settings_of(ctx)) as url, progress("publish", total=len(envelopes)) as advance:
        result = asyncio.run(publish_envelopes(url, envelopes, progress=advance))
    click.echo(
        f"published {result.published} touchpoints ({result.duplicates} already in the stream), "
        f"{len(rejections)} rejected"
    )
    if rejections:
        sys.exit(EXIT_SOME_REJECTED)


def register(group: click.Group) -> None:
    group.add_command(publish_command)
