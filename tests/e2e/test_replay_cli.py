"""``eventchain replay`` as an operator runs it: rebuild, a rebuild killed midway, verify, as-of."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from application.event_chain import EventChain
from bench.workload import accepted_touchpoints
from eventchain.config import Settings
from projections.service import project_pending
from replay.rebuild import checksums
from tests.cli import eventchain

EVENTCHAIN = [sys.executable, "-m", "eventchain"]


def test_a_rebuild_killed_midway_leaves_the_live_views_untouched_and_a_rerun_succeeds(tmp_path: Path) -> None:
    settings = Settings.load(environ={}, data_dir=str(tmp_path))
    app = EventChain.from_url(settings.store_url)
    app.record(accepted_touchpoints(40_000, 10_000, seed=5))
    project_pending(app, settings)
    before = checksums(settings.views_path)
    process = subprocess.Popen(
        [*EVENTCHAIN, "--data-dir", str(tmp_path), "replay", "rebuild"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    scratch = tmp_path / ".views.duckdb.rebuild"
    while not scratch.exists() and process.poll() is None:  # kill it once it has started writing
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert checksums(settings.views_path) == before
    rerun = eventchain(tmp_path, "replay", "rebuild")
    assert rerun.returncode == 0, rerun.stderr
    assert "rebuilt all views" in rerun.stdout
    assert checksums(settings.views_path) == before
    verified = eventchain(tmp_path, "replay", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "incremental == rebuilt" in verified.stdout


def test_views_as_of_a_past_instant_go_to_their_own_file(tmp_path: Path) -> None:
    settings = Settings.load(environ={}, data_dir=str(tmp_path))
    app = EventChain.from_url(settings.store_url)
    app.record(accepted_touchpoints(300, 100, seed=2))
    result = eventchain(
        tmp_path,
        "replay",
        "rebuild",
        "--as-of",
        "2000-01-01T00:00:00+08:00",
        "--out",
        str(tmp_path / "past.duckdb"),
    )
    assert result.returncode == 0, result.stderr
    assert checksums(tmp_path / "past.duckdb")["touchpoints"][0] == 0  # nothing was recorded back then
    assert not settings.views_path.exists()  # the live views were not touched


def test_verify_without_a_snapshot_is_one_line_and_non_zero(tmp_path: Path) -> None:
    result = eventchain(tmp_path, "replay", "verify")
    assert result.returncode != 0
    assert "no analyst snapshot" in result.stderr
    assert "Traceback" not in result.stderr
