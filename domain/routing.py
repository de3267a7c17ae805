"""Lead routing (SPEC §4; seeds 000, 001, 004), deterministic and pure.

``decide`` maps (lead facts, rules, rule version, roster, loads, round-robin pointers) to a
Decision. ``RoutingFold`` folds the event log in order — rule revisions, roster changes,
touchpoints, assignments — and decides every new lead with the state at its position in
the log, so re-running the fold over history reproduces every recorded decision, and
running it with other rules is a back-test (``replay what-if``).

Pipeline: keywords tag the lead (urgent / high intent / VIP); the channel picks the team;
new hires (< new_hire_days) only get fresh leads without history; an expo scan with GPS
goes to the nearest available agent within expo_radius_km; otherwise the city, then the
skill (industry) narrow the candidates, and round robin picks among the narrowed set of
active agents under capacity; with nobody available the fallback owner takes it. The
lead score (city × industry × budget weights, ×2 when urgent, ×1.5 high intent) is the
priority.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from domain.customer import Customer
from domain.roster import Agent, Roster, RosterState
from domain.rules import RulesDocument, RuleSet, rules_from_dict
from domain.touchpoints import is_lead_touch
from domain.vocabulary import ROUTER

EARTH_RADIUS_KM: Final = 6371.0088


@dataclass(frozen=True, slots=True)
class Lead:
    customer_id: str
    touchpoint_id: str
    channel: str
    occurred_at: datetime
    text: str
    city: str | None
    industry: str | None
    budget_cny: float | None
    lat: float | None
    lon: float | None
    has_history: bool  # the customer had touchpoints before this lead


@dataclass(frozen=True, slots=True)
class Decision:
    customer_id: str
    agent_id: str
    decided_at: datetime
    rule_version: int
    matched_step: str
    reason: str
    priority: float
    tags: tuple[str, ...]
    pool_key: str = ""  # the round-robin pointer this decision advanced ("" when none)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def tags_for(lead: Lead, rules: RulesDocument) -> tuple[str, ...]:
    words = rules.keywords
    found = [
        tag
        for tag, keys in (("urgent", words.urgent), ("high_intent", words.high_intent), ("vip", words.vip))
        if any(k in lead.text for k in keys)
    ]
    return tuple(found)


def score(lead: Lead, rules: RulesDocument, tags: Sequence[str]) -> float:
    routing = rules.routing
    value = routing.city_weights.get(lead.city or "", 1.0) * routing.industry_weights.get(
        lead.industry or "", 1.0
    )
    if lead.budget_cny is not None:
        exceeded = [b for b in routing.budget_weights if lead.budget_cny > b.above_cny]
        if exceeded:  # the highest threshold the budget passes
            value *= max(exceeded, key=lambda b: b.above_cny).weight
    if "urgent" in tags:
        value *= 2.0
    if "high_intent" in tags:
        value *= 1.5
    return round(value, 6)


def decide(
    lead: Lead,
    rules: RulesDocument,
    rule_version: int,
    agents: Mapping[str, Agent],
    loads: Mapping[str, int],
    pointers: Mapping[str, int],
) -> Decision:
    tags = tags_for(lead, rules)
    priority = score(lead, rules, tags)
    routing = rules.routing
    team = routing.channel_teams.get(lead.channel)
    pool = [
        a
        for a in sorted(agents.values(), key=lambda a: a.agent_id)
        if a.status == "active" and loads.get(a.agent_id, 0) < a.capacity and (team is None or a.team == team)
    ]
    where = f"team {team}" if team else "all teams"
    if lead.has_history:
        cutoff = lead.occurred_at.date() - timedelta(days=routing.new_hire_days)
        pool = [a for a in pool if a.hired_on is None or a.hired_on <= cutoff]
        where += ", no new hires (lead has history)"

    def made(agent_id: str, step: str, reason: str, pool_key: str = "") -> Decision:
        return Decision(
            lead.customer_id,
            agent_id,
            lead.occurred_at,
            rule_version,
            step,
            f"{reason}; {where}; priority {priority:g}" + (f"; tags {', '.join(tags)}" if tags else ""),
            priority,
            tags,
            pool_key,
        )

    if lead.channel == "expo_scan" and lead.lat is not None and lead.lon is not None:
        located = [
            (haversine_km(lead.lat, lead.lon, a.lat, a.lon), a.agent_id)
            for a in pool
            if a.lat is not None and a.lon is not None
        ]
        near = sorted(d for d in located if d[0] <= routing.expo_radius_km)
        if near:
            distance, agent_id = near[0]
            return made(agent_id, "expo_nearest", f"nearest agent at the expo, {distance:.2f} km")
    steps: list[str] = []
    if lead.city:
        local = [a for a in pool if a.city == lead.city]
        if local:
            pool, steps = local, [*steps, f"city {lead.city}"]
    if lead.industry:
        skilled = [a for a in pool if lead.industry in a.skills]
        if skilled:
            pool, steps = skilled, [*steps, f"skill {lead.industry}"]
    if not pool:
        return made(routing.fallback_owner, "fallback", "no active agent with capacity")
    key = "|".join([team or "*", *steps])
    chosen = pool[pointers.get(key, 0) % len(pool)]
    step = "+".join(s.split()[0] for s in steps) or "team"
    return made(
        chosen.agent_id,
        f"{step}_round_robin",
        f"round robin among {len(pool)} ({', '.join(steps) or 'team'})",
        key,
    )


@dataclass
class RoutingFold:
    """The router's state as a fold over the log; ``feed`` returns the decisions to record."""

    rules_override: RulesDocument | None = None  # what-if: decide with these instead of the log's
    rule_versions: list[dict[str, Any]] = field(default_factory=list)
    roster: RosterState = field(default_factory=RosterState)
    loads: dict[str, int] = field(default_factory=dict)
    pointers: dict[str, int] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # customers with at least one touchpoint
    leads: set[str] = field(default_factory=set)  # customers whose lead was routed
    decisions: list[Decision] = field(default_factory=list)
    waiting: list[Lead] = field(default_factory=list)  # leads seen before any rules existed
    watermark: datetime | None = None  # the latest occurred_at fed: "now" in event time

    def feed(self, kind: str, customer_id: str, fields: dict[str, Any]) -> list[Decision]:
        """Applies one event; returns the decisions it triggers (in order)."""
        if kind == RuleSet.RulesRevised.__qualname__:
            self.rule_versions.append(fields["document"])
            waiting, self.waiting = self.waiting, []
            return [self._decide(lead) for lead in waiting]  # the first rules route the leads that waited
        if kind.startswith(f"{Roster.__name__}."):
            self.roster.apply(kind, fields)
        elif kind == Customer.LeadAssigned.__qualname__:
            if fields.get("actor") != ROUTER:  # the router's own decisions were counted when made
                self._assign(customer_id, fields["agent_id"])
        elif kind == Customer.TouchpointRecorded.__qualname__:
            self._advance(fields["occurred_at"])
            lead = self._lead(customer_id, fields)
            if lead is not None:
                if not self.rule_versions:  # (a what-if keeps the recorded timing: it waits too)
                    self.waiting.append(lead)
                    return []
                return [self._decide(lead)]
        return []

    def _advance(self, occurred_at: datetime | str) -> None:
        at = occurred_at if isinstance(occurred_at, datetime) else datetime.fromisoformat(occurred_at)
        if self.watermark is None or at > self.watermark:
            self.watermark = at

    def _lead(self, customer_id: str, fields: dict[str, Any]) -> Lead | None:
        history = customer_id in self.seen
        self.seen.add(customer_id)
        if (
            not is_lead_touch(fields["direction"], fields["channel"])
            or customer_id in self.leads
            or customer_id in self.owners
        ):
            return None
        self.leads.add(customer_id)
        return lead_from(customer_id, fields, history)

    def _decide(self, lead: Lead) -> Decision:
        customer_id = lead.customer_id
        rules = self.rules_override or rules_from_dict(self.rule_versions[-1])
        version = 0 if self.rules_override else len(self.rule_versions)
        decision = decide(lead, rules, version, self.roster.agents, self.loads, self.pointers)
        if decision.pool_key:
            self.pointers[decision.pool_key] = self.pointers.get(decision.pool_key, 0) + 1
        self._assign(customer_id, decision.agent_id)
        self.decisions.append(decision)
        return decision

    def _assign(self, customer_id: str, agent_id: str) -> None:
        previous = self.owners.get(customer_id)
        if previous is not None:
            self.loads[previous] = self.loads.get(previous, 1) - 1
        self.owners[customer_id] = agent_id
        self.loads[agent_id] = self.loads.get(agent_id, 0) + 1


