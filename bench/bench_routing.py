"""Routing and SLA throughput on PostgreSQL: ``route_pending`` (fold + write decisions with the
router's position) next to the pure fold over the same log (``replay_decisions``, no writes),
then one ``check_sla`` pass and an idle router pass (nothing new: the cost serve pays per tick)."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

from adapters.log_reader import log_events
from application.event_chain import EventChain
from application.rules import apply_rules, join
from bench.harness import BenchContext, Figure, stopwatch
from bench.workload import START, accepted_touchpoints
from domain.roster import Agent
from domain.routing import replay_decisions
from followers.router import ROUTED_EVENTS, route_pending
from followers.sla_watcher import check_sla

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
END_OF_WORKLOAD = START + timedelta(days=130)


def _prepared(ctx: BenchContext) -> EventChain:
    app = EventChain.from_url(ctx.postgres_url())
    for data in tomllib.loads((EXAMPLES / "team.toml").read_text(encoding="utf-8"))["agent"]:
        join(app, Agent.from_dict(data), "bench")
    apply_rules(app, (EXAMPLES / "rules.toml").read_text(encoding="utf-8"), "bench", "bench rules")
    touchpoints = accepted_touchpoints(ctx.scaled(20_000), ctx.scaled(5_000), seed=7, prefix="r")
    app.record(touchpoints)
    return app


def run(ctx: BenchContext) -> list[Figure]:
    app = _prepared(ctx)
    with stopwatch() as fold_time:
        logged = log_events(app, ROUTED_EVENTS)
        events = [(kind, originator, fields) for _, kind, originator, fields in logged]
        leads = len(replay_decisions(events))
    with stopwatch() as route_time:
        routed = route_pending(app)
    with stopwatch() as idle_time:
        route_pending(app)
    with stopwatch() as sla_time:
        escalations = check_sla(app, END_OF_WORKLOAD)
    return [
        Figure(
            "route_pending leads/s (PostgreSQL, decisions + position in one transaction)",
            routed / route_time[0],
            "leads/s",
            "every lead routed once; replay reproduces it",
            "pure routing fold over the same log (read + decide, no writes)",
            leads / fold_time[0],
            notes=f"{routed} leads from {len(events)} events",
        ),
        Figure(
            "idle router pass (nothing new)",
            idle_time[0],
            "s",
            "cost of one serve tick with no new leads",
            "first routing pass",
            route_time[0],
        ),
        Figure(
            "check_sla pass",
            sla_time[0],
            "s",
            "escalations appended once per step",
            notes=f"{len(escalations)} escalations",
        ),
    ]
