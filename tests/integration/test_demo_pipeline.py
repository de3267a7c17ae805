"""The demo's reps move their leads along the funnel, each move through the stage gate with
its evidence, once: a director's funnel shows conversion between stages, not only leads."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from adapters.log_reader import log_events
from application.event_chain import EventChain
from domain.customer import Customer
from domain.touchpoints import decode_touchpoint
from eventchain.demo_routing import advance_pipeline, setup_and_route
from eventchain.scenarios import seed_touchpoints
from tests.projection_support import project


def test_the_demo_pipeline_moves_leads_through_the_gates_once(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record([decode_touchpoint(json.dumps(e, ensure_ascii=False)) for e in seed_touchpoints(40)])
    setup_and_route(Console(file=io.StringIO()), app)

    moves = [fields for _, _, _, fields in log_events(app, [Customer.StageChanged])]
    assert moves and all(fields["evidence"] for fields in moves)
    assert advance_pipeline(app) == 0  # a second run moves nothing

    views = project(app, tmp_path / "views.duckdb")
    found = views.connection.execute("SELECT stage, count(*) FROM customer_360 GROUP BY ALL").fetchall()
    stages = dict(found)
    assert {"contacted", "requirement", "solution", "contract", "won", "lost"} <= set(stages)
