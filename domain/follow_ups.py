"""Follow-up plans (seed 004), pure: a customer's journey (its facts and recorded decisions) and
a plan's progress from it. The book the follower folds the log into is ``domain.follow_up_book``.

``progress`` decides, for one customer and one plan at ``now``: when the plan started (its
trigger), when each step comes due, which fact meets it (the evidence), when the plan paused and
resumed, and which step is overdue past the grace. Facts are sets ordered by event time (the
chain's order keys), so the arrival order of the same touchpoints never changes the outcome.

Semantics, chosen to be replayable and explainable:
- A plan starts once per customer, at its trigger's event time, under the newest rules version
  the follower knows when it records ``PlanStarted``; every later decision of that plan uses that
  version. A rules revision therefore applies to plans that start after it (new plans only): a
  rep's open steps never move under them, the execution rate compares like with like, and
  ``replay what-if`` is where re-timed steps are tried on history.
- A step's anchor is the plan's start, the previous step's evidence (unmet previous step: no
  anchor yet, so nothing comes due behind a missed step; the missed one escalates), or the
  rep's first outbound touch on the given channels after the start. Due = anchor + offset in
  calendar hours, or in working hours of the SLA's working time and calendar.
- Evidence for a step is the first matching fact after the previous step's evidence (or the
  trigger), so one message never meets two steps.
- A pause (a pause tag added, a pause stage entered) stops the plan's clock; the customer's next
  inbound touch resumes it, and every instant still ahead moves by the time spent paused.
  Nothing comes due or escalates while paused.
- Recorded decisions are facts: a met step stays met with its recorded evidence, a recorded
  start keeps its version. A retracted touchpoint (``TouchpointRetracted``) no longer counts for
  what is decided after the retraction. The book returns only decisions not yet recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from domain.business_time import WorkingTime
from domain.customer import FOLLOW_UP_KINDS
from domain.plan_rules import DecisionKind, FollowUpDecision, Plan, PlanStep

OrderKey = tuple[datetime, str]
Pause = tuple[datetime, datetime | None]  # (paused at, resumed at or None while paused)


def action_kind(touchpoint_id: str) -> str | None:
    """The kind of a workspace-logged action (``web-<kind>-…``, application.rep_actions)."""
    prefix, _, rest = touchpoint_id.partition("-")
    kind = rest.partition("-")[0]
    return kind if prefix == "web" and kind else None


@dataclass(slots=True)
class Journey:
    """What the follower knows of one customer: facts, and decisions already recorded."""

    inbound: dict[OrderKey, str] = field(default_factory=dict)  # key → channel
    outbound: dict[OrderKey, str] = field(default_factory=dict)  # key → channel
    stages: set[tuple[datetime, str]] = field(default_factory=set)  # (changed_at, stage)
    tags: set[tuple[datetime, str]] = field(default_factory=set)  # (changed_at, tag added)
    owner: str | None = None
    closed: bool = False
    started: dict[str, tuple[int, datetime, str]] = field(default_factory=dict)  # plan → version, at, trigger
    met: dict[tuple[str, str], tuple[datetime, str]] = field(
        default_factory=dict
    )  # (plan, step) → at, evidence
    recorded: set[tuple[str, str, str]] = field(default_factory=set)  # FollowUpDecision.key

    def instants(self) -> list[datetime]:
        """Every fact's event time, earliest first."""
        keys = [*self.inbound, *self.outbound, *self.stages, *self.tags]
        return sorted(key[0] for key in keys)

    @property
    def first_response(self) -> OrderKey | None:
        if not self.inbound:
            return None
        lead = min(self.inbound)
        replies = [key for key in self.outbound if key > lead]
        return min(replies) if replies else None


@dataclass(frozen=True, slots=True)
class StepProgress:
    plan: str
    step: str
    action: str
    due_at: datetime | None  # None: not scheduled yet (no anchor) or paused before it
    met_at: datetime | None
    evidence: str | None
    escalate_at: datetime | None
    status: str  # pending | due | overdue | met | met_late | paused


def trigger(journey: Journey, plan: Plan) -> OrderKey | None:
    start = plan.start
    if start.on == "first_response":
        return journey.first_response
    if start.on == "stage":
        found = sorted((at, f"stage:{stage}") for at, stage in journey.stages if stage == start.stage)
        return found[0] if found else None
    if start.on == "tag":
        found = sorted((at, f"tag:{tag}") for at, tag in journey.tags if tag == start.tag)
        return found[0] if found else None
    return min((key for key, channel in journey.inbound.items() if channel == start.channel), default=None)


