"""``eventchain status``: positions, lags, DLQ count, snapshot age — table or JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

import click
import duckdb
from rich.console import Console
from rich.table import Table

from adapters.application import EventChain
from adapters.nats_ingest import IngestConfig, NatsNames, connect
from adapters.rules import last_rule_version
from eventchain.cli_support import open_app, quiet_connection_logs, settings_of
from eventchain.config import Settings
from eventchain.nats_support import running_local_url


def collect_status(settings: Settings, app: EventChain) -> dict[str, Any]:
    """Every figure `status` shows; None where a part is not reachable or not set up yet."""
    store_position = app.max_notification_id()
    status: dict[str, Any] = {"store_position": store_position}
    status.update(_snapshot_status(settings, store_position))
    status.update(_nats_status(settings))
    status["last_rule_version"] = last_rule_version(app)
    for follower in ("router", "notifier"):  # positions they track in the store
        tracked = app.tracked_position(follower)
        status[f"{follower}_position"] = tracked
    return status


def _snapshot_status(settings: Settings, store_position: int) -> dict[str, Any]:
    result: dict[str, Any] = {"projector_position": None, "projector_lag": None, "snapshot_age_s": None}
    if not settings.snapshot_path.exists():
        return result
    try:
        with duckdb.connect(str(settings.snapshot_path), read_only=True) as connection:
            position = connection.execute("SELECT max(notification_id) FROM ec.tracking").fetchone()
            published = connection.execute(
                "SELECT value FROM ec.settings WHERE key = 'snapshot_published_at'"
            ).fetchone()
    except duckdb.Error:
        return result
    projected = int(position[0] or 0) if position else 0
    result["projector_position"] = projected
    result["projector_lag"] = max(0, store_position - projected)
    if published:
        age = datetime.now(UTC) - datetime.fromisoformat(published[0])
        result["snapshot_age_s"] = round(age.total_seconds(), 1)
    return result


def _nats_status(settings: Settings) -> dict[str, Any]:
    url = settings.nats_url or running_local_url(settings.data_dir / "nats")
    result: dict[str, Any] = {
        "nats_url": url,
        "consumer_pending": None,
        "consumer_ack_pending": None,
        "consumer_lag": None,
        "dlq_messages": None,
    }
    if url is None:
        return result
    try:
        result.update(asyncio.run(_read_nats(url, IngestConfig().names)))
    except Exception as error:  # not reachable: say so, show the rest, exit non-zero
        result["nats_error"] = str(error) or type(error).__name__
    return result


async def _read_nats(url: str, names: NatsNames) -> dict[str, Any]:
    nc = await asyncio.wait_for(connect(url, name="eventchain-status", forever=False), timeout=3)
    try:
        js = nc.jetstream()
        consumer = await js.consumer_info(names.stream, names.durable)
        dlq = await js.stream_info(names.dlq_stream)
        result: dict[str, Any] = {
            "consumer_pending": consumer.num_pending,
            "consumer_ack_pending": consumer.num_ack_pending,
            "consumer_lag": (consumer.num_pending or 0) + (consumer.num_ack_pending or 0),
            "dlq_messages": dlq.state.messages,
        }
        result.update(await _notification_status(js))
        return result
    finally:
        await nc.close()


async def _notification_status(js: Any) -> dict[str, Any]:
    """The notification stream and the WeCom bridge's consumer (None where absent)."""
    from nats.js.errors import NotFoundError

    from adapters.notifier import NotificationNames
    from adapters.wecom import WECOM_DURABLE

    names = NotificationNames()
    result: dict[str, Any] = {"notifications": None, "wecom_pending": None, "wecom_redelivered": None}
    try:
        stream = await js.stream_info(names.stream)
        result["notifications"] = stream.state.messages
        bridge = await js.consumer_info(names.stream, WECOM_DURABLE)
    except NotFoundError:
        return result
    result["wecom_pending"] = (bridge.num_pending or 0) + (bridge.num_ack_pending or 0)
    result["wecom_redelivered"] = bridge.num_redelivered
    return result


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.pass_context
def status_command(ctx: click.Context, as_json: bool) -> None:
    """Show store position, projector position and lag, NATS consumer lag, DLQ count,
    snapshot age and the last rule version. Exit code 1 when NATS is configured but
    not reachable; a store that cannot be opened is one line on stderr and exit 1.

    \b
    Example:
      eventchain status
      eventchain status --json | jq .projector_lag
    """
    quiet_connection_logs()
    status = collect_status(settings_of(ctx), open_app(ctx, must_exist=True))
    if as_json:
        click.echo(json.dumps(status))
    else:
        _print_table(status)
    if status.get("nats_error"):
        click.echo(f"error: NATS at {status['nats_url']} not reachable: {status['nats_error']}", err=True)
        sys.exit(1)


def _print_table(status: dict[str, Any]) -> None:
    table = Table(title="eventchain status")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in status.items():
        table.add_row(key.replace("_", " "), "—" if value is None else str(value))
    Console().print(table)


def register(group: click.Group) -> None:
    group.add_command(status_command)
