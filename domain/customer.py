"""The Customer aggregate (one per customer) and the identity index aggregates.

Time never comes from a clock here: every command takes ``recorded_at`` as data.

Longer than 400 lines on purpose: the Customer aggregate is one consistency boundary, its
events and the commands that raise them read together, and the library stores each event's
topic as ``domain.customer:Customer.<Event>``, so moving an event class out would need a
topic registration for every stored event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.identities import UNIQUE_KINDS, clean_text, identity_index_id, identity_kind
from domain.plan_rules import DecisionKind, FollowUpDecision
from domain.touchpoints import (
    AcceptedTouchpoint,
    channel_of,
    contact_dict,
    is_lead_touch,
    payload_dict,
    summarise,
)
from domain.vocabulary import STAGES, Escalation

CUSTOMER_NAMESPACE: Final = UUID("0d9c2b8e-6a47-4f1b-8a53-7c1e9f04d2a6")
PROFILE_FIELDS: Final = ("name", "company", "city", "industry", "budget_cny")


def corrected_value(field: str, value: str) -> Any:
    """A correction typed in, as an envelope's contact field would be accepted: cleaned, not
    empty; ``budget_cny`` a non-negative amount. Raises ValueError naming the field."""
    text = clean_text(value).strip()
    if not text:
        raise ValueError(f"{field}: the corrected value is empty")
    if field != "budget_cny":
        return text
    try:
        budget = float(text.replace(",", ""))
    except ValueError:
        raise ValueError(f"budget_cny: {value!r} is not a number") from None
    if budget < 0 or budget != budget or budget == float("inf"):
        raise ValueError(f"budget_cny: {value!r} must be a non-negative amount")
    return budget


def correction_marker(originator_version: int) -> str:
    """Where a correction sorts among the observations of its instant: after every
    touchpoint id (``~`` sorts after them), so it wins over what was observed up to then."""
    return f"~correction:{originator_version:012d}"


def customer_id_for(first_touchpoint_id: str) -> UUID:
    """A new customer's id derives from the touchpoint that created it, so two writers
    creating the same customer collide on the store's uniqueness instead of forking it."""
    return uuid5(CUSTOMER_NAMESPACE, first_touchpoint_id)


@dataclass(frozen=True, slots=True)
class TouchpointFacts:
    """What the aggregate keeps of each touchpoint: enough for the chain and the rules."""

    touchpoint_id: str
    channel: str
    direction: str
    occurred_at: datetime
    actor: str | None
    summary: str

    @property
    def order_key(self) -> tuple[datetime, str]:
        return (self.occurred_at, self.touchpoint_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "touchpoint_id": self.touchpoint_id,
            "channel": self.channel,
            "direction": self.direction,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "summary": self.summary,
        }


