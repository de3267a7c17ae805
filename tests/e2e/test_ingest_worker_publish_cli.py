"""`eventchain publish` and `eventchain status` as integrators run them, on a real nats-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from adapters.local_servers import LocalNats
from adapters.nats import IngestConfig, wait_until
from application.event_chain import EventChain
from bench.workload import touchpoint_envelopes
from tests.nats_support import recorded_touchpoint_ids, running_worker


def eventchain(data_dir: Path, nats_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTCHAIN_")}
    env["EVENTCHAIN_NATS_URL"] = nats_url
    return subprocess.run(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_publish_reports_bad_lines_publishes_the_rest_once_and_status_shows_the_lag_draining(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    good = [e.decode() for e in touchpoint_envelopes(5, 2, seed=3, prefix="cli")]
    naive = json.loads(good[0]) | {"touchpoint_id": "naive-1", "occurred_at": "2026-03-02T09:15:00"}
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join([*good[:2], json.dumps(naive), *good[2:]]) + "\n", encoding="utf-8")
    data_dir = tmp_path / "data"

    first = eventchain(data_dir, local_nats.url, "publish", str(feed))
    assert first.returncode == 1, first.stderr
    assert "rejected line 3: $.occurred_at: " in first.stderr  # line number and field path
    assert "Traceback" not in first.stderr
    assert f"published {len(good)} touchpoints (0 already in the stream), 1 rejected" in first.stdout
    again = eventchain(data_dir, local_nats.url, "publish", str(feed))
    assert f"published 0 touchpoints ({len(good)} already in the stream)" in again.stdout  # Nats-Msg-Id

    before = json.loads(eventchain(data_dir, local_nats.url, "status", "--json").stdout)
    assert before["consumer_lag"] == len(good) and before["dlq_messages"] == 0

    app = EventChain.from_url(f"sqlite:///{data_dir / 'events.db'}")
    with running_worker(app, local_nats.url, IngestConfig()) as worker:
        assert wait_until(lambda: worker.stats.recorded == len(good), timeout=30)
    assert sorted(recorded_touchpoint_ids(app)) == sorted(json.loads(g)["touchpoint_id"] for g in good)
    after = json.loads(eventchain(data_dir, local_nats.url, "status", "--json").stdout)
    assert after["consumer_lag"] == 0
    assert after["store_position"] == app.max_notification_id() > 0
