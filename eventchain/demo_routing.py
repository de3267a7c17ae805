"""What the demo does with rules: apply the example rules and team, route the leads, run
the SLA watcher at the scenario's latest event time, print assignments and escalations."""

from __future__ import annotations

import tomllib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters.application import EventChain
from adapters.router import apply_silence, check_sla, route_pending
from adapters.rules import apply_rules, join, last_rule_version, roster
from domain.roster import Agent

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def setup_and_route(console: Console, app: EventChain) -> None:
    known = roster(app).agents
    for data in tomllib.loads((EXAMPLES / "team.toml").read_text(encoding="utf-8"))["agent"]:
        if data["agent_id"] not in known:
            join(app, Agent.from_dict(data), "demo")
    if last_rule_version(app) is None:
        apply_rules(app, (EXAMPLES / "rules.toml").read_text(encoding="utf-8"), "demo", "example rules")
    routed = route_pending(app)
    escalations = check_sla(app)
    tagged, _ = apply_silence(app)
    console.print(
        f"[bold]routed[/] {routed} new leads with rules v{last_rule_version(app)}; "
        f"[bold]SLA[/] {len(escalations)} escalations appended (event time, once per step); "
        f"{tagged} customers tagged silent"
    )
    table = Table(title="First escalations (FirstResponseOverdue events)")
    for column in ("customer", "step", "escalated to", "deadline"):
        table.add_column(column)
    for escalation in escalations[:5]:
        table.add_row(
            escalation.customer_id[:8],
            str(escalation.step),
            escalation.escalated_to,
            escalation.deadline_at.isoformat(timespec="minutes"),
        )
    if escalations:
        console.print(table)
