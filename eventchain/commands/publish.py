"""``eventchain publish FILE.jsonl``: what upstream channels do, for integrators and tests."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from adapters.jsonl import LineRejection, read_touchpoints
from adapters.limits import limits_from_env
from adapters.nats import NatsUnreachableError, probe, publish_envelopes
from domain.touchpoints import AcceptedTouchpoint
from eventchain.cli_support import quiet_connection_logs, settings_of
from eventchain.console import progress
from eventchain.nats_support import nats_url

EXIT_SOME_REJECTED = 1
DEFAULT_TIMEOUT_S = 60.0


@click.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--timeout",
    "timeout_s",
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    envvar="EVENTCHAIN_PUBLISH_TIMEOUT_S",
    type=click.FloatRange(min=0.1),
    help="Give up when NATS has not acknowledged every touchpoint after this many seconds.",
)
@click.pass_context
def publish_command(ctx: click.Context, file: Path, timeout_s: float) -> None:
    """Publish touchpoints from a JSON Lines file to NATS JetStream.

    Each valid line goes to `touchpoints.<channel>` with header Nats-Msg-Id =
    touchpoint_id (JetStream drops a repeat inside its duplicate window; the store drops
    it after). Invalid lines are reported with line number and field path and NOT
    published; exit code 1 says some were rejected. An unreachable NATS ends the command
    after --timeout with exit code 1; publishing again is safe (the ids deduplicate).

    \b
    Example:
      eventchain publish examples/touchpoints.jsonl
      EVENTCHAIN_NATS_URL=nats://nats.internal:4222 eventchain publish feed.jsonl --timeout 10
    """
    envelopes: list[tuple[AcceptedTouchpoint, bytes]] = []
    rejections: list[LineRejection] = []
    for raw, item in read_touchpoints(file, received_at=datetime.now(UTC), limits=limits_from_env()):
        if isinstance(item, LineRejection):
            rejections.append(item)
        else:
            envelopes.append((item, raw))
    for rejection in rejections:
        click.echo(f"rejected {rejection}", err=True)
    quiet_connection_logs()
    with nats_url(settings_of(ctx)) as url, progress("publish", total=len(envelopes)) as advance:
        try:
            asyncio.run(probe(url))  # fail fast, naming the cause, when nothing answers at the URL
            result = asyncio.run(
                asyncio.wait_for(publish_envelopes(url, envelopes, progress=advance), timeout_s)
            )
        except NatsUnreachableError as error:
            raise click.ClickException(f"{error}; nothing was published") from None
        except TimeoutError:
            raise click.ClickException(
                f"NATS at {url} did not acknowledge every touchpoint within {timeout_s:g} s "
                "(not reachable?); publishing again is safe"
            ) from None
    click.echo(
        f"published {result.published} touchpoints ({result.duplicates} already in the stream), "
        f"{len(rejections)} rejected"
    )
    if rejections:
        sys.exit(EXIT_SOME_REJECTED)


def register(group: click.Group) -> None:
    group.add_command(publish_command)
