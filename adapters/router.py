"""The router and the SLA watcher: followers of the log that append decisions.

The router folds the whole log (``domain.routing.RoutingFold``) and records the decisions
for notifications after its tracking position, together with that position, in one
transaction per batch: killed at any point, it resumes exactly once, and because the fold
is deterministic, replaying history reproduces every recorded decision.

The SLA watcher works in event time: "now" is the latest ``occurred_at`` in the log (the
event-time watermark), never the wall clock, so what it escalates is reproducible. Each
escalation step is appended once (``Customer.escalated_steps``); a response before the
deadline means none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

import msgspec
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from adapters.application import EventChain
from adapters.store import select_raw_notifications
from domain.customer import Customer
from domain.routing import ROUTER, Decision, RoutingFold
from domain.rules import RulesDocument, rules_from_dict
from domain.sla import due_steps

ROUTER_NAME: Final = "router"
SLA_NAME: Final = "sla"
FOLDED: Final = frozenset(
    {
        "RuleSet.RulesRevised",
        "Roster.AgentJoined",
        "Roster.AgentUpdated",
        "Roster.AgentLeft",
        "Customer.LeadAssigned",
        "Customer.TouchpointRecorded",
    }
)
DECISION_BATCH: Final = 200
log = logging.getLogger("eventchain.router")


def log_events(
    app: EventChain, start: int = 1, kinds: frozenset[str] = FOLDED
) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    """(notification id, kind, originator id, fields) for the events of ``kinds`` (by default
    the ones the routing fold reads); the others are skipped without being decoded."""
    while True:
        page = select_raw_notifications(app.recorder, start, 10_000)
        if not page:
            return
        for notification in page:
            kind = notification.topic.rpartition(":")[2]
            if kind in kinds:
                yield (
                    notification.id,
                    kind,
                    str(UUID(str(notification.originator_id))),
                    _fields(app, notification),
                )
        start = page[-1].id + 1


def _fields(app: EventChain, notification: Any) -> dict[str, Any]:
    if app.keys is None:  # plain JSON: decode it directly (fast)
        fields = msgspec.json.decode(notification.state)
        if "occurred_at" in fields:
            fields["occurred_at"] = fields["occurred_at"]["_data_"]
        return fields  # type: ignore[no-any-return]
    stored = StoredEvent(
        originator_id=UUID(str(notification.originator_id)),
        originator_version=notification.originator_version,
        topic=notification.topic,
        state=notification.state,
    )
    fields = dict(vars(app.mapper.to_domain_event(stored)))  # personal fields need the data key
    for name, value in fields.items():
        if isinstance(value, datetime):
            fields[name] = value.isoformat()
    return fields


def route_pending(app: EventChain) -> int:
    """Routes every lead recorded after the router's position; returns how many."""
    position = app.recorder.max_tracking_id(ROUTER_NAME) or 0
    fold = RoutingFold()
    pending: list[tuple[int, Decision]] = []
    routed = 0
    for notification_id, kind, originator, fields in log_events(app):
        for decision in fold.feed(kind, originator, fields):
            if notification_id > position:
                pending.append((notification_id, decision))
        if len(pending) >= DECISION_BATCH:
            routed += _record(app, pending)
            pending = []
    if pending:
        routed += _record(app, pending)
    return routed


def _record(app: EventChain, decisions: list[tuple[int, Decision]]) -> int:
    now = app.clock()
    customers: dict[UUID, Customer] = {}
    for _, decision in decisions:
        customer_id = UUID(decision.customer_id)
        customer = customers.get(customer_id) or app.get_customer(customer_id, follow_merges=False)
        customers[customer_id] = customer
        customer.assign(
            decision.agent_id,
            decision.decided_at,
            decision.rule_version,
            decision.matched_step,
            decision.reason,
            decision.priority,
            ROUTER,
            now,
        )
        if decision.tags:
            customer.change_tags(list(decision.tags), [], decision.decided_at, "keywords in the lead", now)
    try:
        app.save_tracked(Tracking(ROUTER_NAME, decisions[-1][0]), *customers.values())
    except IntegrityError:
        return 0  # another router instance recorded these decisions first
    return len(decisions)


@dataclass(frozen=True, slots=True)
class Escalation:
    customer_id: str
    step: int
    escalated_to: str
    deadline_at: datetime


