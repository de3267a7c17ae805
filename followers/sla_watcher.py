"""The SLA watcher: a follower that escalates unanswered leads on the service's clock.

It folds what the SLA needs (``domain.sla.SlaBook``) once at start and then only what is new;
each tick it asks the book what is due at the clock's "now" and records every step as a
``FirstResponseOverdue`` event carrying that instant, so a lone lead escalates on time with
nothing else arriving, and replays read the recorded decision instead of deciding again.
Each step is recorded once (the book and the aggregate both refuse a repeat); a restart or a
second watcher adds none. Before recording, each due customer is read again and decided with
what its aggregate says now; a conflict with another writer reads it again, never gives up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final
from uuid import UUID

from application.event_chain import EventChain
from domain.customer import Customer
from domain.roster import Roster
from domain.rules import RuleSet
from domain.sla import LeadClock, SlaBook
from domain.vocabulary import Escalation
from followers.checkpoints import BookFollower
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
    Customer.TouchpointRetracted,
    Customer.MergedInto,
    Customer.Restored,
    *MOVES_TOUCHPOINTS,
)
FOLD_MODULES: Final = (
    "domain.sla",
    "domain.clock_books",
    "domain.roster",
    "domain.rules",
    "followers.sla_watcher",
)


class SlaWatcher(BookFollower[SlaBook]):
    name = SLA_NAME

    def __init__(self, app: EventChain, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or app.clock  # the service's clock: what "now" is for deadlines
        super().__init__(app, SLA_NAME, FOLD_MODULES, SlaBook, WATCHED_EVENTS)

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
        now = self.clock()
        candidates = sorted({e.customer_id for e in self.book.due(now)})
        if not candidates:
            self.checkpoint(force=False)
            return []
        recorded: list[Escalation] = []
        try:
            saved = self.app.save_deciding_again(lambda: self._decide(candidates, now, recorded))
        except BaseException:
            self.book.reschedule(candidates)
            raise
        for customer in saved or []:
            self.book.mark_escalated(str(customer.id), sorted(customer.escalated_steps))
        self.checkpoint(force=False)
        return recorded

    def _decide(self, candidates: list[str], now: datetime, recorded: list[Escalation]) -> list[Customer]:
        """Reads each customer the book found due and decides with what its aggregate says now
        (answered, merged or escalated meanwhile by another writer: nothing to record)."""
        recorded.clear()
        recorded_at = self.app.clock()
        customers = []
        for customer_id in candidates:
            customer = self.app.get_customer(UUID(customer_id), follow_merges=False)
            self.book.replace(customer_id, lead_clock(customer))
            for escalation in self.book.due_for(customer_id, now):
                if customer.escalate(escalation, recorded_at):
                    recorded.append(escalation)
            customers.append(customer)
        return customers


def lead_clock(customer: Customer) -> LeadClock:
    """What the book knows of a customer, from its aggregate."""
    lead = customer.first_inbound
    return LeadClock(
        lead=None if lead is None else lead.order_key,
        outbound={
            f.order_key
            for f in customer.touchpoints.values()
            if f.direction == "outbound" and f.touchpoint_id not in customer.retracted
        },
        vip="vip" in customer.tags,
        owner=customer.owner_agent_id,
        escalated=set(customer.escalated_steps),
        closed=customer.merged_into is not None,
    )


def check_sla(app: EventChain, now: datetime) -> list[Escalation]:
    """One full pass at ``now`` (fold the whole log, record what is due): one-shot commands."""
    return SlaWatcher(app, clock=lambda: now).escalate()
