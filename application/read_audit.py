"""Recording and listing reads of personal data (``domain.read_audit``)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import msgspec
from eventsourcing.utils import get_topic

from adapters.sessions import SessionTable
from application.event_chain import EventChain
from application.rules import rules_in_force
from application.sessions import find_account, hold_sign_ins
from domain.read_audit import (
    ALERT_ACTIONS,
    ReadAlertPolicy,
    ReadAudit,
    alerts_on,
    read_alerts,
    still_in_window,
)
from domain.rules import ReadAlerts

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
        entry = _entry(event)
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
    ``EVENTCHAIN_READ_ALERT_HOURS`` (e.g. ``8-20``; ``off``), ``EVENTCHAIN_READ_ALERT_ACTION``
    (``notify``, or ``freeze``: end the actor's sessions and hold their sign-ins)."""
    default = ReadAlertPolicy()
    try:
        rows = int(environ.get("EVENTCHAIN_READ_ALERT_ROWS", default.max_rows))
        minutes = int(
            environ.get("EVENTCHAIN_READ_ALERT_WINDOW_MINUTES", default.window.total_seconds() // 60)
        )
        hours_text = environ.get("EVENTCHAIN_READ_ALERT_HOURS", "8-20").strip().lower()
        action = environ.get("EVENTCHAIN_READ_ALERT_ACTION", default.action).strip().lower()
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
    if action not in ALERT_ACTIONS:
        raise ValueError("EVENTCHAIN_READ_ALERT_ACTION: expected notify or freeze")
    return ReadAlertPolicy(rows, timedelta(minutes=minutes), hours, default.utc_offset, action)


def policy_from_rules(alerts: ReadAlerts) -> ReadAlertPolicy:
    """The policy a rules document's ``[read_alerts]`` sets (validated when it was applied)."""
    return ReadAlertPolicy(
        alerts.rows,
        timedelta(minutes=alerts.window_minutes),
        alerts.working_hours(),
        ReadAlertPolicy().utc_offset,
        alerts.action,
    )


def alert_policy_in_force(app: EventChain, environ: Mapping[str, str]) -> ReadAlertPolicy:
    """The rules' ``[read_alerts]`` when the rules in force have one (a change is then a
    recorded revision, with who and why), else the environment's ``alert_policy``."""
    document = rules_in_force(app)
    if document is not None and document.read_alerts is not None:
        return policy_from_rules(document.read_alerts)
    return alert_policy(environ)


ALERT_CHECKPOINT = "read-alerts"
POLICY_REFRESH_S = 5.0  # how soon a running check follows a rules revision's [read_alerts]


class ReadAlertCheck:
    """Checks the reads recorded since its last check, each once across every process: the
    checkpoint (a log position and each actor's reads still within the window) is in the
    store (``adapters.sessions``) and moves by compare-and-set, so the check's cost follows
    the new reads, not the size of the audit trail."""

    def __init__(
        self,
        app: EventChain,
        table: SessionTable,
        policy: ReadAlertPolicy,
        source: Callable[[], ReadAlertPolicy] | None = None,
        refresh_s: float = POLICY_REFRESH_S,
    ) -> None:
        """``source``: where the policy is read again (at most every ``refresh_s``), so a
        running process follows the rules in force; without it ``policy`` stays."""
        self.app = app
        self.table = table
        self._policy = policy
        self._source = source
        self._refresh_s = refresh_s
        self._read_at = time.monotonic()
        self._lock = threading.Lock()

    @property
    def policy(self) -> ReadAlertPolicy:
        if self._source is not None and time.monotonic() - self._read_at >= self._refresh_s:
            self._policy, self._read_at = self._source(), time.monotonic()
        return self._policy

    def check(self) -> list[tuple[ReadEntry, list[str]]]:
        """The alerts the reads since the last check raise. With every alert off it still
        moves past them and keeps the window, so switching alerts on later judges the reads
        from then on (and the last window), never a month of reads that were allowed."""
        with self._lock:
            for _ in range(CHECK_ATTEMPTS):
                position, text = self.table.checkpoint(ALERT_CHECKPOINT)
                state = msgspec.json.decode(text, type=CheckState) if text else CheckState()
                alerts: list[tuple[ReadEntry, list[str]]] = []
                last = position
                for notification_id, entry in self._reads_after(position):
                    reasons = self._reasons(state, entry)
                    earlier = state.reads.setdefault(entry.actor, [])
                    earlier.append((entry.read_at, entry.rows))
                    state.reads[entry.actor] = still_in_window(self.policy, earlier, entry.read_at)
                    if reasons:
                        state.alerted[entry.actor] = entry.read_at
                        alerts.append((entry, reasons))
                    last = notification_id
                if last == position:
                    return []
                state.prune(self.policy.window)
                if self.table.advance(ALERT_CHECKPOINT, position, last, msgspec.json.encode(state).decode()):
                    return alerts
            return []  # others keep checking these reads

    def _reasons(self, state: CheckState, entry: ReadEntry) -> list[str]:
        """Why this read alarms. ``notify`` tells once per actor per window (a rep over the
        line on every page would be a storm); ``freeze`` acts on every alert, counting only
        reads after the director's latest release (it forgives the reads before it)."""
        if not alerts_on(self.policy):
            return []
        earlier = state.reads.get(entry.actor, [])
        reasons = read_alerts(self.policy, entry.read_at, entry.rows, earlier)
        if not reasons:
            return []
        if self.policy.action != "freeze":
            told = state.alerted.get(entry.actor)
            return [] if told is not None and told > entry.read_at - self.policy.window else reasons
        released = self._released_at(entry.actor)
        if released is None:
            return reasons
        forgiven = [(at, rows) for at, rows in earlier if at > released]
        return read_alerts(self.policy, entry.read_at, entry.rows, forgiven)

    def _released_at(self, actor: str) -> datetime | None:
        account = find_account(self.app, actor)
        return None if account is None else account.released_at

    def _reads_after(self, position: int) -> Iterator[tuple[int, ReadEntry]]:
        start = position + 1
        while True:
            page = self.app.recorder.select_notifications(start, 1000, topics=[READ_TOPIC])
            if not page:
                return
            for notification in page:
                yield notification.id, _entry(self.app.mapper.to_domain_event(notification))
            start = page[-1].id + 1


CHECK_ATTEMPTS = 5


def _entry(event: object) -> ReadEntry:
    assert isinstance(event, ReadAudit.Created)
    return ReadEntry(
        event.originator_id,
        event.actor,
        event.role,
        event.action,
        event.subject,
        event.rows,
        event.via,
        event.read_at,
    )


class CheckState(msgspec.Struct):
    """What the check carries from one run to the next: each actor's reads still within the
    window, and when each actor was last alerted."""

    reads: dict[str, list[tuple[datetime, int]]] = {}
    alerted: dict[str, datetime] = {}

    def prune(self, window: timedelta) -> None:
        newest = max((at for reads in self.reads.values() for at, _ in reads), default=None)
        if newest is None:
            return
        self.reads = {
            actor: reads for actor, reads in self.reads.items() if reads and reads[-1][0] > newest - window
        }
        self.alerted = {actor: at for actor, at in self.alerted.items() if at > newest - window}


def act_on_alert(
    app: EventChain, table: SessionTable, policy: ReadAlertPolicy, entry: ReadEntry, reasons: list[str]
) -> bool:
    """What the rules say to do beside publishing: ``freeze`` ends the actor's sessions and
    holds their sign-ins until a director releases them. True when the actor was frozen."""
    if policy.action != "freeze" or find_account(app, entry.actor) is None:
        return False
    hold_sign_ins(app, table, entry.actor, "read alert: " + "; ".join(reasons), "read alert")
    return True


def alert_subject(actor: str) -> str:
    """``notifications.read_alert.<actor>``, the actor made a single subject token."""
    return "notifications.read_alert." + (re.sub(r"[^\w-]", "_", actor) or "_")


def alert_body(entry: ReadEntry, reasons: list[str], frozen: bool = False) -> bytes:
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
            "frozen": frozen,
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


def publish_alert(url: str, entry: ReadEntry, reasons: list[str], frozen: bool = False) -> None:
    asyncio.run(_publish(url, alert_subject(entry.actor), alert_body(entry, reasons, frozen)))
