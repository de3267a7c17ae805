"""The SLA watcher: a follower that escalates unanswered leads on the service's clock.

It folds what the SLA needs (``domain.sla.SlaBook``) once at start and then only what is new;
each tick it asks the book what is due at the clock's "now" and records every step as a
``FirstResponseOverdue`` event carrying that instant, so a lone lead escalates on time with
nothing else arriving, and replays read the recorded decision instead of deciding again.
Each step is recorded once (the book and the aggregate both refuse a repeat); a restart or a
second watcher adds none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from adapters.log_reader import LogTail
from application.event_chain import EventChain
from domain.customer import Customer
from domain.roster import Roster
from domain.rules import RuleSet
from domain.sla import LeadClock, SlaBook
from domain.vocabulary import Escalation
from followers.loop import MOVES_TOUCHPOINTS, fold_new

SLA_NAME: Final = "sla"
# The events the book folds; merges and unmerges move touchpoints between customers, and the
# affected customers are reloaded from their aggregates instead (MOVES_TOUCHPOINTS).
WATCHED_EVENTS: Final = (
    RuleSet.RulesRevised,
    Roster.AgentJoined,
    Roster.AgentUpdated,
    Roster.AgentLeft,
    Customer.TouchpointRecorded,
    Customer.LeadAssigned,
    Customer.FirstResponseOverdue,
    Customer.TagsChanged,
    Customer.MergedInto,
    Customer.Restored,
    *MOVES_TOUCHPOINTS,
)


class SlaWatcher:
    name = SLA_NAME

    def __init__(self, app: EventChain, clock: Callable[[], datetime] | None = None) -> None:
        self.app = app
        self.clock = clock or app.clock  # the service's clock: what "now" is for deadlines
        self.reset()

    def reset(self) -> None:
        self.book = SlaBook()
        self.tail = LogTail(self.app, WATCHED_EVENTS)  # no personal field is needed

    @property
    def position(self) -> int:
        return self.tail.position

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        return len(self.escalate(should_stop))

    def escalate(self, should_stop: Callable[[], bool] = lambda: False) -> list[Escalation]:
        """Folds what is new, then records every step due now; returns them."""
        for customer_id in fold_new(self.tail, self.book.feed, should_stop):
            self.book.replace(
                customer_id, lead_clock(self.app.get_customer(UUID(customer_id), follow_merges=False))
            )
        if should_stop():
            return []
        due = self.book.due(self.clock())
        if not due:
            return []
        try:
            self._record(due)
        except BaseException:
            self.book.reschedule(sorted({e.customer_id for e in due}))
            raise
        return due

    def _record(self, due: list[Escalation]) -> None:
        customers: dict[str, Customer] = {}
        recorded_at = self.app.clock()
        for escalation in due:
            customer = customers.get(escalation.customer_id)
            if customer is None:
                customer = self.app.get_customer(UUID(escalation.customer_id), follow_merges=False)
                customers[escalation.customer_id] = customer
            customer.escalate(escalation, recorded_at)
        try:
            self.app.save(*customers.values())
        except IntegrityError:
            # Another watcher appended to one of these customers first; their events come
            # back on the next tick and settle the steps it recorded.
            self.book.reschedule(sorted(customers))
            return
        for customer_id, customer in customers.items():
            self.book.mark_escalated(customer_id, sorted(customer.escalated_steps))


def lead_clock(customer: Customer) -> LeadClock:
    """What the book knows of a customer, from its aggregate."""
    lead = customer.first_inbound
    return LeadClock(
        lead=None if lead is None else lead.order_key,
        outbound={f.order_key for f in customer.touchpoints.values() if f.direction == "outbound"},
        vip="vip" in customer.tags,
        owner=customer.owner_agent_id,
        escalated=set(customer.escalated_steps),
        closed=customer.merged_into is not None,
    )


def check_sla(app: EventChain, now: datetime) -> list[Escalation]:
    """One full pass at ``now`` (fold the whole log, record what is due): one-shot commands."""
    return SlaWatcher(app, clock=lambda: now).escalate()
