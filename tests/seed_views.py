"""The seed scenarios through the real pipeline into a DuckDB file, for the read-path tests.

The seed stories are recorded into a SQLite store, the example team and rules applied, the
leads routed and the SLA watcher and silence tagger run at the scenario's latest event time
(what ``eventchain demo`` does), then the log is projected by the real projector
(``replay.rebuild.build_views``): the tests read exactly what analysts and the report read.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from application.event_chain import EventChain
from domain.touchpoints import decode_touchpoint
from eventchain.demo_routing import setup_and_route
from eventchain.scenarios import seed_touchpoints
from replay.rebuild import build_views


def build_seed_views(workdir: Path, customers: int = 30) -> Path:
    """Records, routes and projects the seed scenarios; returns the views file's path."""
    app = EventChain.from_url(f"sqlite:///{workdir / 'events.db'}")
    envelopes = [json.dumps(e, ensure_ascii=False).encode() for e in seed_touchpoints(customers)]
    app.record([decode_touchpoint(raw) for raw in envelopes])
    setup_and_route(Console(file=io.StringIO()), app)
    return build_views(app, workdir / "views.duckdb").path
