"""The ingest worker as operators run it, through crashes and outages (SPEC §9)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from adapters.crypto import new_kek
from adapters.local_servers import LocalNats, LocalPostgres
from adapters.nats import publish_envelopes, wait_until
from application.event_chain import EventChain
from bench.workload import touchpoint_envelopes
from domain.touchpoints import decode_touchpoint
from eventchain.ingest_worker import CRASH_AFTER_COMMIT_ENV
from tests.conftest import fresh_database
from tests.nats_support import private_config, recorded_touchpoint_ids, running_worker, versions_are_gapless

KEK = new_kek()  # serve refuses to run without a key-encryption key


def serve(data_dir: Path, nats_url: str, *extra_env: tuple[str, str]) -> subprocess.Popen[str]:
    env = {**os.environ, "EVENTCHAIN_NATS_URL": nats_url, "EVENTCHAIN_KEK": KEK, **dict(extra_env)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventchain",
            "--data-dir",
            str(data_dir),
            "serve",
            "--only",
            "ingest",
            "--ack-wait",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def status(data_dir: Path, nats_url: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), "status", "--json"],
        env={**os.environ, "EVENTCHAIN_NATS_URL": nats_url, "EVENTCHAIN_KEK": KEK},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # 1 while serve (or a part of it) is stopped: the figures are printed all the same
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_worker_killed_after_commit_and_before_ack_records_everything_exactly_once(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    raw = touchpoint_envelopes(200, 60, seed=4, prefix="kill")
    asyncio.run(publish_envelopes(local_nats.url, [(decode_touchpoint(r), r) for r in raw]))
    crashed = serve(tmp_path, local_nats.url, (CRASH_AFTER_COMMIT_ENV, "1"))
    assert crashed.wait(timeout=120) == 137, crashed.stderr.read() if crashed.stderr else ""
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    assert len(recorded_touchpoint_ids(app)) == 200  # committed, but never acked
    before = status(tmp_path, local_nats.url)
    assert before["consumer_lag"] == 200  # JetStream still owes them to a worker
    restarted = serve(tmp_path, local_nats.url)
    try:
        assert wait_until(lambda: status(tmp_path, local_nats.url)["consumer_lag"] == 0, timeout=60)
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
    ids = recorded_touchpoint_ids(app)
    assert len(ids) == len(set(ids)) == 200
    after = status(tmp_path, local_nats.url)
    assert after["store_position"] == app.max_notification_id()
    assert after["dlq_messages"] == 0


def test_postgresql_stopping_mid_stream_loses_and_duplicates_nothing(
    nats_server: str, local_postgres: LocalPostgres
) -> None:
    url = fresh_database(local_postgres.url)
    config = private_config(batch=100)
    raw = touchpoint_envelopes(2_000, 500, seed=8, prefix="outage")
    pairs = [(decode_touchpoint(r), r) for r in raw]
    app = EventChain.from_url(url)

    def publish_slowly() -> None:
        for start in range(0, len(pairs), 100):
            asyncio.run(publish_envelopes(nats_server, pairs[start : start + 100], config))
            time.sleep(0.05)

    publisher = threading.Thread(target=publish_slowly)
    with running_worker(app, nats_server, config) as worker:
        publisher.start()
        assert wait_until(lambda: worker.stats.recorded >= 300, timeout=60)
        local_postgres.stop()
        time.sleep(0.5)
        stalled = worker.stats.recorded
        time.sleep(2.5)  # the worker keeps failing to commit meanwhile: nothing recorded, nothing acked
        assert worker.stats.recorded == stalled
        local_postgres.start()
        assert wait_until(lambda: worker.stats.recorded + worker.stats.duplicates >= 2_000, timeout=120), (
            worker.stats
        )
        publisher.join()
    assert stalled < 2_000
    ids = recorded_touchpoint_ids(EventChain.from_url(url))
    assert len(ids) == len(set(ids)) == 2_000
    assert versions_are_gapless(app)