class Customer(Aggregate):
    class Created(Aggregate.Created):
        pass

    class TouchpointRecorded(Aggregate.Event):
        touchpoint_id: str
        channel: str
        direction: str
        occurred_at: datetime
        actor: str | None
        identity_keys: list[str]
        contact: dict[str, Any]
        payload: dict[str, Any]
        summary: str

        def apply(self, aggregate: Customer) -> None:
            aggregate._add_facts(
                TouchpointFacts(
                    self.touchpoint_id,
                    self.channel,
                    self.direction,
                    self.occurred_at,
                    self.actor,
                    self.summary,
                )
            )
            aggregate.identity_keys.update(self.identity_keys)
            for key in self.identity_keys:
                aggregate.identity_sources.setdefault(key, set()).add(self.touchpoint_id)
            for field, value in self.contact.items():
                aggregate._observe_profile(field, value, (self.occurred_at, self.touchpoint_id))

    class IdentityLinkHeld(Aggregate.Event):
        """A touchpoint named this customer and another (or brought one value too many), and
        joining them would break an identity limit: the link is held as a duplicate
        candidate for an operator instead of fusing two parties (domain/identity_rules.py)."""

        touchpoint_id: str
        identity_key: str
        other_customer_id: UUID | None  # None: a value over the limit that no one else holds
        reason: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.held_links.add((self.identity_key, self.other_customer_id))

    class MergedInto(Aggregate.Event):
        survivor_id: UUID
        reason: str
        actor: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.merged_into = self.survivor_id

    class Absorbed(Aggregate.Event):
        absorbed_id: UUID
        touchpoints: list[dict[str, Any]]
        identity_keys: list[str]
        profile: dict[str, list[Any]]
        reason: str
        actor: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.absorbed_from.append(self.absorbed_id)
            for facts in self.touchpoints:
                aggregate._add_facts(TouchpointFacts(**facts))
            aggregate.identity_keys.update(self.identity_keys)
            brought = {facts["touchpoint_id"] for facts in self.touchpoints}
            for key in self.identity_keys:
                aggregate.identity_sources.setdefault(key, set()).update(brought)
            for field, (occurred_at, touchpoint_id, value) in self.profile.items():
                aggregate._observe_profile(field, value, (occurred_at, touchpoint_id))

    class Unmerged(Aggregate.Event):
        """The survivor gives back what an absorbed customer brought (``eventchain unmerge``)."""

        absorbed_id: UUID
        touchpoint_ids: list[str]
        identity_keys: list[str]
        reason: str
        actor: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.absorbed_from.remove(self.absorbed_id)
            for touchpoint_id in self.touchpoint_ids:
                aggregate.touchpoints.pop(touchpoint_id, None)
            aggregate.identity_keys.difference_update(self.identity_keys)
            given_back = set(self.touchpoint_ids)
            for key in list(aggregate.identity_sources):
                aggregate.identity_sources[key] -= given_back
                if not aggregate.identity_sources[key]:
                    del aggregate.identity_sources[key]
            aggregate.observations = [o for o in aggregate.observations if o[2] not in given_back]
            aggregate._recompute_profile()

    class Restored(Aggregate.Event):
        """An absorbed customer is live again after an unmerge."""

        survivor_id: UUID
        reason: str
        actor: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.merged_into = None

    class Corrected(Aggregate.Event):
        """A profile correction by a person (nothing is edited in place: this event is the edit)."""

        field: str
        value: Any
        reason: str
        actor: str
        corrected_at: datetime

        def apply(self, aggregate: Customer) -> None:
            marker = correction_marker(self.originator_version)
            aggregate._observe_profile(self.field, self.value, (self.corrected_at, marker))

    class TouchpointRetracted(Aggregate.Event):
        """A recorded touchpoint declared a mistake by a person (a call logged on the wrong
        customer, a reply that never went out). The original stays in the history; figures
        (first response, CTRE, follow-ups) no longer count it."""

        touchpoint_id: str
        reason: str
        actor: str
        retracted_at: datetime

        def apply(self, aggregate: Customer) -> None:
            aggregate.retracted.add(self.touchpoint_id)

    class PersonalDataErased(Aggregate.Event):
        """PIPL/GDPR erasure: the data keys of this customer (and of every customer merged
        into it) were destroyed; their personal fields read as erased from now on."""

        reason: str
        actor: str
        erased_ids: list[UUID]
        erased_at: datetime

        def apply(self, aggregate: Customer) -> None:
            aggregate.erased = True
            aggregate.identity_keys.clear()
            aggregate.identity_sources.clear()
            aggregate.profile.clear()
            aggregate.observations.clear()

    class LeadAssigned(Aggregate.Event):
        """A routing decision (also used for handovers: matched_step 'handover')."""

        agent_id: str
        decided_at: datetime  # event time of the decision, never a clock read
        rule_version: int
        matched_step: str
        reason: str
        priority: float
        actor: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.owner_agent_id = self.agent_id

    class FirstResponseOverdue(Aggregate.Event):
        """A missed first-response deadline, escalated to one step of the chain: the SLA
        watcher's decision on the service's clock, recorded with the instant it observed, so
        replays and rebuilds read it and never decide again."""

        deadline_at: datetime
        step: int  # 1-based position in the rules' escalation_chain
        escalated_to: str  # an agent id (events before the clock-driven watcher: "role:agent")
        rule_version: int
        # Added with the clock-driven watcher; events recorded before it lack them.
        observed_at: datetime | None = None  # the service's clock when the step was found due
        due_at: datetime | None = None  # when the step fell due (lateness = observed - due)
        role: str | None = None  # the chain entry, e.g. "manager"
        reason: str = ""  # why this agent, e.g. "manager of a-li (李经理)"

        def apply(self, aggregate: Customer) -> None:
            aggregate.escalated_steps.add(self.step)

    class StageChanged(Aggregate.Event):
        stage: str
        changed_at: datetime  # event time
        evidence: list[str]  # touchpoint ids that satisfied the stage gate
        actor: str
        reason: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.stage = self.stage

    class TagsChanged(Aggregate.Event):
        added: list[str]
        removed: list[str]
        changed_at: datetime  # event time
        reason: str

        def apply(self, aggregate: Customer) -> None:
            aggregate.tags = (aggregate.tags | set(self.added)) - set(self.removed)

    class FollowUpDecided(Aggregate.Event):
        """A decision of the follow-up follower (domain.plan_rules.FollowUpDecision); never
        stored itself: each kind of decision is one of the classes below."""

        plan: str
        step: str
        rule_version: int
        at: datetime  # event time of the decision
        observed_at: datetime  # the service's clock when the follower decided
        evidence: str
        agent_id: str | None
        action: str
        due_at: datetime | None

        def apply(self, aggregate: Customer) -> None:
            aggregate.follow_ups.add(follow_up_key(self.__class__.__name__, self.plan, self.step, self.at))

    class PlanStarted(FollowUpDecided):
        """A follow-up plan started (its trigger in ``evidence``) under ``rule_version``."""

    class StepCameDue(FollowUpDecided):
        """A plan step came due on the service's clock; the rep is told."""

    class StepMet(FollowUpDecided):
        """A plan step met by ``evidence`` (a touchpoint id, or ``stage:<stage>``) at ``at``."""

    class PlanPaused(FollowUpDecided):
        """A plan's clock stopped (a pause tag or stage at ``at``)."""

    class PlanResumed(FollowUpDecided):
        """A plan's clock started again (the customer's inbound touch at ``at``)."""

    class StepEscalated(FollowUpDecided):
        """A step unmet past the plan's grace, escalated to the rep's manager once."""

    def __init__(self) -> None:
        self.owner_agent_id: str | None = None
        self.stage: str | None = None
        self.tags: set[str] = set()
        self.escalated_steps: set[int] = set()
        self.follow_ups: set[tuple[str, str, str]] = set()  # FollowUpDecision.key of recorded ones
        self.touchpoints: dict[str, TouchpointFacts] = {}
        self.identity_keys: set[str] = set()
        self.identity_sources: dict[str, set[str]] = {}  # key → touchpoints that carried it
        self.profile: dict[str, tuple[datetime, str, Any]] = {}
        # every (field, occurred_at, touchpoint_id, value) seen: an unmerge recomputes the profile
        self.observations: list[tuple[str, datetime, str, Any]] = []
        self.merged_into: UUID | None = None
        self.absorbed_from: list[UUID] = []
        self.erased = False
        self.held_links: set[tuple[str, UUID | None]] = set()  # (identity key, the customer it would join)
        self.retracted: set[str] = set()

    @classmethod
    def start(cls, first_touchpoint_id: str, recorded_at: datetime) -> Customer:
        return cls._create(cls.Created, id=customer_id_for(first_touchpoint_id), timestamp=recorded_at)

    # --- commands -------------------------------------------------------------------

    def record_touchpoint(self, accepted: AcceptedTouchpoint, recorded_at: datetime) -> bool:
        """Appends the touchpoint; returns False (and records nothing) for a duplicate id."""
        self.check_live()
        if accepted.touchpoint_id in self.touchpoints:
            return False
        touchpoint = accepted.touchpoint
        self.trigger_event(
            self.TouchpointRecorded,
            timestamp=recorded_at,
            touchpoint_id=touchpoint.touchpoint_id,
            channel=channel_of(touchpoint),
            direction=touchpoint.direction,
            occurred_at=touchpoint.occurred_at,
            actor=touchpoint.actor,
            identity_keys=list(accepted.identity_keys),
            contact=contact_dict(touchpoint),
            payload=payload_dict(touchpoint),
            summary=summarise(touchpoint),
        )
        return True

    def hold_link(
        self, touchpoint_id: str, key: str, other: UUID | None, reason: str, recorded_at: datetime
    ) -> None:
        """Records that ``key`` links this customer to ``other`` but was not joined; once per link."""
        if (key, other) in self.held_links:
            return
        self.trigger_event(
            self.IdentityLinkHeld,
            timestamp=recorded_at,
            touchpoint_id=touchpoint_id,
            identity_key=key,
            other_customer_id=other,
            reason=reason,
        )

    def absorb(
        self, other: Customer, reason: str, actor: str, recorded_at: datetime, *, force: bool = False
    ) -> None:
        """Merges ``other`` into this customer: an event on each aggregate. Refused when the
        two carry different identities of a unique kind (e.g. two USCCs) unless forced."""
        self.check_live()
        other.check_live()
        if other.id == self.id:
            raise MergeRefusedError("a customer cannot absorb itself")
        conflicts = self.conflicting_unique_identities(other)
        if conflicts and not force:
            raise MergeRefusedError(f"merge protection: different unique identities {', '.join(conflicts)}")
        other.trigger_event(
            self.MergedInto, timestamp=recorded_at, survivor_id=self.id, reason=reason, actor=actor
        )
        self.trigger_event(
            self.Absorbed,
            timestamp=recorded_at,
            absorbed_id=other.id,
            touchpoints=[facts.as_dict() for facts in other.touchpoints.values()],
            identity_keys=sorted(other.identity_keys),
            profile={field: list(entry) for field, entry in other.profile.items()},
            reason=reason,
            actor=actor,
        )

    def give_back(self, absorbed: Customer, reason: str, actor: str, recorded_at: datetime) -> None:
        """Unmerges ``absorbed``: the survivor returns its touchpoints and identities, and the
        absorbed customer is live again (an event on each aggregate)."""
        if absorbed.merged_into != self.id or absorbed.id not in self.absorbed_from:
            raise MergeRefusedError(f"customer {absorbed.id} is not merged into {self.id}")
        self.trigger_event(
            self.Unmerged,
            timestamp=recorded_at,
            absorbed_id=absorbed.id,
            touchpoint_ids=sorted(absorbed.touchpoints),
            identity_keys=sorted(self.keys_only_from(set(absorbed.touchpoints))),
            reason=reason,
            actor=actor,
        )
        absorbed.trigger_event(
            self.Restored, timestamp=recorded_at, survivor_id=self.id, reason=reason, actor=actor
        )

    def keys_only_from(self, touchpoint_ids: set[str]) -> set[str]:
        """Identity keys that no touchpoint outside ``touchpoint_ids`` carried."""
        return {key for key, sources in self.identity_sources.items() if sources <= touchpoint_ids}

    def assign(
        self,
        agent_id: str,
        decided_at: datetime,
        rule_version: int,
        matched_step: str,
        reason: str,
        priority: float,
        actor: str,
        recorded_at: datetime,
    ) -> None:
        """A routing decision or a handover (matched_step "handover")."""
        self.trigger_event(
            self.LeadAssigned,
            timestamp=recorded_at,
            agent_id=agent_id,
            decided_at=decided_at,
            rule_version=rule_version,
            matched_step=matched_step,
            reason=reason,
            priority=priority,
            actor=actor,
        )

    def change_tags(
        self, added: list[str], removed: list[str], changed_at: datetime, reason: str, recorded_at: datetime
    ) -> bool:
        added = sorted(set(added) - self.tags)
        removed = sorted(set(removed) & self.tags)
        if not added and not removed:
            return False
        self.trigger_event(
            self.TagsChanged,
            timestamp=recorded_at,
            added=added,
            removed=removed,
            changed_at=changed_at,
            reason=reason,
        )
        return True

    def escalate(self, escalation: Escalation, recorded_at: datetime) -> bool:
        """Records a missed first-response deadline for one escalation step, once."""
        if escalation.step in self.escalated_steps:
            return False
        self.trigger_event(
            self.FirstResponseOverdue,
            timestamp=recorded_at,
            deadline_at=escalation.deadline_at,
            step=escalation.step,
            escalated_to=escalation.escalated_to,
            rule_version=escalation.rule_version,
            observed_at=escalation.observed_at,
            due_at=escalation.due_at,
            role=escalation.role,
            reason=escalation.reason,
        )
        return True

    def record_follow_up(self, decision: FollowUpDecision, recorded_at: datetime) -> bool:
        """Records a follow-up decision, once (its key: a step's, or a pause's instant)."""
        if decision.key in self.follow_ups:
            return False
        self.trigger_event(
            FOLLOW_UP_EVENTS[decision.kind],
            timestamp=recorded_at,
            plan=decision.plan,
            step=decision.step,
            rule_version=decision.rule_version,
            at=decision.at,
            observed_at=decision.observed_at,
            evidence=decision.evidence,
            agent_id=decision.agent_id,
            action=decision.action,
            due_at=decision.due_at,
        )
        return True

    def correct(self, field: str, value: Any, reason: str, actor: str, recorded_at: datetime) -> None:
        if field not in PROFILE_FIELDS:
            raise ValueError(f"field {field!r} cannot be corrected; one of {', '.join(PROFILE_FIELDS)}")
        if not reason.strip() or not actor.strip():
            raise ValueError("a correction needs a reason and an actor")
        self.trigger_event(
            self.Corrected,
            timestamp=recorded_at,
            field=field,
            value=value,
            reason=reason,
            actor=actor,
            corrected_at=recorded_at,
        )

    def retract_touchpoint(self, touchpoint_id: str, reason: str, actor: str, recorded_at: datetime) -> None:
        """Declares an outbound touchpoint a mistake; the history keeps it."""
        self.check_live()
        facts = self.touchpoints.get(touchpoint_id)
        if facts is None:
            raise ValueError(f"touchpoint {touchpoint_id!r} is not on this customer")
        if facts.direction != "outbound":
            raise ValueError("only outbound touchpoints (what we did) can be retracted")
        if touchpoint_id in self.retracted:
            raise ValueError(f"touchpoint {touchpoint_id!r} is already retracted")
        if not reason.strip() or not actor.strip():
            raise ValueError("a retraction needs a reason and an actor")
        self.trigger_event(
            self.TouchpointRetracted,
            timestamp=recorded_at,
            touchpoint_id=touchpoint_id,
            reason=reason.strip(),
            actor=actor,
            retracted_at=recorded_at,
        )

    def change_stage(
        self,
        stage: str,
        changed_at: datetime,
        evidence: list[str],
        actor: str,
        reason: str,
        recorded_at: datetime,
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
        missing = [e for e in evidence if e not in self.touchpoints]
        if missing:
            raise ValueError(f"evidence not on this customer: {', '.join(missing)}")
        self.trigger_event(
            self.StageChanged,
            timestamp=recorded_at,
            stage=stage,
            changed_at=changed_at,
            evidence=evidence,
            actor=actor,
            reason=reason,
        )

    # --- rules ----------------------------------------------------------------------

    def check_live(self) -> None:
        if self.merged_into is not None:
            raise CustomerMergedError(self.id, self.merged_into)

    def erase(self, erased_ids: list[UUID], reason: str, actor: str, recorded_at: datetime) -> None:
        if not reason.strip():
            raise ValueError("an erasure needs a reason")
        self.trigger_event(
            self.PersonalDataErased,
            timestamp=recorded_at,
            reason=reason,
            actor=actor,
            erased_ids=erased_ids,
            erased_at=recorded_at,
        )

    def conflicting_unique_identities(self, other: Customer) -> list[str]:
        """Unique-kind identities (e.g. two different USCCs) that forbid merging."""
        conflicts: set[str] = set()
        for kind in UNIQUE_KINDS:
            mine = {k for k in self.identity_keys if identity_kind(k) == kind}
            theirs = {k for k in other.identity_keys if identity_kind(k) == kind}
            if mine and theirs and mine != theirs:
                conflicts |= mine ^ theirs
        return sorted(conflicts)

    # --- derived state --------------------------------------------------------------

    @property
    def chain(self) -> list[TouchpointFacts]:
        """Every touchpoint in event-time order (never arrival order)."""
        return sorted(self.touchpoints.values(), key=lambda facts: facts.order_key)

    @property
    def first_touch(self) -> TouchpointFacts | None:
        return min(self.touchpoints.values(), key=lambda facts: facts.order_key, default=None)

    @property
    def first_inbound(self) -> TouchpointFacts | None:
        """The lead: the first inbound touch on a contact channel (imports are not leads)."""
        inbound = (f for f in self.touchpoints.values() if is_lead_touch(f.direction, f.channel))
        return min(inbound, key=lambda facts: facts.order_key, default=None)

    @property
    def first_response(self) -> TouchpointFacts | None:
        """The first outbound touchpoint after the first inbound one."""
        lead = self.first_inbound
        if lead is None:
            return None
        replies = (
            f
            for f in self.touchpoints.values()
            if f.direction == "outbound"
            and f.order_key > lead.order_key
            and f.touchpoint_id not in self.retracted
        )
        return min(replies, key=lambda facts: facts.order_key, default=None)

    def profile_value(self, field: str) -> Any:
        entry = self.profile.get(field)
        return None if entry is None else entry[2]

    def state(self) -> dict[str, Any]:
        """A comparable picture of the aggregate's state (tests compare replays with it)."""
        return {
            "id": self.id,
            "version": self.version,
            "touchpoints": {k: v.as_dict() for k, v in sorted(self.touchpoints.items())},
            "identity_keys": sorted(self.identity_keys),
            "profile": dict(sorted(self.profile.items())),
            "merged_into": self.merged_into,
            "absorbed_from": list(self.absorbed_from),
            "owner_agent_id": self.owner_agent_id,
            "stage": self.stage,
            "tags": sorted(self.tags),
            "escalated_steps": sorted(self.escalated_steps),
            "follow_ups": sorted(self.follow_ups),
            "held_links": sorted(self.held_links, key=str),
            "retracted": sorted(self.retracted),
        }

    def _add_facts(self, facts: TouchpointFacts) -> None:
        self.touchpoints[facts.touchpoint_id] = facts

    def _observe_profile(self, field: str, value: Any, at: tuple[datetime, str]) -> None:
        # The value observed at the latest event time wins, whatever the arrival order.
        if value is None:
            return
        self.observations.append((field, at[0], at[1], value))
        current = self.profile.get(field)
        if current is None or at > current[:2]:
            self.profile[field] = (at[0], at[1], value)

    def _recompute_profile(self) -> None:
        self.profile = {}
        for field, occurred_at, touchpoint_id, value in self.observations:
            current = self.profile.get(field)
            if current is None or (occurred_at, touchpoint_id) > current[:2]:
                self.profile[field] = (occurred_at, touchpoint_id, value)


FOLLOW_UP_EVENTS: Final[dict[DecisionKind, type[Aggregate.Event]]] = {
    "started": Customer.PlanStarted,
    "due": Customer.StepCameDue,
    "met": Customer.StepMet,
    "paused": Customer.PlanPaused,
    "resumed": Customer.PlanResumed,
    "escalated": Customer.StepEscalated,
}
FOLLOW_UP_KINDS: Final[dict[str, DecisionKind]] = {
    cls.__name__: kind for kind, cls in FOLLOW_UP_EVENTS.items()
}


def follow_up_key(event_name: str, plan: str, step: str, at: datetime) -> tuple[str, str, str]:
    """``FollowUpDecision.key`` of a recorded follow-up event."""
    kind = FOLLOW_UP_KINDS[event_name]
    return (kind, plan, at.isoformat()) if kind in ("paused", "resumed") else (kind, plan, step)


class IdentityIndex(Aggregate):
    """One per external identity key; its id is uuid5 of the key, so the store's
    uniqueness on (id, version) makes claiming an identity race-free."""

    class Created(Aggregate.Created):
        key: str
        customer_id: UUID

    class Released(Aggregate.Event):
        """The customer holding this identity was erased: the identity is free again."""

        reason: str

        def apply(self, aggregate: IdentityIndex) -> None:
            aggregate.customer_id = None

    class Reclaimed(Aggregate.Event):
        customer_id: UUID

        def apply(self, aggregate: IdentityIndex) -> None:
            aggregate.customer_id = self.customer_id

    def __init__(self, key: str, customer_id: UUID) -> None:
        self.key = key
        self.customer_id: UUID | None = customer_id

    def release(self, reason: str, recorded_at: datetime) -> None:
        if self.customer_id is not None:
            self.trigger_event(self.Released, timestamp=recorded_at, reason=reason)

    def reclaim(self, customer_id: UUID, recorded_at: datetime) -> None:
        self.trigger_event(self.Reclaimed, timestamp=recorded_at, customer_id=customer_id)

    @classmethod
    def claim(cls, key: str, customer_id: UUID, recorded_at: datetime) -> IdentityIndex:
        return cls._create(
            cls.Created,
            id=identity_index_id(key),
            timestamp=recorded_at,
            key=key,
            customer_id=customer_id,
        )


class CustomerMergedError(Exception):
    """The customer was merged into another; commands go to the survivor."""

    def __init__(self, customer_id: UUID, survivor_id: UUID) -> None:
        super().__init__(f"customer {customer_id} was merged into {survivor_id}")
        self.customer_id = customer_id
        self.survivor_id = survivor_id


class MergeRefusedError(Exception):
    """A merge that the rules forbid."""
