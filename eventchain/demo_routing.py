"""What the demo does with rules: apply the example rules and team, route the leads, run
the SLA watcher and the silence tagger with their clock set to the scenario's latest event
time (the seed stories are dated March 2026; `serve` runs them on the wall clock), print
assignments and escalations."""

from __future__ import annotations

import tomllib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters.application import EventChain
from adapters.router import Router
from adapters.rules import apply_rules, join, last_rule_version, roster
from adapters.silence import apply_silence
from adapters.sla_watcher import check_sla
from domain.roster import Agent

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
    table = Table(title="First escalations (FirstResponseOverdue events)")
    for column in ("customer", "step", "escalated to", "why", "deadline"):
        table.add_column(column)
    for escalation in escalations[:5]:
        table.add_row(
            escalation.customer_id,
            f"{escalation.step} {escalation.role}",
            escalation.escalated_to,
            escalation.reason,
            escalation.deadline_at.isoformat(timespec="minutes"),
        )
    if escalations:
        console.print(table)
