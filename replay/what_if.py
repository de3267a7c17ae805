"""Back-testing a rule change against real history (SPEC §5): ``replay what-if``.

The routing fold runs over the recorded log with another rules document in place of the
versions that were in force, writing nothing. Responses are taken as they happened
(relative to each lead), so predicted breaches use the recorded response times; the
report lists the assignments that would change, the breaches that would appear or
vanish, and the CTRE of the leads in the window.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from adapters.application import EventChain
from adapters.log_reader import log_events
from adapters.router import ROUTED_EVENTS
from domain.customer import Customer
from domain.routing import ROUTER, Decision, RoutingFold
from domain.rules import RulesDocument
from domain.sla import due_steps, response_minutes


@dataclass
class WhatIf:
    leads: int = 0
    changed: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # customer, actual, predicted, step
    breaches_actual: int = 0
    breaches_predicted: int = 0
    appear: list[str] = field(default_factory=list)  # customers that would breach but did not
    vanish: list[str] = field(default_factory=list)  # customers that breached but would not
    ctre_hours: float | None = None  # lead-share weighted mean response (as recorded, to the watermark)


def what_if(
    app: EventChain,
    rules: RulesDocument,
    start: datetime | None = None,
    end: datetime | None = None,
    customers: Collection[str] | None = None,
) -> WhatIf:
    """``customers``: only these (a role's visible customers); None for every customer."""
    fold = RoutingFold(rules_override=rules)
    actual_owner: dict[str, str] = {}
    predicted: dict[str, Decision] = {}
    for _, kind, originator, fields in log_events(app, ROUTED_EVENTS):
        for decision in fold.feed(kind, originator, fields):
            predicted[decision.customer_id] = decision
        if kind == "Customer.LeadAssigned" and fields.get("actor") == ROUTER:
            actual_owner.setdefault(originator, fields["agent_id"])
    now = fold.watermark
    report = WhatIf()
    response_hours: dict[str, list[float]] = {}
    for customer_id, decision in sorted(predicted.items()):
        if (start and decision.decided_at < start) or (end and decision.decided_at >= end):
            continue
        if customers is not None and customer_id not in customers:
            continue
        report.leads += 1
        actual = actual_owner.get(customer_id)
        if actual is not None and actual != decision.agent_id:
            report.changed.append((customer_id, actual, decision.agent_id, decision.matched_step))
        customer = app.get_customer(UUID(customer_id), follow_merges=False)
        would = _would_escalate(customer, rules, now)
        report.breaches_actual += bool(customer.escalated_steps)
        report.breaches_predicted += bool(would)
        if would and not customer.escalated_steps:
            report.appear.append(customer_id)
        if customer.escalated_steps and not would:
            report.vanish.append(customer_id)
        _response(customer, now, response_hours)
    report.ctre_hours = _ctre(response_hours)
    return report


def _would_escalate(customer: Customer, rules: RulesDocument, now: datetime | None) -> set[int]:
    """The steps the draft's SLA would escalate in event time (responses as recorded)."""
    lead, response = customer.first_inbound, customer.first_response
    if lead is None or now is None or customer.merged_into is not None:
        return set()
    sla = rules.sla
    due = due_steps(
        lead.occurred_at,
        response.occurred_at if response else None,
        response_minutes(sla, "vip" in customer.tags),
        sla.escalation_chain,
        now,
        working=sla.working_time(),
    )
    return {d.step for d in due}


def _response(customer: Customer, now: datetime | None, into: dict[str, list[float]]) -> None:
    lead, response = customer.first_inbound, customer.first_response
    if lead is None or now is None:
        return
    until = response.occurred_at if response else max(now, lead.occurred_at)
    into.setdefault(lead.channel, []).append((until - lead.occurred_at).total_seconds() / 3600)


def _ctre(per_channel: dict[str, list[float]]) -> float | None:
    total = sum(len(v) for v in per_channel.values())
    if not total:
        return None
    return sum((sum(v) / len(v)) * (len(v) / total) for v in per_channel.values())


def summary_lines(report: WhatIf, sample: int = 10) -> list[str]:
    lines = [
        f"{report.leads} leads replayed; {len(report.changed)} assignments would change",
        *(f"  {c[:8]}: {a} → {p} ({step})" for c, a, p, step in report.changed[:sample]),
        f"breaches: {report.breaches_actual} actual → {report.breaches_predicted} predicted "
        f"({len(report.appear)} would appear, {len(report.vanish)} would vanish)",
        "CTRE (responses as recorded): "
        + (
            "—"
            if report.ctre_hours is None
            else f"{report.ctre_hours:.2f} h actual = {report.ctre_hours:.2f} h predicted"
        ),
    ]
    return lines


def as_json(report: WhatIf) -> dict[str, Any]:
    return {
        "leads": report.leads,
        "changed": len(report.changed),
        "changes_sample": report.changed[:20],
        "breaches_actual": report.breaches_actual,
        "breaches_predicted": report.breaches_predicted,
        "appear": len(report.appear),
        "vanish": len(report.vanish),
        "ctre_hours": report.ctre_hours,
    }
