"""The follow-up follower's book (seed 004), pure: the customers' journeys folded from the log,
and the decisions due at "now" (``domain.follow_ups`` says what each decision means).

Like ``domain.sla.SlaBook``: ``feed`` log events in order, then ``due(now)``; customers with
something new are decided at once, the others wait in a heap ordered by their next due instant,
so a tick costs what is new or due, not a scan of every customer. It never reads a clock: the
caller passes "now" and records what ``due`` returns as events carrying that instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.clock_books import DueHeap, RulesAndTeam
from domain.follow_ups import (
    DECISION_EVENTS,
    Journey,
    OrderKey,
    StepProgress,
    as_instant,
    decision_from_event,
    pauses,
    progress,
    record,
    trigger,
)
from domain.plan_rules import FollowUpDecision, Plan
from domain.rules import RulesDocument, RuleSet
from domain.sla import escalation_target


@dataclass
class FollowUpBook(RulesAndTeam):
    """The follow-up follower's fold: ``feed`` log events, then ``due(now)``."""

    journeys: dict[str, Journey] = field(default_factory=dict)
    heap: DueHeap = field(default_factory=DueHeap)  # customers by their next decision's instant
    _dirty: set[str] = field(default_factory=set)

    def feed(self, kind: str, customer_id: str, fields: dict[str, Any]) -> None:
        if self.feed_rules_or_team(kind, fields):
            if kind == RuleSet.RulesRevised.__qualname__:
                self._dirty.update(self.journeys)  # plans may start under the new version
            return
        journey = self.journeys.setdefault(customer_id, Journey())
        name = kind.rpartition(".")[2]
        if name == "TouchpointRecorded":
            key = (as_instant(fields["occurred_at"]), fields["touchpoint_id"])
            if fields["direction"] == "outbound":
                journey.outbound[key] = fields["channel"]
            else:
                journey.inbound[key] = fields["channel"]
        elif name == "TouchpointRetracted":  # a mistake by a person's word: no longer counts
            journey.outbound = {k: c for k, c in journey.outbound.items() if k[1] != fields["touchpoint_id"]}
        elif name == "LeadAssigned":
            journey.owner = fields["agent_id"]
        elif name == "StageChanged":
            journey.stages.add((as_instant(fields["changed_at"]), fields["stage"]))
        elif name == "TagsChanged":
            at = as_instant(fields["changed_at"])
            journey.tags.update((at, tag) for tag in fields["added"])
        elif name == "MergedInto":
            journey.closed = True
        elif name == "Restored":
            journey.closed = False
        elif name in DECISION_EVENTS:
            record(journey, decision_from_event(name, customer_id, fields))
        self._dirty.add(customer_id)

    def replace(self, customer_id: str, journey: Journey) -> None:
        self.journeys[customer_id] = journey
        self._dirty.add(customer_id)

    def reschedule(self, customer_ids: list[str]) -> None:
        self._dirty.update(customer_ids)

    def mark_recorded(self, decisions: list[FollowUpDecision]) -> None:
        for decision in decisions:
            record(self.journeys[decision.customer_id], decision)
            self._dirty.add(decision.customer_id)

    def next_due(self) -> datetime | None:
        return self.heap.next_due()

    def due(self, now: datetime) -> list[FollowUpDecision]:
        """Every decision at ``now`` not yet recorded, for the customers with something new or
        something due. They are unscheduled until ``mark_recorded`` or ``reschedule``."""
        candidates = {*self._dirty, *self.heap.pop_due(now)}
        self._dirty.clear()
        found: list[FollowUpDecision] = []
        for customer_id in sorted(candidates):
            decisions, upcoming = self.decide(customer_id, now)
            found += decisions
            self.heap.schedule(customer_id, upcoming)
        return found

    def decide(self, customer_id: str, now: datetime) -> tuple[list[FollowUpDecision], datetime | None]:
        """One customer's decisions at ``now`` not yet recorded, and the next instant one is due."""
        journey = self.journeys.get(customer_id)
        if journey is None or journey.closed:
            return [], None
        decisions: list[FollowUpDecision] = []
        # a fact dated after "now" (a clock behind the channels') counts once its time comes
        upcoming: list[datetime] = [at for at in journey.instants() if at > now][:1]
        latest = self.rules(self.latest)
        for name in sorted(set(journey.started) | set(latest.plans if latest else ())):
            if name in journey.started:
                version, started_at, trigger_id = journey.started[name]
                start: OrderKey = (started_at, trigger_id)
            else:
                assert latest is not None
                found = trigger(journey, latest.plans[name])
                if found is None or found[0] > now:
                    continue
                version, start = self.latest, found
                decisions.append(
                    FollowUpDecision("started", customer_id, name, version, start[0], now, evidence=found[1])
                )
            rules = self.rules(version)
            if rules is None or name not in rules.plans:
                continue
            plan = rules.plans[name]
            decisions += self._plan_decisions(
                customer_id, journey, name, plan, version, start, rules, now, upcoming
            )
        return decisions, min(upcoming, default=None)

    def _plan_decisions(
        self,
        customer_id: str,
        journey: Journey,
        name: str,
        plan: Plan,
        version: int,
        start: OrderKey,
        rules: RulesDocument,
        now: datetime,
        upcoming: list[datetime],
    ) -> list[FollowUpDecision]:
        decisions: list[FollowUpDecision] = []
        for paused_at, resumed_at in pauses(journey, plan, start[0], now):
            decisions.append(FollowUpDecision("paused", customer_id, name, version, paused_at, now))
            if resumed_at is not None:
                decisions.append(FollowUpDecision("resumed", customer_id, name, version, resumed_at, now))
        for step in progress(journey, name, plan, start, rules.working_time(), now):
            if (
                step.due_at is not None
                and step.due_at <= now
                and (step.met_at is None or step.met_at > step.due_at)
            ):
                decisions.append(
                    FollowUpDecision(
                        "due",
                        customer_id,
                        name,
                        version,
                        step.due_at,
                        now,
                        step.step,
                        agent_id=journey.owner,
                        action=step.action,
                    )
                )
            elif step.due_at is not None and step.met_at is None and step.status != "paused":
                upcoming.append(step.due_at)
            came_due = step.due_at is not None and step.due_at <= (step.met_at or now)
            escalate_at = step.escalate_at
            # unmet when its grace ran out, whenever the follower looks (a late met keeps it)
            if (
                escalate_at is not None
                and escalate_at <= now
                and (step.met_at is None or step.met_at > escalate_at)
            ):
                decisions.append(self._escalation(customer_id, journey, name, version, step, rules, now))
            elif escalate_at is not None and step.met_at is None:
                upcoming.append(escalate_at)
            if step.met_at is not None and step.evidence is not None:
                decisions.append(
                    FollowUpDecision(
                        "met",
                        customer_id,
                        name,
                        version,
                        step.met_at,
                        now,
                        step.step,
                        evidence=step.evidence,
                        due_at=step.due_at if came_due else None,  # met late: when it came due
                    )
                )
        return [d for d in decisions if d.key not in journey.recorded]

    def _escalation(
        self,
        customer_id: str,
        journey: Journey,
        name: str,
        version: int,
        step: StepProgress,
        rules: RulesDocument,
        now: datetime,
    ) -> FollowUpDecision:
        target, reason = escalation_target(
            "manager", journey.owner, self.roster.agents, rules.routing.fallback_owner
        )
        assert step.escalate_at is not None
        return FollowUpDecision(
            "escalated",
            customer_id,
            name,
            version,
            step.escalate_at,
            now,
            step.step,
            agent_id=target,
            action=reason,
            due_at=step.due_at,
        )
