"""Use cases over the versioned rules and the roster (SPEC §4)."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from adapters.log_reader import log_events
from application.event_chain import EventChain
from domain.customer import Customer
from domain.identity_rules import DEFAULT_IDENTITY_RULES, IdentityRules
from domain.roster import ROSTER_ID, Agent, Roster
from domain.rules import (
    RULESET_ID,
    RulesDocument,
    RuleSet,
    blocked_keys,
    field_dictionaries,
    parse_rules,
    rules_from_dict,
)


def ruleset(app: EventChain) -> RuleSet:
    try:
        found: RuleSet = app.repository.get(RULESET_ID)
        return found
    except AggregateNotFoundError:
        return RuleSet.start(app.clock())


def apply_rules(app: EventChain, text: str, author: str, note: str) -> int:
    """Validates the document (nothing is appended when invalid) and appends version N+1."""
    document: RulesDocument = parse_rules(text)
    rules = ruleset(app)
    version = rules.revise(document, author, note, app.clock())
    app.save(rules)
    return version


def rollback_rules(app: EventChain, version: int, author: str, note: str) -> int:
    rules = ruleset(app)
    new_version = rules.rollback(version, author, note, app.clock())
    app.save(rules)
    return new_version


def last_rule_version(app: EventChain) -> int | None:
    try:
        rules: RuleSet = app.repository.get(RULESET_ID)
    except AggregateNotFoundError:
        return None
    return rules.current or None


def rules_in_force(app: EventChain) -> RulesDocument | None:
    """The newest rules document (None before any rules were applied)."""
    try:
        rules: RuleSet = app.repository.get(RULESET_ID)
    except AggregateNotFoundError:
        return None
    return rules_from_dict(rules.document(rules.current)) if rules.current else None


def blocked_identities(app: EventChain) -> frozenset[str]:
    """The identity keys the rules in force leave out of identity resolution."""
    document = _document_in_force(app)
    return frozenset() if document is None else blocked_keys(document)


def identity_rules(app: EventChain) -> IdentityRules:
    """The identity limits and priorities in force (the defaults before any rules)."""
    document = _document_in_force(app)
    return DEFAULT_IDENTITY_RULES if document is None else document.identities.rules()


def _document_in_force(app: EventChain) -> RulesDocument | None:
    try:
        rules: RuleSet = app.repository.get(RULESET_ID)
    except AggregateNotFoundError:
        return None
    if not rules.current:
        return None
    return rules_from_dict(rules.document(rules.current))


def field_dictionaries_in_force(app: EventChain) -> tuple[int, dict[str, frozenset[str]]]:
    """The rules version in force and its form field dictionaries (``[dictionaries]``)."""
    try:
        rules: RuleSet = app.repository.get(RULESET_ID)
    except AggregateNotFoundError:
        return 0, {}
    if not rules.current:
        return 0, {}
    return rules.current, field_dictionaries(rules_from_dict(rules.document(rules.current)))


def roster(app: EventChain) -> Roster:
    try:
        found: Roster = app.repository.get(ROSTER_ID)
        return found
    except AggregateNotFoundError:
        return Roster.start(app.clock())


def join(app: EventChain, agent: Agent, actor: str) -> None:
    team = roster(app)
    team.join(agent, actor, app.clock())
    app.save(team)


def update(app: EventChain, agent_id: str, changes: dict[str, Any], actor: str) -> None:
    team = roster(app)
    team.update(agent_id, changes, actor, app.clock())
    app.save(team)


def leave(app: EventChain, agent_id: str, reason: str, actor: str) -> dict[str, int]:
    """The agent leaves; every live customer they own is handed over (to their manager and up
    the chain within each one's capacity, the rest to the pool) with a LeadAssigned event
    carrying actor and reason — in ONE transaction. Customers merged away are skipped: their
    survivor is the one owned. Returns how many each taker received."""
    team = roster(app)
    now = app.clock()
    current = owners(app)
    live = {}
    for customer_id in owned_by(app, agent_id, current):
        customer = app.get_customer(customer_id, follow_merges=False)
        if customer.merged_into is None:
            live[customer_id] = customer
    load = Counter(current.values())
    plan = team.plan_handover(agent_id, sorted(live, key=str), load)
    team.leave(agent_id, reason, actor, now)
    version = last_rule_version(app) or 0  # the version in force when the handover happened
    for customer_id, customer in live.items():
        taker = plan[customer_id]
        customer.assign(taker, now, version, "handover", f"{agent_id} left: {reason}", 0.0, actor, now)
    app.save(team, *live.values())
    return dict(Counter(plan.values()))


def owners(app: EventChain) -> dict[str, str]:
    """Current owner of every assigned customer, from the LeadAssigned events in log order."""
    assigned = log_events(app, [Customer.LeadAssigned], personal=False)
    return {customer_id: fields["agent_id"] for _, _, customer_id, fields in assigned}


def owned_by(app: EventChain, agent_id: str, current: dict[str, str] | None = None) -> list[UUID]:
    owner_of = owners(app) if current is None else current
    return [UUID(c) for c, owner in owner_of.items() if owner == agent_id]


def change_stage(
    app: EventChain, reference: str, stage: str, evidence: list[str], actor: str, reason: str
) -> None:
    """Moves a customer to ``stage`` if the evidence touchpoints satisfy the rules' gate."""
    from domain.rules import RulesError, rules_from_dict

    customer = app.find_customer(reference)
    rules = ruleset(app)
    gate = rules_from_dict(rules.document(rules.current)).stages.get(stage) if rules.current else None
    facts = [customer.touchpoints[e] for e in evidence if e in customer.touchpoints]
    if len(facts) != len(evidence):
        missing = sorted(set(evidence) - set(customer.touchpoints))
        raise RulesError("--evidence", f"not touchpoints of this customer: {', '.join(missing)}")
    if gate is not None:
        fitting = [
            f
            for f in facts
            if (not gate.channels or f.channel in gate.channels)
            and (gate.direction is None or f.direction == gate.direction)
        ]
        if not fitting:
            wanted = f"{gate.direction or 'any'} touchpoint on {', '.join(gate.channels) or 'any channel'}"
            raise RulesError(f"$.stages.{stage}", f"entering {stage} needs evidence: a {wanted}")
    changed_at = max((f.occurred_at for f in facts), default=app.clock())
    customer.change_stage(stage, changed_at, evidence, actor, reason, app.clock())
    app.save(customer)
