"""`serve`'s operator endpoint on a real stack: /metrics moves with ingest, /readyz fails while
PostgreSQL is down and recovers with it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from adapters.crypto import new_kek
from adapters.local_servers import LocalNats, LocalPostgres, free_port
from adapters.nats import publish_envelopes, wait_until
from bench.workload import touchpoint_envelopes
from domain.touchpoints import decode_touchpoint
from tests.conftest import fresh_database

pytestmark = [pytest.mark.nats, pytest.mark.postgres]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def metric(text: str, name: str, labels: str = "") -> float | None:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" ([0-9.e+-]+)"
    found = re.search(rf"^{pattern}$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_metrics_move_during_ingest_and_readiness_follows_the_store(
    local_nats: LocalNats, local_postgres: LocalPostgres, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "EVENTCHAIN_NATS_URL": local_nats.url,
        "EVENTCHAIN_STORE_URL": fresh_database(local_postgres.url),
        "EVENTCHAIN_KEK": new_kek(),
    }
    command = [sys.executable, "-m", "eventchain", "--data-dir", str(tmp_path), "serve"]
    options = ["--only", "ingest", "--only", "route", "--metrics-addr", f"127.0.0.1:{port}"]
    process = subprocess.Popen([*command, *options], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: get(f"{base}/readyz")[0] == 200, timeout=60)
        assert get(f"{base}/healthz")[0] == 200
        _, before = get(f"{base}/metrics")
        assert metric(before, "eventchain_ingest_recorded_total") == 0
        raw = touchpoint_envelopes(300, 80, seed=21, prefix="metrics")
        asyncio.run(publish_envelopes(local_nats.url, [(decode_touchpoint(r), r) for r in raw]))

        def recorded() -> float | None:
            return metric(get(f"{base}/metrics")[1], "eventchain_ingest_recorded_total")

        assert wait_until(lambda: recorded() == 300, timeout=60)
        _, after = get(f"{base}/metrics")
        store = metric(after, "eventchain_store_position")
        assert store is not None and store > 300
        assert metric(after, "eventchain_ingest_pending_messages") == 0
        assert wait_until(
            lambda: (
                metric(get(f"{base}/metrics")[1], "eventchain_follower_lag_events", 'follower="route"') == 0
            ),
            timeout=30,
        )

        local_postgres.stop()
        try:
            assert wait_until(lambda: get(f"{base}/readyz")[0] == 503, timeout=30)
            code, body = get(f"{base}/readyz")
            assert code == 503 and "store_error" in json.loads(body)
            assert get(f"{base}/healthz")[0] == 200  # alive, not ready
        finally:
            local_postgres.start()
        assert wait_until(lambda: get(f"{base}/readyz")[0] == 200, timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