def check_sla(app: EventChain, now: datetime | None = None) -> list[Escalation]:
    """Appends FirstResponseOverdue for every due, not yet recorded step (event time; by
    default "now" is the log's watermark, read in the same pass)."""
    fold = RoutingFold()
    assigned: dict[str, int] = {}
    for _, kind, originator, fields in log_events(app):
        fold.feed(kind, originator, fields)
        if kind == "Customer.LeadAssigned" and fields.get("actor") == ROUTER:
            assigned[originator] = int(fields["rule_version"])
    now = now or fold.watermark
    if now is None:
        return []
    escalations: list[Escalation] = []
    changed: list[Customer] = []
    for customer_id, version in sorted(assigned.items()):
        if not 1 <= version <= len(fold.rule_versions):
            continue
        rules = rules_from_dict(fold.rule_versions[version - 1])
        customer = app.get_customer(UUID(customer_id), follow_merges=False)
        appended = False
        for step, target, deadline in _due_steps(customer, rules, now, fold.owners.get(customer_id), fold):
            if customer.escalate(deadline, step, target, version, app.clock()):
                escalations.append(Escalation(customer_id, step, target, deadline))
                appended = True
        if appended:
            changed.append(customer)
    if changed:
        app.save(*changed)
    return escalations


def _due_steps(
    customer: Customer, rules: RulesDocument, now: datetime, owner: str | None, fold: RoutingFold
) -> list[tuple[int, str, datetime]]:
    lead, response = customer.first_inbound, customer.first_response
    if lead is None or customer.merged_into is not None:
        return []
    minutes = (
        rules.sla.vip_first_response_minutes if "vip" in customer.tags else rules.sla.first_response_minutes
    )
    due = due_steps(
        lead.occurred_at,
        response.occurred_at if response else None,
        minutes,
        rules.sla.escalation_chain,
        now,
    )
    return [(d.step, _resolve(d.role, owner, fold), d.deadline_at) for d in due]


def _resolve(role: str, owner: str | None, fold: RoutingFold) -> str:
    agents = fold.roster.agents
    person = None
    if role == "manager" and owner in agents:
        person = agents[owner].manager
    elif role == "director" and owner in agents:
        manager = agents[owner].manager
        person = agents[manager].manager if manager in agents else None
    return f"{role}:{person}" if person else role


def apply_silence(app: EventChain, now: datetime | None = None) -> tuple[int, int]:
    """Tags customers silent after ``[silence] days`` without any touchpoint (event time) and
    lifts the tag from those touched again; returns (tagged, lifted)."""
    documents: list[dict[str, Any]] = []
    latest: datetime | None = None
    for _, kind, _, fields in log_events(app):  # one pass: the rules in force and the watermark
        if kind == "RuleSet.RulesRevised":
            documents.append(fields["document"])
        elif kind == "Customer.TouchpointRecorded":
            at = datetime.fromisoformat(fields["occurred_at"])
            latest = at if latest is None or at > latest else latest
    now = now or latest
    if now is None or not documents:
        return 0, 0
    days = rules_from_dict(documents[-1]).silence.days
    version = len(documents)
    tagged = lifted = 0
    changed = []
    for customer_id in app.customer_ids():
        customer = app.get_customer(customer_id, follow_merges=False)
        if customer.merged_into is not None or not customer.touchpoints:
            continue
        last = customer.chain[-1].occurred_at
        silent = now - last >= timedelta(days=days)
        reason = f"no touchpoint for {days} days (rules v{version})" if silent else "touched again"
        if customer.change_tags(
            ["silent"] if silent else [], [] if silent else ["silent"], now, reason, app.clock()
        ):
            changed.append(customer)
            tagged, lifted = tagged + silent, lifted + (not silent)
    if changed:
        app.save(*changed)
    return tagged, lifted


def run_sla_watcher(settings: Any, stop: threading.Event, interval: float = 5.0) -> None:
    """`serve`'s follower: route new leads, then escalate overdue ones, every ``interval``."""
    app = EventChain.from_url(settings.store_url, kek=settings.kek)
    while not stop.is_set():
        try:
            routed = route_pending(app)
            escalated = check_sla(app)
            tagged, lifted = apply_silence(app)
            if routed or escalated or tagged or lifted:
                log.info(
                    "routed %d leads, %d escalations, %d tagged silent, %d no longer silent",
                    routed,
                    len(escalated),
                    tagged,
                    lifted,
                )
        except Exception as error:  # the loop survives outages; decisions are idempotent
            log.warning("router/SLA pass failed: %s", error)
        stop.wait(interval)
