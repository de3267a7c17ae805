"""What the demo does with rules: apply the example rules and team, route the leads, run
the SLA watcher and the silence tagger with their clock set to the scenario's latest event
time (the seed stories are dated March 2026; `serve` runs them on the wall clock), print
assignments and escalations."""

from __future__ import annotations

import tomllib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from application.event_chain import EventChain
from application.rules import apply_rules, change_stage, join, last_rule_version, roster
from domain.customer import Customer
from domain.roster import Agent
from domain.vocabulary import STAGES
from eventchain.output import minute, zone_caption
from followers.router import Router
from followers.silence import apply_silence
from followers.sla_watcher import check_sla

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def setup_and_route(console: Console, app: EventChain) -> None:
    known = roster(app).agents
    for data in tomllib.loads((EXAMPLES / "team.toml").read_text(encoding="utf-8"))["agent"]:
        if data["agent_id"] not in known:
            join(app, Agent.from_dict(data), "demo")
    if last_rule_version(app) is None:
        apply_rules(app, (EXAMPLES / "rules.toml").read_text(encoding="utf-8"), "demo", "example rules")
    router = Router(app)
    routed = router.tick()
    scenario_now = router.fold.watermark  # the scenario's "now": its latest event time
    if scenario_now is None:
        return
    escalations = check_sla(app, scenario_now)
    tagged, _ = apply_silence(app, scenario_now)
    console.print(
        f"[bold]routed[/] {routed} new leads with rules v{last_rule_version(app)}; "
        f"[bold]SLA[/] {len(escalations)} escalations appended (clock set to the scenario's "
        f"{scenario_now.isoformat(timespec='minutes')}, once per step); {tagged} customers tagged silent"
    )
    table = Table(title="First escalations (FirstResponseOverdue events)", caption=zone_caption())
    for column in ("customer", "step", "escalated to", "why", "deadline"):
        table.add_column(column)
    for escalation in escalations[:5]:
        table.add_row(
            escalation.customer_id[:8],  # the prefix `customer` takes
            f"{escalation.step} {escalation.role}",
            escalation.escalated_to,
            escalation.reason,
            minute(escalation.deadline_at),
        )
    if escalations:
        console.print(table)
    moved = advance_pipeline(app)
    console.print(f"[bold]pipeline[/] {moved} stage moves by the owners, each with its evidence")


# What the reps do with their leads in the demo: a share of the answered leads moves on, by
# the customer's number in id order (deterministic, so a second run moves nothing), each move
# with evidence its stage gate accepts (examples/rules.toml): contacted (answered), requirement
# (an inbound on 400/WeCom/web form: 4 in 5), solution (an outbound: 3 in 5), contract (an
# outbound on WeCom/400: 2 in 5), won (1 in 5); the fifth, never taken further, is lost.
PIPELINE_ACTOR = "demo"


def advance_pipeline(app: EventChain) -> int:
    moved = 0
    for number, customer_id in enumerate(sorted(app.customer_ids())):
        customer = app.get_customer(customer_id, follow_merges=False)
        if customer.merged_into is not None or customer.owner_agent_id is None:
            continue
        for stage, evidence in _stages_shown(customer, number):
            if customer.stage == stage:
                continue
            if _rank(customer.stage) >= _rank(stage):
                continue
            change_stage(app, str(customer.id), stage, [evidence], customer.owner_agent_id, "demo pipeline")
            customer = app.get_customer(customer_id)
            moved += 1
    return moved


def _rank(stage: str | None) -> int:
    return -1 if stage is None else STAGES.index(stage)


def _stages_shown(customer: Customer, number: int) -> list[tuple[str, str]]:
    chain = sorted(customer.touchpoints.values(), key=lambda t: (t.occurred_at, t.touchpoint_id))
    outbound = [t for t in chain if t.direction == "outbound"]
    if not outbound:
        return []
    share = number % 5
    found = [("contacted", outbound[0].touchpoint_id)]
    asked = [
        t for t in chain if t.direction == "inbound" and t.channel in ("call_400", "wecom_msg", "web_form")
    ]
    if share == 4 or not asked:
        return [*found, ("lost", outbound[-1].touchpoint_id)] if share == 4 else found
    found.append(("requirement", asked[-1].touchpoint_id))
    if share == 3:
        return found
    found.append(("solution", outbound[-1].touchpoint_id))
    signed = [t for t in outbound if t.channel in ("wecom_msg", "call_400")]
    if share == 2 or not signed:
        return found
    found.append(("contract", signed[-1].touchpoint_id))
    return [*found, ("won", signed[-1].touchpoint_id)] if share == 0 else found
