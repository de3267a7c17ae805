"""The router: a follower of the log that assigns every new lead (``domain.routing``).

It keeps the routing fold in memory (rule revisions, roster changes, touchpoints and
assignments in log order), reads only new events on each tick, and records its decisions
together with its tracking position in one transaction per batch: killed at any point, it
resumes exactly once, and because the fold is deterministic, a restart (which folds the log
again) reproduces every recorded decision instead of deciding anew.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking

from adapters.log_reader import LogTail
from application.event_chain import EventChain
from domain.customer import Customer
from domain.roster import Roster
from domain.routing import Decision, RoutingFold
from domain.rules import RuleSet
from domain.vocabulary import ROUTER

ROUTER_NAME: Final = "router"
# The events the routing fold reads (domain.routing.RoutingFold.feed).
ROUTED_EVENTS: Final = (
    RuleSet.RulesRevised,
    Roster.AgentJoined,
    Roster.AgentUpdated,
    Roster.AgentLeft,
    Customer.LeadAssigned,
    Customer.TouchpointRecorded,
)
DECISION_BATCH: Final = 200
log = logging.getLogger("eventchain.router")


class Router:
    name = ROUTER_NAME

    def __init__(self, app: EventChain) -> None:
        self.app = app
        self.reset()

    def reset(self) -> None:
        self.fold = RoutingFold()
        self.tail = LogTail(self.app, ROUTED_EVENTS, personal=True)  # lead text, city, budget
        self.recorded = self.app.tracked_position(ROUTER_NAME) or 0

    @property
    def position(self) -> int:
        return self.tail.position

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Routes the leads recorded since the last tick; returns how many were assigned."""
        pending: list[tuple[int, Decision]] = []
        routed = 0
        for notification_id, kind, originator, fields in self.tail.read(should_stop):
            for decision in self.fold.feed(kind, originator, fields):
                if notification_id > self.recorded:  # decided before a restart: recorded already
                    pending.append((notification_id, decision))
            if len(pending) >= DECISION_BATCH:
                routed += self._record(pending)
                pending = []
        if pending:
            routed += self._record(pending)
        return routed

    def _record(self, decisions: list[tuple[int, Decision]]) -> int:
        now = self.app.clock()
        customers: dict[UUID, Customer] = {}
        for _, decision in decisions:
            customer_id = UUID(decision.customer_id)
            customer = customers.get(customer_id) or self.app.get_customer(customer_id, follow_merges=False)
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
                customer.change_tags(
                    list(decision.tags), [], decision.decided_at, "keywords in the lead", now
                )
        position = decisions[-1][0]
        try:
            self.app.save_tracked(Tracking(ROUTER_NAME, position), *customers.values())
        except IntegrityError:
            # Another router instance recorded these decisions first (the same ones: the fold
            # is deterministic); its LeadAssigned events are skipped when read.
            self.recorded = self.app.tracked_position(ROUTER_NAME) or position
            return 0
        self.recorded = position
        return len(decisions)


def route_pending(app: EventChain) -> int:
    """One full pass (fold the whole log, record what is new): for one-shot commands."""
    return Router(app).tick()
