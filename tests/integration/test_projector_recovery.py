"""No part stops for good on a transient failure: a projector that cannot open its views file
retries with backoff, says so on /readyz and /metrics, and once the file can be opened projects
every event exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from adapters.nats import wait_until
from application.event_chain import EventChain
from eventchain.config import Settings
from eventchain.metrics import ServiceState, readiness
from projections.service import run_projector
from tests.integration.test_unowned_leads import metric
from tests.projection_support import T0, envelope


def test_a_projector_that_cannot_open_its_views_retries_reports_and_resumes_once(tmp_path: Path) -> None:
    blocked = tmp_path / "views"
    blocked.write_text("a file where the views' folder should be")  # opening the views fails
    settings = Settings.load({}, data_dir=str(tmp_path), views_path=str(blocked / "views.duckdb"))
    app = EventChain.from_url(settings.store_url)
    app.record([envelope(f"t{n}", "web_form", T0, f"1380001{n:04d}") for n in range(5)])
    state = ServiceState(settings, app, parts=("project",), active={"project"})
    stop = threading.Event()
    projecting = threading.Thread(
        target=run_projector, args=(settings, stop, app, state.projector), daemon=True
    )
    projecting.start()
    try:
        assert wait_until(lambda: state.projector.failures >= 2, timeout=30)  # retried, not stopped
        assert projecting.is_alive()
        ready, checks = readiness(state)
        assert not ready and "cannot open the views" in str(checks["projector_error"])
        assert metric(state, "eventchain_projector_up") == 0.0

        blocked.unlink()  # the cause goes away: the next try opens the views
        assert wait_until(lambda: state.projector.last_error is None and settings.snapshot_path.exists(), 60)
        app.record([envelope("t-late", "web_form", T0, "13800009999")])
        assert wait_until(lambda: _touchpoints(settings) == 6, 30)
        assert readiness(state)[0] is True
        assert metric(state, "eventchain_projector_up") == 1.0
    finally:
        stop.set()
        projecting.join(timeout=30)
    assert _touchpoints(settings) == 6  # each event once


def _touchpoints(settings: Settings) -> int:
    if not settings.snapshot_path.exists():
        return -1
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as connection:
        row = connection.execute("SELECT count(*) FROM touchpoints").fetchone()
    return int(row[0]) if row else 0
