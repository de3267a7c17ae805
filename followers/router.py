"""The router: a follower of the log that assigns every new lead (``domain.routing``).

It keeps the routing fold in memory (rule revisions, roster changes, touchpoints and
assignments in log order), reads only new events on each tick, and records its decisions
together with its tracking position in one transaction per batch: killed at any point, it
resumes exactly once, and because the fold is deterministic, a restart (which folds the log
again) reproduces every recorded decision instead of deciding anew.

A conflict with another writer of a customer (ingest, the SLA watcher, the silence tagger, a
merge, a rep) is retried with the customer as it is now; only an existing tracking record
(another router recorded the same position) makes a batch moot. A decision that no
``LeadAssigned`` followed (lost before this was so) is recorded on the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final
from uuid import UUID

from eventsourcing.persistence import Tracking

from adapters.log_reader import LogTail
from application.event_chain import EventChain
from domain.customer import Customer
from domain.roster import Roster
from domain.routing import Decision, RoutingFold
from domain.rules import RuleSet
from domain.vocabulary import ROUTER
from followers.checkpoints import Checkpointer

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
ASSIGNED: Final = Customer.LeadAssigned.__qualname__
RESTORED: Final = Customer.Restored.__qualname__
# The router also reads unmerges: a lead it left alone because its customer was merged away
# is routed when an unmerge makes it a live customer again.
TAILED_EVENTS: Final = (*ROUTED_EVENTS, Customer.Restored)
# What the router's checkpoint holds (fold, unconfirmed, parked), and the code that defines it
# (followers.checkpoints).
RouterState = tuple[RoutingFold, dict[str, Decision], dict[str, Decision]]
FOLD_MODULES: Final = ("domain.routing", "domain.roster", "domain.rules", "followers.router")
log = logging.getLogger("eventchain.router")


class Router:
    name = ROUTER_NAME

    def __init__(self, app: EventChain) -> None:
        self.app = app
        self.checkpoints: Checkpointer[RouterState] = Checkpointer(app, ROUTER_NAME, FOLD_MODULES)
        self.reset()

    def reset(self) -> None:
        """Resumes from the last checkpoint (or the log's start): the next tick reads the tail."""
        # unconfirmed: decisions at or before the tracked position whose LeadAssigned the tail
        # has not read yet: recorded (their event comes later in the log) or lost (dropped by an
        # older router); what is left once the tail reaches the log's end is recorded again.
        # parked: decisions left alone because their customer was merged into another.
        resumed = self.resumed = self.checkpoints.resume(lambda: (RoutingFold(), {}, {}))
        self.fold, self.unconfirmed, self.parked = resumed.state
        self.tail = LogTail(self.app, TAILED_EVENTS, personal=True)  # lead text, city, budget
        self.tail.position = resumed.position
        self.recorded = self.app.tracked_position(ROUTER_NAME) or 0

    @property
    def position(self) -> int:
        return self.tail.position

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Routes the leads recorded since the last tick; returns how many were assigned."""
        pending: list[tuple[int, Decision]] = []
        routed = 0
        for notification_id, kind, originator, fields in self.tail.read(should_stop):
            if kind == ASSIGNED:
                self.unconfirmed.pop(originator, None)
            elif kind == RESTORED and originator in self.parked:
                self.unconfirmed[originator] = self.parked.pop(originator)
            for decision in self.fold.feed(kind, originator, fields):
                if notification_id > self.recorded:
                    pending.append((notification_id, decision))
                else:  # decided before a restart: recorded already, unless it was lost
                    self.unconfirmed[decision.customer_id] = decision
            if len(pending) >= DECISION_BATCH:
                routed += self._record(pending)
                pending = []
        if pending:
            routed += self._record(pending)
        self.fold.decisions.clear()  # the router reads its decisions back from the log
        if should_stop():
            return routed
        if self.unconfirmed:
            routed += self._record_unconfirmed()
        self.checkpoint(force=False)
        return routed

    def checkpoint(self, *, force: bool = True) -> None:
        """Saves the fold with the position it reflects (when enough is new, unless ``force``)."""
        self.checkpoints.maybe_save(
            self.tail.position, lambda: (self.fold, self.unconfirmed, self.parked), force=force
        )

    def _record(self, decisions: list[tuple[int, Decision]]) -> int:
        """Records a batch with the position of its last lead; a conflict with another writer
        of a customer decides again with the customer as it is now, and only a tracking
        record that exists (another router recorded this position) makes the batch moot."""
        position = decisions[-1][0]
        assigned: list[Decision] = []
        saved = self.app.save_deciding_again(
            lambda: self._assign([d for _, d in decisions], assigned), Tracking(ROUTER_NAME, position)
        )
        if saved is None:
            self.recorded = max(self.recorded, position, self.app.tracked_position(ROUTER_NAME) or 0)
            return 0
        self.recorded = max(self.recorded, position)
        return len(assigned)

    def _record_unconfirmed(self) -> int:
        """The safety net: decisions no LeadAssigned followed, recorded now (once: the customer
        is read again, and one that has an owner by now is left alone)."""
        decisions = sorted(self.unconfirmed.values(), key=lambda d: (d.decided_at, d.customer_id))
        assigned: list[Decision] = []
        self.app.save_deciding_again(lambda: self._assign(decisions, assigned))
        self.unconfirmed.clear()
        for decision in assigned:
            log.warning(
                "lead of %s had no owner: assigned to %s now", decision.customer_id, decision.agent_id
            )
        return len(assigned)

    def _assign(self, decisions: list[Decision], assigned: list[Decision]) -> list[Customer]:
        """Applies the decisions to their customers as they are now: one that meanwhile got an
        owner (a rep, a handover), was merged into another or erased keeps what it has."""
        assigned.clear()
        now = self.app.clock()
        customers: dict[UUID, Customer] = {}
        for decision in decisions:
            customer_id = UUID(decision.customer_id)
            customer = customers.get(customer_id) or self.app.get_customer(customer_id, follow_merges=False)
            customers[customer_id] = customer
            if not awaits_owner(customer):
                if customer.merged_into is not None and customer.owner_agent_id is None:
                    self.parked[decision.customer_id] = decision  # routed if it is unmerged
                continue
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
            assigned.append(decision)
        return list(customers.values())


def awaits_owner(customer: Customer) -> bool:
    """A live customer nobody owns: the only kind the router assigns."""
    return customer.owner_agent_id is None and customer.merged_into is None and not customer.erased


def route_pending(app: EventChain) -> int:
    """One full pass (fold the whole log, record what is new): for one-shot commands."""
    return Router(app).tick()
