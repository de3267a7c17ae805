"""The projector as OS processes: analysts reading the snapshot while it writes, and a
projector killed with SIGKILL that resumes exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from application.event_chain import EventChain
from bench.workload import accepted_touchpoints
from projections.projector import APPLICATION_NAME, Projector
from projections.snapshot import publish_snapshot
from projections.views import DuckDBViews
from tests.projection_support import all_contents, project

ROOT = Path(__file__).resolve().parents[2]

READER = textwrap.dedent("""
    import json, sys, time, os
    import duckdb
    snapshot, stop_file, out = sys.argv[1:4]
    reads = errors = inconsistent = 0
    positions = set()
    messages = []
    while not os.path.exists(stop_file):
        if not os.path.exists(snapshot):
            time.sleep(0.01)
            continue
        try:
            with duckdb.connect(snapshot, read_only=True) as con:
                row = con.execute(
                    "SELECT (SELECT coalesce(sum(leads), 0) FROM ctre WHERE channel <> '*'),"
                    " (SELECT count(*) FROM lead_response),"
                    " (SELECT coalesce(max(notification_id), 0) FROM ec.tracking),"
                    " (SELECT count(*) FROM customer_360)").fetchone()
            reads += 1
            positions.add(row[2])
            if row[0] != row[1]:
                inconsistent += 1
        except Exception as error:
            errors += 1
            messages.append(str(error)[:200])
    json.dump({"reads": reads, "errors": errors, "inconsistent": inconsistent,
               "positions": sorted(positions), "messages": messages[:5]}, open(out, "w"))
""")


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> EventChain:
    """~100,000 stored events (60,000 touchpoints of 15,000 customers) in SQLite."""
    directory = tmp_path_factory.mktemp("big")
    app = EventChain.from_url(f"sqlite:///{directory / 'events.db'}")
    app.record(accepted_touchpoints(60_000, 15_000))
    return app


def test_analysts_read_the_snapshot_while_the_projector_writes_100k_events(
    big_store: EventChain, tmp_path: Path
) -> None:
    assert big_store.max_notification_id() >= 100_000
    snapshot, stop_file, out = tmp_path / "analytics.duckdb", tmp_path / "stop", tmp_path / "reads.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(snapshot), str(stop_file), str(out)])
    try:
        views = DuckDBViews(tmp_path / "views.duckdb")
        projector = Projector(  # never fast-forward: every batch is published while the reader reads
            big_store,
            views,
            batch_size=4_000,
            on_commit=lambda _: publish_snapshot(views, snapshot),
            fast_forward=10**9,
        )
        projector.catch_up()
        time.sleep(0.3)  # let the reader see the final snapshot too
    finally:
        stop_file.touch()
        reader.wait(timeout=60)
    result = json.loads(out.read_text())
    assert result["errors"] == 0, result["messages"]
    assert result["inconsistent"] == 0
    assert len(result["positions"]) >= 3, "the reader should have seen the projector advance"
    assert result["positions"][-1] == big_store.max_notification_id()


PROJECTOR = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    from application.event_chain import EventChain
    from projections.projector import Projector
    from projections.views import DuckDBViews
    app = EventChain.from_url(sys.argv[1])
    views = DuckDBViews(sys.argv[2])
    print("started", flush=True)
    Projector(app, views, batch_size=97, on_commit=lambda n: print(n, flush=True)).catch_up()
    print("finished", flush=True)
""")


def test_a_projector_killed_mid_run_resumes_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = EventChain.from_url(url)
    app.record(accepted_touchpoints(6_000, 1_500, seed=3))
    killed_path = tmp_path / "killed.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-c", PROJECTOR, url, str(killed_path), str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    for _ in range(5):  # kill it once it has committed a few batches
        assert process.stdout.readline().strip().isdigit()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    killed = DuckDBViews(killed_path)
    assert 5 * 97 <= (killed.max_tracking_id(APPLICATION_NAME) or 0) < app.max_notification_id()
    killed.close()
    resumed = project(app, killed_path, batch_size=500)
    whole = project(app, tmp_path / "whole.duckdb")
    assert resumed.max_tracking_id(APPLICATION_NAME) == app.max_notification_id()
    assert all_contents(resumed.connection) == all_contents(whole.connection)
