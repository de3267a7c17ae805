"""``eventchain status``: positions, lags, DLQ count, snapshot age — table or JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from typing import Any, Final

import click
import duckdb
from nats.js.errors import NotFoundError

from adapters.nats import IngestConfig, NatsNames, connect
from application.event_chain import EventChain
from application.rules import last_rule_version, rules_in_force
from domain.rules import calendar_warning
from eventchain.cli_support import open_app, quiet_connection_logs, settings_of
from eventchain.config import Settings
from eventchain.nats_support import running_local_url
from eventchain.output import chosen_format, emit_rows, instant, output_options
from eventchain.service_lock import LOCKED_PARTS, ServeProcess, running_parts, serve_processes
from followers.deferred_purge import pending_purges


def collect_status(settings: Settings, app: EventChain, today: date | None = None) -> dict[str, Any]:
    """Every figure `status` shows; None where a part is not reachable or not set up yet."""
    store_position = app.max_notification_id()
    status: dict[str, Any] = {"store_position": store_position}
    status.update(_snapshot_status(settings, store_position))
    status.update(_nats_status(settings))
    status["last_rule_version"] = last_rule_version(app)
    for follower in ("router", "notifier"):  # positions they track in the store
        tracked = app.tracked_position(follower)
        status[f"{follower}_position"] = tracked
    # an erasure's stream messages still waiting to be recorded, then purged (serve's ingest does it)
    status["erasure_purges_pending"] = sum(len(purge.pending) for purge in pending_purges(app))
    # deadlines count Chinese holidays as working days past the end of the calendar in force
    document = rules_in_force(app)
    day = today or datetime.now(UTC).date()
    status["calendar_warning"] = None if document is None else calendar_warning(document, day)
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
        try:
            consumer = await js.consumer_info(names.stream, names.durable)
            dlq = await js.stream_info(names.dlq_stream)
        except NotFoundError:  # NATS answers; no ingest nor publish has created the streams yet
            return {"ingest_stream": "not created yet", **await _notification_status(js)}
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
    from followers.notifier import NotificationNames
    from followers.wecom import WECOM_DURABLE

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


FOLLOWERS: Final = (("route", "router"), ("sla", "sla"), ("silence", "silence"), ("notify", "notifier"))


def service_status(
    settings: Settings, app: EventChain, expected: tuple[str, ...], today: date | None = None
) -> dict[str, Any]:
    """``collect_status`` plus which parts of `serve` run, every follower's position and lag
    (from a running serve's /metrics, else what the store tracks), and what is unhealthy."""
    status = collect_status(settings, app, today)
    store = int(status["store_position"] or 0)
    running = running_parts(settings)
    processes = serve_processes(settings)
    status["serve"] = [
        {"pid": p.pid, "parts": p.parts, "metrics_addr": p.metrics_addr, "started_at": _instant(p.started_at)}
        for p in processes
    ]
    status["parts"] = {part: "running" if up else "not running" for part, up in running.items()}
    scraped, problems = _scrape(processes)
    for part, key in FOLLOWERS:
        position = scraped.get(part)
        if position is None:
            position = status.pop(f"{key}_position", None) if part in ("route", "notify") else None
        status[f"{key}_position"] = None if position is None else int(position)
        status[f"{key}_lag"] = None if position is None else max(0, store - int(position))
    if status["calendar_warning"]:
        problems.append(status["calendar_warning"])
    if status.get("nats_error"):
        problems.append(f"NATS at {status['nats_url']} not reachable: {status['nats_error']}")
    stopped = [part for part in expected if not running.get(part, True)]
    if stopped and not any(running.values()):
        problems.append("serve is not running: no part of it runs on this store (start it: eventchain serve)")
    elif stopped:
        problems += [f"{part} is not running (start it: eventchain serve --only {part})" for part in stopped]
    status["healthy"] = not problems
    status["problems"] = problems
    return status


def _instant(text: str) -> str:
    try:
        return instant(datetime.fromisoformat(text))
    except ValueError:
        return text


def _scrape(processes: list[ServeProcess]) -> tuple[dict[str, float], list[str]]:
    """Follower positions from the running serves' /metrics, and the ones not ready."""
    from prometheus_client.parser import text_string_to_metric_families

    positions: dict[str, float] = {}
    problems: list[str] = []
    for process in processes:
        if not process.metrics_addr:
            continue
        base = f"http://{process.metrics_addr}"
        try:
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                text = response.read().decode()
            with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as error:
            problems.append(f"serve (pid {process.pid}) is not ready: {error.read().decode().strip()}")
            continue
        except OSError as error:
            problems.append(f"serve (pid {process.pid}) does not answer on {base}: {error}")
            continue
        for family in text_string_to_metric_families(text):
            if family.name == "eventchain_follower_position":
                for sample in family.samples:
                    positions[sample.labels["follower"]] = sample.value
    return positions, problems


@click.command("status")
@click.option(
    "--only",
    "expected",
    type=click.Choice(LOCKED_PARTS),
    multiple=True,
    help="Judge only these parts of serve (repeatable), e.g. on an ingest-only host.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0,
    help="Wait up to this many seconds for a healthy state (after starting serve in the background).",
)
@output_options
@click.pass_context
def status_command(
    ctx: click.Context, expected: tuple[str, ...], wait_s: float, output_format: str | None, as_json: bool
) -> None:
    """Show which parts of serve run, the store's position, the projector's and every
    follower's (route, sla, silence, notify) position and lag, the NATS consumer's
    backlog, dead letters, snapshot age, the last rule version and the erasures' stream
    purges still pending — the figures of serve's /metrics. Exit code 1, with one line per
    problem on stderr, when a part of serve is not running, a running serve is not ready,
    NATS does not answer, or the holiday calendar in force ends within 60 days.

    \b
    Example:
      eventchain status
      eventchain status --json | jq .projector_lag
      eventchain status --only ingest      # an ingest-only host
      eventchain serve & eventchain status --wait 60
    """
    fmt = chosen_format(output_format, as_json)
    quiet_connection_logs()
    settings = settings_of(ctx)
    app = open_app(ctx, must_exist=True)
    deadline = time.monotonic() + wait_s
    status = service_status(settings, app, expected or LOCKED_PARTS)
    while status["problems"] and time.monotonic() < deadline:
        time.sleep(0.5)  # polling the parts' locks and the running serve's /readyz
        status = service_status(settings, app, expected or LOCKED_PARTS)
    if fmt == "json":
        click.echo(json.dumps(status, ensure_ascii=False))
    else:
        rows = [{"what": key.replace("_", " "), "value": _shown(value)} for key, value in status.items()]
        emit_rows(rows, ("what", "value"), fmt, title="eventchain status")
    for problem in status["problems"]:
        click.echo(f"unhealthy: {problem}", err=True)
    if status["problems"]:
        sys.exit(1)


def _shown(value: Any) -> Any:
    if isinstance(value, dict) and "pid" in value:  # a running serve
        parts = ",".join(value["parts"])
        metrics = value["metrics_addr"] or "off"
        return f"pid {value['pid']} ({parts}) since {value['started_at']}, metrics {metrics}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_shown(item) for item in value) or "none"
    return value


def register(group: click.Group) -> None:
    group.add_command(status_command)