def pauses(journey: Journey, plan: Plan, started_at: datetime, now: datetime) -> list[Pause]:
    """The plan's pauses after its start, in order: pause facts and the inbound touch after each."""
    marks: list[tuple[OrderKey, bool]] = [
        ((at, f"tag:{t}"), True) for at, t in journey.tags if t in plan.pause_tags
    ]
    marks += [((at, f"stage:{s}"), True) for at, s in journey.stages if s in plan.pause_stages]
    if plan.resume_on_inbound:
        marks += [(key, False) for key in journey.inbound]
    found: list[Pause] = []
    paused_at: datetime | None = None
    for (at, _), is_pause in sorted(marks):
        if at < started_at or at > now:
            continue
        if is_pause and paused_at is None:
            paused_at = at
        elif not is_pause and paused_at is not None:
            found.append((paused_at, at))
            paused_at = None
    if paused_at is not None:
        found.append((paused_at, None))
    return found


def shifted(instant: datetime, anchor: datetime, paused: list[Pause]) -> datetime | None:
    """``instant`` moved by the time the plan spent paused between ``anchor`` and it (None: the
    plan is paused when it would come)."""
    for paused_at, resumed_at in paused:
        if paused_at >= instant:
            break
        if resumed_at is None:
            return None
        if resumed_at > anchor:
            instant += resumed_at - max(paused_at, anchor)
    return instant


def _evidence(journey: Journey, step: PlanStep, after: OrderKey, now: datetime) -> OrderKey | None:
    found: list[OrderKey] = []
    for key, channel in journey.outbound.items():
        matches = channel in step.met_by_channels or action_kind(key[1]) in step.met_by_actions
        if matches and key > after and key[0] <= now:
            found.append(key)
    if step.met_by_stage is not None:
        moves = ((at, f"stage:{stage}") for at, stage in journey.stages if stage == step.met_by_stage)
        found += [key for key in moves if key > after and key[0] <= now]
    return min(found, default=None)


def _anchor(
    journey: Journey, step: PlanStep, start: OrderKey, previous_met: datetime | None
) -> datetime | None:
    if step.due_from == "start":
        return start[0]
    if step.due_from == "previous":
        return previous_met
    rep = [
        key
        for key, channel in journey.outbound.items()
        if key > start and (not step.due_from_channels or channel in step.due_from_channels)
    ]
    return min(rep)[0] if rep else None


def progress(
    journey: Journey, name: str, plan: Plan, start: OrderKey, working: WorkingTime, now: datetime
) -> list[StepProgress]:
    """Every step of a started plan at ``now``."""
    paused = pauses(journey, plan, start[0], now)
    paused_now = bool(paused) and paused[-1][1] is None
    steps: list[StepProgress] = []
    after, previous_met = start, None
    for step in plan.steps:
        anchor = _anchor(journey, step, start, previous_met)
        due_at = escalate_at = None
        if anchor is not None:
            raw = (
                working.add(anchor, step.due_hours * 60)
                if step.clock == "business"
                else anchor + timedelta(hours=step.due_hours)
            )
            due_at = shifted(raw, anchor, paused)
            if plan.escalate_after_hours is not None:
                escalate_at = shifted(raw + timedelta(hours=plan.escalate_after_hours), anchor, paused)
        evidence_key = journey.met.get((name, step.name)) or _evidence(journey, step, after, now)
        met_at = None if evidence_key is None else evidence_key[0]
        evidence = None if evidence_key is None else evidence_key[1]
        if met_at is not None:
            status = "met" if due_at is None or met_at <= due_at else "met_late"
        elif due_at is None or due_at > now:  # what came due before a pause stays due
            status = "paused" if paused_now else "pending"
        else:
            status = "overdue" if escalate_at is not None and escalate_at <= now else "due"
        steps.append(
            StepProgress(name, step.name, step.action, due_at, met_at, evidence, escalate_at, status)
        )
        if evidence_key is not None:
            after, previous_met = max(after, evidence_key), met_at
        else:
            previous_met = None
    return steps


DECISION_EVENTS: Final[Mapping[str, DecisionKind]] = FOLLOW_UP_KINDS


def decision_from_event(name: str, customer_id: str, fields: dict[str, Any]) -> FollowUpDecision:
    """The decision a recorded follow-up event carries (the follower's own events, read back)."""
    due_at = fields.get("due_at")
    return FollowUpDecision(
        DECISION_EVENTS[name],
        customer_id,
        fields["plan"],
        int(fields["rule_version"]),
        as_instant(fields["at"]),
        as_instant(fields["observed_at"]),
        fields.get("step", ""),
        evidence=fields.get("evidence", ""),
        agent_id=fields.get("agent_id"),
        action=fields.get("action", ""),
        due_at=None if due_at is None else as_instant(due_at),
    )


def record(journey: Journey, decision: FollowUpDecision) -> None:
    journey.recorded.add(decision.key)
    if decision.kind == "started":
        journey.started.setdefault(decision.plan, (decision.rule_version, decision.at, decision.evidence))
    elif decision.kind == "met":
        journey.met.setdefault((decision.plan, decision.step), (decision.at, decision.evidence))


def as_instant(value: datetime | str) -> datetime:
    """A time field as the log reader gives it (ISO text) or as a datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
