"""The notifier: an outbox follower that tells people what the router and the SLA watcher
decided (SPEC §4b).

Every ``LeadAssigned`` (an assignment, or a handover when an agent leaves), every
``FirstResponseOverdue`` and every follow-up step come due (``StepCameDue``, to the rep) or
escalated (``StepEscalated``, to the manager) is published to JetStream, in log order, on
``notifications.<kind>.<agent>`` (kind ``lead_assigned``, ``handover``,
``first_response_overdue``, ``follow_up`` or ``follow_up_escalated``) with ``Nats-Msg-Id`` =
the event's id (``<customer id>:<version>``) and a JSON body (``notification_body``).
Exactly once across restarts: the position is the larger of the notifier's tracking record
in the store (written after a batch is acked) and the log position in the stream's last
message (``Eventchain-Notification-Id``), so a notifier killed between publishing and
tracking neither skips nor repeats; a batch retried inside the duplicate window is dropped by
JetStream's deduplication.

Consumers (the WeCom bridge, SMS, mail) subscribe to the same subjects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import nats
from eventsourcing.persistence import IntegrityError
from nats.js import api
from nats.js.errors import NotFoundError

from adapters.log_reader import LogTail
from application.event_chain import CustomerNotFoundError, EventChain
from domain.customer import Customer
from domain.rules import RulesDocument, RuleSet, rules_from_dict
from domain.sla import first_response_deadline, response_minutes

NOTIFIER_NAME: Final = "notifier"
NOTIFIED_EVENTS: Final = (
    RuleSet.RulesRevised,
    Customer.LeadAssigned,
    Customer.FirstResponseOverdue,
    Customer.StepCameDue,
    Customer.StepEscalated,
)
# Follow-up decisions told (seed 004): a step come due to the rep, an escalation to the manager.
FOLLOW_UP_NOTIFICATIONS: Final = {
    Customer.StepCameDue.__qualname__: "follow_up",
    Customer.StepEscalated.__qualname__: "follow_up_escalated",
}
CUSTOMER_HEADER: Final = "Eventchain-Customer-Id"
POSITION_HEADER: Final = "Eventchain-Notification-Id"
KIND_HEADER: Final = "Eventchain-Notification-Kind"
BATCH: Final = 256
CRASH_AFTER_PUBLISH_ENV: Final = "EVENTCHAIN_TEST_CRASH_AFTER_PUBLISH"
_SUBJECT_TOKEN: Final = re.compile(r"[^A-Za-z0-9_-]")
log = logging.getLogger("eventchain.notifier")


@dataclass(frozen=True, slots=True)
class NotificationNames:
    stream: str = "NOTIFICATIONS"
    prefix: str = "notifications"
    max_age: float = 7 * 24 * 3600.0  # seconds: the stream is a mailbox, not an archive
    duplicate_window: float = 600.0

    def subject(self, kind: str, agent_id: str) -> str:
        return f"{self.prefix}.{kind}.{subject_token(agent_id)}"


def subject_token(agent_id: str) -> str:
    """An agent id as one subject token (``.``, ``*``, ``>`` and spaces become ``_``)."""
    return _SUBJECT_TOKEN.sub("_", agent_id) or "_"


async def ensure_notification_stream(js: Any, names: NotificationNames) -> None:
    config = api.StreamConfig(
        name=names.stream,
        subjects=[f"{names.prefix}.>"],
        storage=api.StorageType.FILE,
        max_age=names.max_age,
        duplicate_window=min(names.duplicate_window, names.max_age),
    )
    try:
        await js.stream_info(names.stream)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)


@dataclass(frozen=True, slots=True)
class Notification:
    position: int  # the event's notification id in the log
    subject: str
    event_id: str
    customer_id: str
    kind: str
    body: dict[str, Any]

    def headers(self) -> dict[str, str]:
        return {
            "Nats-Msg-Id": self.event_id,
            CUSTOMER_HEADER: self.customer_id,
            POSITION_HEADER: str(self.position),
            KIND_HEADER: self.kind,
        }


@dataclass
class NotifierStats:
    published: int = 0
    duplicates: int = 0
    position: int = 0


@dataclass
class Notifier:
    """Publishes every decision after its position, in order; run one per store."""

    app: EventChain
    nats_url: str
    names: NotificationNames = field(default_factory=NotificationNames)
    link_base: str | None = None  # e.g. the workspace's URL: links become <base>/customers/<id>
    stats: NotifierStats = field(default_factory=NotifierStats)

    name = NOTIFIER_NAME

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        asyncio.run(self.run_async(stop, interval))

    async def run_async(self, stop: threading.Event, interval: float = 0.5) -> None:
        nc = await nats.connect(
            self.nats_url, name="eventchain-notifier", max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )
        try:
            js = nc.jetstream()
            await ensure_notification_stream(js, self.names)
            tail = await self._resume(js)
            backoff = interval
            while not stop.is_set():
                try:
                    await self.publish_new(js, tail, stop.is_set)
                    backoff = interval
                except Exception as error:  # NATS or the store down: resume from what is known
                    log.warning("notifier pass failed (retrying in %.1f s): %s", backoff, error)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    tail = await self._resume(js)
                    continue
                await asyncio.sleep(interval)
        finally:
            await nc.close()

    async def _resume(self, js: Any) -> _Tail:
        tracked = await asyncio.to_thread(self.app.tracked_position, NOTIFIER_NAME)
        published = await last_published_position(js, self.names)
        position = max(tracked or 0, published)
        self.stats.position = position
        return await asyncio.to_thread(self._tail_after, position)

    def _tail_after(self, position: int) -> _Tail:
        """Resumes in O(new events): the rule versions up to ``position`` (few), then the log after it."""
        revised = LogTail(self.app, [RuleSet.RulesRevised])
        rules = [rules_from_dict(f["document"]) for n, _, _, f in revised.read() if n <= position]
        log_tail = LogTail(self.app, NOTIFIED_EVENTS)
        log_tail.position = position
        return _Tail(log_tail, skip_through=position, rules=rules)

    async def publish_new(self, js: Any, tail: _Tail, should_stop: Callable[[], bool]) -> int:
        """Publishes what the log holds after the position; returns how many."""
        published = 0
        while not should_stop():
            batch = await asyncio.to_thread(tail.next_batch, self)
            if not batch:  # caught up: what is read is the log's end (metrics: lag 0)
                self.stats.position = max(self.stats.position, tail.log.position)
                return published
            acks = await asyncio.gather(
                *(
                    js.publish(
                        n.subject, json.dumps(n.body, ensure_ascii=False).encode(), headers=n.headers()
                    )
                    for n in batch
                )
            )
            self.stats.duplicates += sum(bool(ack.duplicate) for ack in acks)
            self.stats.published += len(batch)
            published += len(batch)
            position = batch[-1].position
            if os.environ.get(CRASH_AFTER_PUBLISH_ENV):  # test hook: die between publish and tracking
                os.kill(os.getpid(), signal.SIGKILL)
            try:
                await asyncio.to_thread(self.app.track, NOTIFIER_NAME, position)
            except IntegrityError:  # another notifier tracked this position: nothing is lost
                log.info("notifier position %d was tracked by another notifier", position)
            self.stats.position = position
        return published


@dataclass
class _Tail:
    """The log after the notifier's position, turned into notifications a batch at a time."""

    log: LogTail
    skip_through: int = 0
    rules: list[RulesDocument] = field(default_factory=list)
    _pending: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)
    _iterator: Any = None

    def next_batch(self, notifier: Notifier) -> list[Notification]:
        batch: list[Notification] = []
        if self._iterator is None:
            self._iterator = self.log.read()
        for position, kind, customer_id, fields in self._iterator:
            if kind == RuleSet.RulesRevised.__qualname__:
                self.rules.append(rules_from_dict(fields["document"]))
                continue
            if position <= self.skip_through:
                continue
            batch.append(
                build_notification(
                    notifier.app,
                    notifier.names,
                    notifier.link_base,
                    position,
                    kind,
                    customer_id,
                    fields,
                    self.rules,
                )
            )
            if len(batch) >= BATCH:
                return batch
        self._iterator = None  # caught up: the next call reads what is new since
        return batch


