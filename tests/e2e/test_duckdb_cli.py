"""The analyst snapshot opened the way README tells analysts to: with the `duckdb` CLI that
`make run` installs into .venv/bin, while the projector (as `serve` runs it) keeps writing."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from application.event_chain import EventChain
from bench.workload import accepted_touchpoints
from eventchain.config import Settings
from projections.service import run_projector

CLI = Path(sys.executable).parent / "duckdb"

QUERY = """
SELECT (SELECT count(*) FROM customer_360) AS customers,
       (SELECT count(*) FROM ctre WHERE channel = '*') AS total_rows,
       (SELECT coalesce(sum(leads), 0) FROM ctre WHERE channel <> '*') AS channel_leads,
       (SELECT coalesce(sum(leads), 0) FROM ctre WHERE channel = '*') AS total_leads,
       (SELECT count(*) FROM lead_response) AS lead_rows,
       (SELECT coalesce(max(notification_id), 0) FROM ec.tracking) AS position
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60)


def read_snapshot(path: Path) -> dict[str, Any]:
    result = cli("-readonly", str(path), "-json", "-c", QUERY)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 1
    return {key: int(value) for key, value in rows[0].items()}


def test_the_installed_cli_is_the_engine_that_writes_the_views() -> None:
    assert CLI.is_file(), "duckdb-cli should install `duckdb` next to the interpreter"
    version = cli("-version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"v{duckdb.__version__} "), version.stdout


def test_the_cli_reads_the_snapshot_while_the_projector_writes(tmp_path: Path) -> None:
    settings = Settings.load(environ={}, data_dir=str(tmp_path))
    tmp_path.mkdir(exist_ok=True)
    app = EventChain.from_url(settings.store_url)
    app.record(accepted_touchpoints(200, 50, seed=0, prefix="b0"))
    stop, recorded = threading.Event(), threading.Event()

    def record() -> None:  # more customers every batch, so customer_360 grows
        try:
            for batch in range(1, 13):
                app.record(accepted_touchpoints(150, 50 * (batch + 1), seed=batch, prefix=f"b{batch}"))
                time.sleep(0.25)
        finally:
            recorded.set()

    projector = threading.Thread(target=run_projector, args=(settings, stop, app), daemon=True)
    writer = threading.Thread(target=record, daemon=True)
    projector.start()
    reads: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 60
        while not settings.snapshot_path.exists():
            assert time.monotonic() < deadline, "the projector published no snapshot"
            time.sleep(0.05)
        writer.start()
        while not recorded.is_set():
            reads.append(read_snapshot(settings.snapshot_path))
        last = app.max_notification_id()
        while reads[-1]["position"] < last:
            assert time.monotonic() < deadline + 120, f"snapshot stuck at {reads[-1]} < {last}"
            reads.append(read_snapshot(settings.snapshot_path))
    finally:
        stop.set()
        projector.join(timeout=30)
        writer.join(timeout=30)
    seen = [read for read in reads if read["position"] > 0]
    assert len({read["position"] for read in seen}) >= 3, "the CLI should have seen the projector advance"
    for before, after in itertools.pairwise(seen):
        assert before["position"] <= after["position"]
        assert before["customers"] <= after["customers"], (before, after)
    for read in seen:
        assert read["total_rows"] == 1, read  # ctre's '*' total row
        assert read["channel_leads"] == read["total_leads"] == read["lead_rows"], read
    with duckdb.connect(str(settings.views_path), read_only=True) as views:
        live = views.execute("SELECT count(*) FROM customer_360").fetchone()
    assert live is not None and seen[-1]["customers"] == live[0] > seen[0]["customers"]
