"""Follow-up plans (跟进计划, seed 004) as the rules document writes them: ``[plans.<name>]``.

A plan starts on one trigger (the first response, a stage entered, a tag added, a first inbound
touch on a channel), once per customer, under the rules version in force when it starts; its
steps come due an offset after an anchor (the plan's start, the previous step's evidence, or
the rep's first outbound touch on given channels since the start), in calendar or business
hours (the SLA's working time and calendar); each is met by evidence (an outbound touchpoint on
given channels, an action logged in the workspace, a stage move). A pause tag or stage stops the
plan's clock; the customer's next inbound touch starts it again. Semantics: ``domain.follow_ups``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta, Struct

from domain.vocabulary import STAGES

Name = Annotated[str, Meta(min_length=1, max_length=64)]
Hours = Annotated[float, Meta(gt=0, le=24 * 366)]
MAX_STEPS: Final = 20
# The kinds of action a rep logs in the workspace (application.rep_actions.LOGGABLE, checked
# equal by a test); the touchpoint it records is named ``web-<kind>-…``, which is how evidence
# recognises it.
ACTION_KINDS: Final = ("call", "sms", "email", "visit", "wecom", "douyin")
NOT_NOW: Final = "暂不考虑"  # the tag a rep sets when the customer says "not now"
QUIET_3_MONTHS: Final = "静默-3个月"


class PlanStart(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    on: Literal["first_response", "stage", "tag", "channel"]
    stage: Name | None = None  # on = "stage": entering this stage
    tag: Name | None = None  # on = "tag": this tag added
    channel: Name | None = None  # on = "channel": the first inbound touch on this channel


class PlanStep(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name
    action: Annotated[str, Meta(min_length=1, max_length=200)]  # what the rep should do (the desk shows it)
    due_hours: Hours
    due_from: Literal["start", "previous", "outbound"] = "start"
    due_from_channels: list[Name] = []  # due_from = "outbound": the rep's first outbound on these (any: [])
    clock: Literal["calendar", "business"] = "calendar"
    # Evidence: any one of these meets the step (at least one must be given).
    met_by_channels: list[Name] = []  # an outbound touchpoint on one of these channels
    met_by_actions: list[Name] = []  # an action of these kinds logged in the workspace
    met_by_stage: Name | None = None  # the customer moved to this stage


class Plan(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    label: Annotated[str, Meta(max_length=200)] = ""
    start: PlanStart
    steps: Annotated[list[PlanStep], Meta(min_length=1, max_length=MAX_STEPS)]
    pause_tags: list[Name] = msgspec.field(default_factory=lambda: [QUIET_3_MONTHS, NOT_NOW])
    pause_stages: list[Name] = msgspec.field(default_factory=lambda: ["lost"])
    resume_on_inbound: bool = True
    # A step still unmet this long after it came due is escalated to the rep's manager, once.
    escalate_after_hours: Hours | None = 24.0


def plan_errors(name: str, plan: Plan, channels: tuple[str, ...]) -> list[tuple[str, str]]:
    """(key path, reason) for what msgspec cannot check: names that must exist, references."""
    path = f"$.plans.{name}"
    errors: list[tuple[str, str]] = []
    start = plan.start
    needed = {"stage": start.stage, "tag": start.tag, "channel": start.channel}
    if start.on in needed and needed[start.on] is None:
        errors.append((f"{path}.start.{start.on}", f"on = {start.on!r} needs {start.on} = …"))
    if start.stage is not None and start.stage not in STAGES:
        errors.append((f"{path}.start.stage", f"unknown stage; expected one of {STAGES}"))
    if start.channel is not None and start.channel not in channels:
        errors.append((f"{path}.start.channel", f"unknown channel; expected one of {channels}"))
    for index, stage in enumerate(plan.pause_stages):
        if stage not in STAGES:
            errors.append((f"{path}.pause_stages[{index}]", f"unknown stage; expected one of {STAGES}"))
    seen: set[str] = set()
    for index, step in enumerate(plan.steps):
        at = f"{path}.steps[{index}]"
        if step.name in seen:
            errors.append((f"{at}.name", f"a second step named {step.name!r}"))
        seen.add(step.name)
        if index == 0 and step.due_from == "previous":
            errors.append((f"{at}.due_from", "the first step has no previous step"))
        for key, listed in (
            ("due_from_channels", step.due_from_channels),
            ("met_by_channels", step.met_by_channels),
        ):
            for position, channel in enumerate(listed):
                if channel not in channels:
                    errors.append((f"{at}.{key}[{position}]", f"unknown channel; expected one of {channels}"))
        for position, kind in enumerate(step.met_by_actions):
            if kind not in ACTION_KINDS:
                errors.append(
                    (f"{at}.met_by_actions[{position}]", f"unknown action; expected one of {ACTION_KINDS}")
                )
        if step.met_by_stage is not None and step.met_by_stage not in STAGES:
            errors.append((f"{at}.met_by_stage", f"unknown stage; expected one of {STAGES}"))
        if not (step.met_by_channels or step.met_by_actions or step.met_by_stage):
            errors.append((at, "no evidence: give met_by_channels, met_by_actions or met_by_stage"))
    return errors


DecisionKind = Literal["started", "due", "met", "paused", "resumed", "escalated"]


@dataclass(frozen=True, slots=True)
class FollowUpDecision:
    """One decision of the follow-up follower, recorded as an event on the customer
    (``Customer.record_follow_up``). ``at`` is the decision's event time: the start, the due
    instant, the evidence's time, the pause or resume, the escalation's instant; ``observed_at``
    is the service's clock when the follower made it."""

    kind: DecisionKind
    customer_id: str
    plan: str
    rule_version: int
    at: datetime
    observed_at: datetime
    step: str = ""
    evidence: str = ""  # the trigger (started), the evidence touchpoint id (met) or "stage:<stage>"
    agent_id: str | None = None  # the rep (due) or the manager escalated to (escalated)
    action: str = ""  # the step's suggested action (due) or why this manager (escalated)
    due_at: datetime | None = None  # the step's due instant (met, escalated)

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes the decision once-only: a step's, or a pause's instant."""
        if self.kind in ("paused", "resumed"):
            return (self.kind, self.plan, self.at.isoformat())
        return (self.kind, self.plan, self.step)
