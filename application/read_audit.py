"""Recording and listing reads of personal data (``domain.read_audit``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import msgspec
from eventsourcing.utils import get_topic

from application.event_chain import EventChain
from domain.read_audit import ReadAlertPolicy, ReadAudit, read_alerts

READ_TOPIC = get_topic(ReadAudit.Created)


@dataclass(frozen=True, slots=True)
class ReadEntry:
    read_id: UUID
    actor: str
    role: str
    action: str
    subject: str
    rows: int
    via: str
    read_at: datetime


def record_read(
    app: EventChain, *, actor: str, role: str, action: str, subject: str, rows: int, via: str = "cli"
) -> UUID:
    """Appends one read to the audit trail (its own aggregate: no contention between readers)."""
    read_id = uuid4()
    app.save(
        ReadAudit.record(
            read_id,
            actor=actor,
            role=role,
            action=action,
            subject=subject,
            rows=rows,
            via=via,
            read_at=app.clock(),
        )
    )
    return read_id


def list_reads(
    app: EventChain, since: datetime | None = None, actor: str | None = None
) -> Iterator[ReadEntry]:
    """Every recorded read in log order, optionally from ``since`` on and by one ``actor``."""
    for event in events_of_topic(app, READ_TOPIC):
        assert isinstance(event, ReadAudit.Created)
        entry = ReadEntry(
            event.originator_id,
            event.actor,
            event.role,
            event.action,
            event.subject,
            event.rows,
            event.via,
            event.read_at,
        )
        if (since is None or entry.read_at >= since) and (actor is None or entry.actor == actor):
            yield entry


def events_of_topic(app: EventChain, topic: str) -> Iterator[object]:
    """The stored events of one topic (an audit trail's), in log order, page by page."""
    start = 1
    while True:
        page = app.recorder.select_notifications(start, 1000, topics=[topic])
        if not page:
            return
        for notification in page:
            yield app.mapper.to_domain_event(notification)
        start = page[-1].id + 1


def alert_policy(environ: Mapping[str, str]) -> ReadAlertPolicy:
    """The alert thresholds from the environment (docs/privacy.md):
    ``EVENTCHAIN_READ_ALERT_ROWS`` (0 = off), ``EVENTCHAIN_READ_ALERT_WINDOW_MINUTES``,
    ``EVENTCHAIN_READ_ALERT_HOURS`` (e.g. ``8-20``; ``off``)."""
    default = ReadAlertPolicy()
    try:
        rows = int(environ.get("EVENTCHAIN_READ_ALERT_ROWS", default.max_rows))
        minutes = int(
            environ.get("EVENTCHAIN_READ_ALERT_WINDOW_MINUTES", default.window.total_seconds() // 60)
        )
        hours_text = environ.get("EVENTCHAIN_READ_ALERT_HOURS", "8-20").strip().lower()
        hours = None if hours_text == "off" else tuple(int(h) for h in hours_text.split("-"))
    except ValueError:
        raise ValueError(
            "EVENTCHAIN_READ_ALERT_*: expected ROWS and MINUTES as numbers, HOURS as 8-20 or off"
        ) from None
    if (
        rows < 0
        or minutes <= 0
        or (hours is not None and (len(hours) != 2 or not 0 <= hours[0] < hours[1] <= 24))
    ):
        raise ValueError("EVENTCHAIN_READ_ALERT_*: rows ≥ 0, minutes > 0, hours START-END within 0-24")
    return ReadAlertPolicy(rows, timedelta(minutes=minutes), hours, default.utc_offset)


def alerts_for(app: EventChain, read_id: UUID, policy: ReadAlertPolicy) -> tuple[ReadEntry, list[str]]:
    """The recorded read and why it is alarming, from its actor's reads within the window."""
    entries = list(list_reads(app, actor=None))
    entry = next(e for e in entries if e.read_id == read_id)
    earlier = [
        (e.read_at, e.rows)
        for e in entries
        if e.actor == entry.actor and e.read_id != read_id and e.read_at > entry.read_at - policy.window
    ]
    return entry, read_alerts(policy, entry.read_at, entry.rows, earlier)


def alert_subject(actor: str) -> str:
    """``notifications.read_alert.<actor>``, the actor made a single subject token."""
    return "notifications.read_alert." + (re.sub(r"[^\w-]", "_", actor) or "_")


def alert_body(entry: ReadEntry, reasons: list[str]) -> bytes:
    """The alert's JSON: who read what and why it alarms; no personal data. ``agent_id``,
    ``reason`` and ``reference`` are the fields the notification forwarders show."""
    return msgspec.json.encode(
        {
            "kind": "read_alert",
            "agent_id": entry.actor,
            "reason": "; ".join(reasons),
            "reference": f"eventchain audit reads --by {entry.actor}",
            "actor": entry.actor,
            "role": entry.role,
            "action": entry.action,
            "rows": entry.rows,
            "read_at": entry.read_at.isoformat(),
            "reasons": reasons,
        }
    )


async def _publish(url: str, subject: str, body: bytes) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        await nc.publish(subject, body)
        await nc.flush(timeout=2)
    finally:
        await nc.close()


def publish_alert(url: str, entry: ReadEntry, reasons: list[str]) -> None:
    asyncio.run(_publish(url, alert_subject(entry.actor), alert_body(entry, reasons)))
