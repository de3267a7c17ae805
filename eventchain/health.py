"""What the service is doing, read from the store, the snapshot, NATS and the running
``serve`` processes: the figures ``eventchain status`` prints, /metrics exports and
/readyz judges. The commands, metrics and catch-up reporting all read them from here."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import duckdb
from nats.js.errors import NotFoundError

from adapters.nats import IngestConfig, NatsNames, connect
from application.event_chain import EventChain
from application.rules import last_rule_version, rules_in_force
from domain.rules import calendar_warning
from eventchain.config import Settings
from eventchain.nats_support import running_local_url
from eventchain.output import instant
from eventchain.service_lock import (
    LEASED_PARTS,
    ServeProcess,
    running_parts,
    serve_processes,
)
from followers.deferred_purge import pending_purges
from projections.schema import UNOWNED_GRACE_S


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
        published_at = datetime.fromisoformat(published[0])
        result["snapshot_age_s"] = round((datetime.now(UTC) - published_at).total_seconds(), 1)
        result.update(_unowned_leads(settings, published_at))
    return result


def _unowned_leads(settings: Settings, published_at: datetime) -> dict[str, Any]:
    """Leads nobody owned UNOWNED_GRACE_S after the store recorded them, as of the snapshot
    (``ec.unowned_leads``), and the age of the oldest: the router's safety net made visible."""
    cutoff = published_at - timedelta(seconds=UNOWNED_GRACE_S)
    try:
        with duckdb.connect(str(settings.snapshot_path), read_only=True) as connection:
            row = connection.execute(
                "SELECT count(*), min(recorded_at) FROM ec.unowned_leads WHERE recorded_at <= ?", [cutoff]
            ).fetchone()
    except duckdb.Error:  # a snapshot from before the view: the next publish has it
        return {}
    count, oldest = (int(row[0]), row[1]) if row else (0, None)
    age = None if oldest is None else round((datetime.now(UTC) - oldest).total_seconds(), 1)
    return {"unowned_leads": count, "oldest_unowned_lead_age_s": age}


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
        {
            "pid": p.pid,
            "parts": p.parts,
            "active": [part for part in p.parts if part not in LEASED_PARTS or part in p.active],
            "metrics_addr": p.metrics_addr,
            "started_at": _instant(p.started_at),
        }
        for p in processes
    ]
    status["parts"] = {part: "running" if up else "not running" for part, up in running.items()}
    # Which process runs each leased part (the others announce it but stand by).
    status["active"] = {part: p.pid for p in processes for part in p.active if running.get(part)}
    scraped, problems = _scrape(processes)
    for part, key in FOLLOWERS:
        position = scraped.get(part)
        if position is None:
            position = status.pop(f"{key}_position", None) if part in ("route", "notify") else None
        status[f"{key}_position"] = None if position is None else int(position)
        status[f"{key}_lag"] = None if position is None else max(0, store - int(position))
    if status.get("unowned_leads"):
        problems.append(
            f"{status['unowned_leads']} lead(s) have no owner {UNOWNED_GRACE_S:g} s after they were recorded"
            f" (oldest {status['oldest_unowned_lead_age_s']} s): is the router running?"
        )
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