def build_notification(
    app: EventChain,
    names: NotificationNames,
    link_base: str | None,
    position: int,
    kind: str,
    customer_id: str,
    fields: dict[str, Any],
    rules: list[RulesDocument],
) -> Notification:
    try:
        customer: Customer | None = app.get_customer(UUID(customer_id), follow_merges=False)
    except CustomerNotFoundError:
        customer = None
    version = int(fields["rule_version"])
    document = rules[version - 1] if 1 <= version <= len(rules) else None
    lead = customer.first_inbound if customer is not None else None
    body: dict[str, Any] = {
        "kind": "",
        "event_id": f"{customer_id}:{fields['originator_version']}",
        "position": position,
        "customer_id": customer_id,
        "customer_name": customer.profile_value("name") if customer is not None else None,
        "company": customer.profile_value("company") if customer is not None else None,
        "channel": lead.channel if lead else None,
        "lead_at": lead.occurred_at.isoformat() if lead else None,
        "rule_version": version,
        "reference": f"eventchain customer {customer_id}",
        "link": f"{link_base.rstrip('/')}/customers/{customer_id}" if link_base else None,
    }
    if kind == Customer.LeadAssigned.__qualname__:
        handover = fields["matched_step"] == "handover"
        agent = fields["agent_id"]
        deadline = None
        if lead is not None and document is not None and not handover:
            sla = document.sla
            minutes = response_minutes(sla, customer is not None and "vip" in customer.tags)
            deadline = first_response_deadline(lead.occurred_at, minutes, document.working_time()).isoformat()
        body |= {
            "kind": "handover" if handover else "lead_assigned",
            "agent_id": agent,
            "deadline_at": deadline,
            "matched_step": fields["matched_step"],
            "reason": fields["reason"],
            "decided_at": _text(fields["decided_at"]),
            "actor": fields["actor"],
        }
    elif kind in FOLLOW_UP_NOTIFICATIONS:
        agent = fields["agent_id"] or "unassigned"
        body |= {
            "kind": FOLLOW_UP_NOTIFICATIONS[kind],
            "agent_id": agent,
            "plan": fields["plan"],
            "step": fields["step"],
            "action": fields["action"],  # the step's suggested action, or why this manager
            "due_at": _text(fields["due_at"] if kind != Customer.StepCameDue.__qualname__ else fields["at"]),
            "observed_at": _text(fields["observed_at"]),
        }
    else:
        agent = fields["escalated_to"]
        body |= {
            "kind": "first_response_overdue",
            "agent_id": agent,
            "deadline_at": _text(fields["deadline_at"]),
            "step": fields["step"],
            "role": fields.get("role"),
            "reason": fields.get("reason", ""),
            "observed_at": _text(fields.get("observed_at")),
        }
    return Notification(
        position,
        names.subject(body["kind"], agent),
        body["event_id"],
        customer_id,
        body["kind"],
        body,
    )


def _text(value: Any) -> str | None:
    """A datetime field (ISO text from adapters.log_reader, or a datetime) as ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


async def last_published_position(js: Any, names: NotificationNames) -> int:
    """The log position of the newest message in the stream (0 when none can be read)."""
    try:
        info = await js.stream_info(names.stream)
    except NotFoundError:
        return 0
    sequence = info.state.last_seq
    # Walk back over messages removed (erasure purges single messages) and messages of other
    # publishers to the newest notification of ours.
    for candidate in range(sequence, max(0, sequence - 1000), -1):
        try:
            message = await js.get_msg(names.stream, seq=candidate)
        except NotFoundError:
            continue
        position = (message.headers or {}).get(POSITION_HEADER)
        if position is not None:  # other publishers (read alerts) share the stream: skip theirs
            return int(position)
    return 0
