"""The follow-up follower: runs the rules' follow-up plans (seed 004) on the service's clock.

It folds what the plans need (``domain.follow_ups.FollowUpBook``) once and then only what is
new; each tick it asks the book what is decided at the clock's "now" — a plan started, a step
come due, met (with its evidence), paused, resumed, escalated — and records each as an event
on the customer (``Customer.record_follow_up``) carrying that instant, so replays read the
decisions instead of deciding again. Each decision is recorded once: the book and the
aggregate both refuse a repeat, so a restart or a second follower adds none; a conflict with
another writer decides again with what the aggregate says now, never drops a decision. Like
the SLA watcher (``followers.sla_watcher``) it checkpoints its book with the position it
reflects (``followers.checkpoints``), so a restart reads only the log's tail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final
from uuid import UUID

from adapters.log_reader import aggregate_fields
from application.event_chain import EventChain
from domain.customer import FOLLOW_UP_EVENTS, Customer
from domain.follow_up_book import FollowUpBook
from domain.follow_ups import Journey
from domain.plan_rules import FollowUpDecision
from domain.roster import Roster
from domain.rules import RuleSet
from followers.checkpoints import BookFollower
from followers.loop import MOVES_TOUCHPOINTS, fold_new

FOLLOW_UPS_NAME: Final = "follow_ups"
WATCHED_EVENTS: Final[tuple[type, ...]] = (
    RuleSet.RulesRevised,
    Roster.AgentJoined,
    Roster.AgentUpdated,
    Roster.AgentLeft,
    Customer.TouchpointRecorded,
    Customer.TouchpointRetracted,
    Customer.LeadAssigned,
    Customer.StageChanged,
    Customer.TagsChanged,
    Customer.MergedInto,
    Customer.Restored,
    *FOLLOW_UP_EVENTS.values(),
    *MOVES_TOUCHPOINTS,
)
_OWN_STREAM_EVENTS: Final[tuple[type, ...]] = (
    Customer.LeadAssigned,
    Customer.StageChanged,
    Customer.TagsChanged,
    *FOLLOW_UP_EVENTS.values(),
)
_OWN_STREAM: Final = frozenset(cls.__qualname__ for cls in _OWN_STREAM_EVENTS)
FOLD_MODULES: Final = (
    "domain.follow_ups",
    "domain.follow_up_book",
    "domain.clock_books",
    "domain.plan_rules",
    "domain.business_time",
    "domain.roster",
    "domain.rules",
    "followers.follow_ups",
)


class FollowUpFollower(BookFollower[FollowUpBook]):
    name = FOLLOW_UPS_NAME

    def __init__(self, app: EventChain, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or app.clock  # the service's clock: what "now" is for due steps
        super().__init__(app, FOLLOW_UPS_NAME, FOLD_MODULES, FollowUpBook, WATCHED_EVENTS)

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        return len(self.decide(should_stop))

    def decide(self, should_stop: Callable[[], bool] = lambda: False) -> list[FollowUpDecision]:
        """Folds what is new, then records every decision at "now"; returns them."""
        for customer_id in fold_new(self.tail, self.book.feed, should_stop):
            self.book.replace(customer_id, journey_of(self.app, UUID(customer_id)))
        if should_stop():
            return []
        now = self.clock()
        candidates = sorted({d.customer_id for d in self.book.due(now)})
        if not candidates:
            self.checkpoint(force=False)
            return []
        recorded: list[FollowUpDecision] = []
        try:
            self.app.save_deciding_again(lambda: self._decide(candidates, now, recorded))
        except BaseException:
            self.book.reschedule(candidates)
            raise
        self.book.mark_recorded(recorded)
        self.book.reschedule(candidates)  # their next due instants, from what is recorded now
        self.checkpoint(force=False)
        return recorded

    def _decide(
        self, candidates: list[str], now: datetime, recorded: list[FollowUpDecision]
    ) -> list[Customer]:
        """Reads each customer the book found something for and decides with what its aggregate
        says now (another writer may have recorded, merged or moved it meanwhile)."""
        recorded.clear()
        recorded_at = self.app.clock()
        customers = []
        for customer_id in candidates:
            customer = self.app.get_customer(UUID(customer_id), follow_merges=False)
            self.book.replace(customer_id, journey_of(self.app, UUID(customer_id), customer))
            decisions, _ = self.book.decide(customer_id, now)
            recorded += [d for d in decisions if customer.record_follow_up(d, recorded_at)]
            customers.append(customer)
        return customers


def journey_of(app: EventChain, customer_id: UUID, customer: Customer | None = None) -> Journey:
    """What the book knows of a customer, from its aggregate (after a merge or unmerge moved
    touchpoints, or before recording): its touchpoints now, and its own stream's stages, tags,
    owner and recorded follow-up decisions."""
    customer = customer or app.get_customer(customer_id, follow_merges=False)
    book = FollowUpBook()
    key = str(customer_id)
    for _, _, kind, fields in aggregate_fields(app, [customer_id]):
        if kind in _OWN_STREAM:
            book.feed(kind, key, fields)
    journey = book.journeys.get(key, Journey())
    for facts in customer.touchpoints.values():
        if facts.touchpoint_id in customer.retracted:
            continue
        target = journey.outbound if facts.direction == "outbound" else journey.inbound
        target[facts.order_key] = facts.channel
    journey.closed = customer.merged_into is not None
    return journey


def check_follow_ups(app: EventChain, now: datetime) -> list[FollowUpDecision]:
    """One full pass at ``now`` (fold the whole log, record what is decided): one-shot commands."""
    return FollowUpFollower(app, clock=lambda: now).decide()
