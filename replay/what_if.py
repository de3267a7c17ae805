"""Back-testing a rule change against real history (SPEC §5): ``replay what-if``.

The routing fold runs over the recorded log with another rules document in place of the
versions that were in force, writing nothing to the store. The figures are the views' own
(projections/schema.py): the log is projected by the real projector into a scratch DuckDB
file, the breached leads and CTRE are read from it, then the draft's hypothetical
escalations replace the recorded ``sla_breaches`` rows there and the same macros are read
again. Responses are taken as they happened (relative to each lead), so predicted
breaches use the recorded response times; deadlines run to "now" (the service's clock, or the
caller's), never only to the last event; the report lists the assignments that would
change, the breaches (leads, ``ec.breached_leads_of``) that would appear or vanish, and
the CTRE of the leads in the window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from adapters.log_reader import log_events
from application.event_chain import EventChain
from domain.customer import Customer
from domain.routing import Decision, RoutingFold
from domain.rules import RulesDocument
from domain.sla import due_steps, response_minutes
from domain.vocabulary import ROUTER
from followers.router import ROUTED_EVENTS
from projections.bulk import insert_rows
from projections.handlers import BREACH_COLUMNS
from projections.queries import Window
from replay.follow_up_what_if import PlanBackTest, back_test_plans
from replay.rebuild import build_views

SCOPE: Final = "what_if_scope"  # the customers back-tested (a temp table in the scratch views)
DRAFT_VERSION: Final = 0  # the rule version of a hypothetical decision (never a stored version)


@dataclass
class WhatIf:
    leads: int = 0
    changed: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # customer, actual, predicted, step
    breaches_actual: int = 0  # breached leads (ec.breached_leads_of) as recorded
    breaches_predicted: int = 0  # breached leads had the draft been in force
    appear: list[str] = field(default_factory=list)  # customers that would breach but did not
    vanish: list[str] = field(default_factory=list)  # customers that breached but would not
    ctre_hours: float | None = None  # the ctre view's figure for the leads in scope (responses as recorded)
    plans: PlanBackTest = field(default_factory=PlanBackTest)  # follow-up steps due and met in time


def what_if(
    app: EventChain,
    rules: RulesDocument,
    start: datetime | None = None,
    end: datetime | None = None,
    customers: Collection[str] | None = None,
    now: datetime | None = None,
) -> WhatIf:
    """``customers``: only these (a role's visible customers); None for every customer.
    Deadlines and plan steps run to ``now`` (default: the service's clock), not to the last
    event: a Friday lead whose Monday deadline lies after the last event still breaches."""
    horizon = now or app.clock()
    fold = RoutingFold(rules_override=rules)
    actual_owner: dict[str, str] = {}
    predicted: dict[str, Decision] = {}
    for _, kind, originator, fields in log_events(app, ROUTED_EVENTS):
        for decision in fold.feed(kind, originator, fields):
            predicted[decision.customer_id] = decision
        if kind == Customer.LeadAssigned.__qualname__ and fields.get("actor") == ROUTER:
            actual_owner.setdefault(originator, fields["agent_id"])
    with tempfile.TemporaryDirectory(prefix="eventchain-what-if-") as scratch:
        path = build_views(app, Path(scratch) / "what-if.duckdb").path
        with duckdb.connect(str(path)) as connection:
            report, leads = _figures(connection, rules, Window(start, end).bounds(), customers, horizon)
    report.plans = back_test_plans(app, rules, horizon, start, end, customers)
    for customer_id in leads:
        draft = predicted.get(customer_id)
        actual = actual_owner.get(customer_id)
        if draft is not None and actual is not None and actual != draft.agent_id:
            report.changed.append((customer_id, actual, draft.agent_id, draft.matched_step))
    return report


def _figures(
    connection: duckdb.DuckDBPyConnection,
    rules: RulesDocument,
    bounds: list[str],
    customers: Collection[str] | None,
    horizon: datetime,
) -> tuple[WhatIf, list[str]]:
    """The figures as recorded and under the draft's SLA, and the ids of the leads in scope."""
    connection.execute(f"CREATE TEMP TABLE {SCOPE} (customer_id VARCHAR)")
    if customers is None:
        connection.execute(f"INSERT INTO {SCOPE} SELECT CAST(customer_id AS VARCHAR) FROM ec.customers")
    else:
        insert_rows(connection, SCOPE, [("customer_id", "VARCHAR")], [(c,) for c in sorted(customers)])
    leads = connection.execute(
        f"""SELECT CAST(l.customer_id AS VARCHAR), l.lead_at, r.first_response_at,
                   list_contains(c.tags, 'vip'), ?::TIMESTAMPTZ
            FROM ec.lead_hours('{SCOPE}', ?, ?, (SELECT as_of FROM ec.watermark)) l
            JOIN ec.leads r USING (customer_id) JOIN customer_360 c USING (customer_id)
            ORDER BY 1""",
        [horizon, *bounds],
    ).fetchall()
    result = WhatIf(leads=len(leads), ctre_hours=_ctre_hours(connection, bounds))
    actual = _breached(connection, bounds)
    connection.execute("DELETE FROM sla_breaches")
    insert_rows(connection, "sla_breaches", BREACH_COLUMNS, _draft_breaches(rules, leads))
    would = _breached(connection, bounds)
    result.breaches_actual, result.breaches_predicted = len(actual), len(would)
    result.appear = sorted(would - actual)
    result.vanish = sorted(actual - would)
    return result, [row[0] for row in leads]


def _draft_breaches(rules: RulesDocument, leads: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The escalations the draft's SLA would have recorded, in event time up to the horizon."""
    sla, working = rules.sla, rules.working_time()
    rows: list[tuple[Any, ...]] = []
    for customer_id, lead_at, answered_at, vip, now in leads:
        due = due_steps(
            lead_at, answered_at, response_minutes(sla, bool(vip)), sla.escalation_chain, now, working=working
        )
        rows.extend((customer_id, d.deadline_at, d.role, d.step, DRAFT_VERSION) for d in due)
    return rows


def _breached(connection: duckdb.DuckDBPyConnection, bounds: list[str]) -> set[str]:
    rows = connection.execute(
        f"SELECT CAST(customer_id AS VARCHAR) FROM ec.breached_leads_of('{SCOPE}', ?, ?)", bounds
    ).fetchall()
    return {row[0] for row in rows}


def _ctre_hours(connection: duckdb.DuckDBPyConnection, bounds: list[str]) -> float | None:
    row = connection.execute(
        f"""SELECT ctre_hours FROM ec.ctre_of('{SCOPE}', ?, ?, (SELECT as_of FROM ec.watermark))
            WHERE channel = '*'""",
        bounds,
    ).fetchone()
    return None if row is None else float(row[0])


def summary_lines(report: WhatIf, sample: int = 10) -> list[str]:
    lines = [
        f"{report.leads} leads replayed; {len(report.changed)} assignments would change",
        *(f"  {c[:8]}: {a} → {p} ({step})" for c, a, p, step in report.changed[:sample]),
        f"breached leads: {report.breaches_actual} actual → {report.breaches_predicted} predicted "
        f"({len(report.appear)} would appear, {len(report.vanish)} would vanish)",
        "CTRE (responses as recorded): "
        + (
            "—"
            if report.ctre_hours is None
            else f"{report.ctre_hours:.2f} h actual = {report.ctre_hours:.2f} h predicted"
        ),
        _plan_line(report.plans),
    ]
    return lines


def _plan_line(plans: PlanBackTest) -> str:
    return (
        f"follow-up steps: {plans.due_actual} due, {plans.met_in_time_actual} met in time actual → "
        f"{plans.due_predicted} due, {plans.met_in_time_predicted} met in time predicted "
        f"({len(plans.changed)} decisions would change)"
    )


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
        "follow_up_steps_due_actual": report.plans.due_actual,
        "follow_up_steps_met_in_time_actual": report.plans.met_in_time_actual,
        "follow_up_steps_due_predicted": report.plans.due_predicted,
        "follow_up_steps_met_in_time_predicted": report.plans.met_in_time_predicted,
        "follow_up_decisions_changed": len(report.plans.changed),
    }