def replay_decisions(
    events: Iterable[tuple[str, str, dict[str, Any]]], rules: RulesDocument | None = None
) -> list[Decision]:
    """Re-runs routing over logged ``(kind, customer_id, fields)`` events without writing.

    With ``rules=None`` every lead is decided under the version in force at its position in the
    log (this reproduces the recorded decisions); with a document (an older version or a draft)
    every lead is decided under it instead — the what-if back-test. Roster changes and manual
    assignments are taken from the log either way.
    """
    fold = RoutingFold(rules_override=rules)
    for kind, customer_id, fields in events:
        fold.feed(kind, customer_id, fields)
    return fold.decisions


def lead_from(customer_id: str, fields: dict[str, Any], history: bool) -> Lead:
    payload, contact = fields.get("payload") or {}, fields.get("contact") or {}
    occurred = fields["occurred_at"]
    text = " ".join(
        str(v)
        for v in (
            fields.get("summary"),
            payload.get("text"),
            payload.get("summary"),
            payload.get("diagnosis"),
            *(payload.get("fields") or {}).values(),
        )
        if v
    )
    budget = contact.get("budget_cny") or (payload.get("entities") or {}).get("budget_cny")
    return Lead(
        customer_id=customer_id,
        touchpoint_id=fields["touchpoint_id"],
        channel=fields["channel"],
        occurred_at=occurred if isinstance(occurred, datetime) else datetime.fromisoformat(occurred),
        text=text,
        city=contact.get("city"),
        industry=contact.get("industry"),
        budget_cny=float(budget) if budget is not None else None,
        lat=payload.get("lat"),
        lon=payload.get("lon"),
        has_history=history,
    )
