"""The followers as operators run them: `serve --only notify` killed between publishing and
tracking resumes with every notification published exactly once; `serve` stops promptly on
SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import nats
import pytest

from adapters.crypto import new_kek, parse_kek
from adapters.local_servers import LocalNats
from adapters.nats import wait_until
from application.event_chain import EventChain
from application.rules import apply_rules, join
from followers.notifier import BATCH, CRASH_AFTER_PUBLISH_ENV, NotificationNames
from followers.router import route_pending
from tests.integration.test_followers import RULES, TEAM
from tests.nats_support import stream_messages
from tests.projection_support import T0, envelope

KEK = new_kek()
pytestmark = pytest.mark.nats


def serve(
    data_dir: Path, nats_url: str, *only: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventchain",
            "--data-dir",
            str(data_dir),
            "serve",
            *(part for name in only for part in ("--only", name)),
        ],
        env={**os.environ, "EVENTCHAIN_NATS_URL": nats_url, "EVENTCHAIN_KEK": KEK, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assigned_store(data_dir: Path, leads: int) -> EventChain:
    app = EventChain.from_url(f"sqlite:///{data_dir / 'events.db'}", kek=parse_kek(KEK))
    for agent in TEAM:
        join(app, agent, "ops")
    apply_rules(app, RULES, "ops", "test rules")
    app.record(
        [envelope(f"l{n}", "web_form", T0 + timedelta(seconds=n), f"139{n:08d}") for n in range(leads)]
    )
    assert route_pending(app) == leads
    return app


def message_ids(url: str) -> list[str]:
    try:
        return [headers["Nats-Msg-Id"] for _, _, headers in stream_messages(url, NotificationNames().stream)]
    except nats.js.errors.NotFoundError:
        return []


def test_a_notifier_killed_between_publishing_and_tracking_resumes_with_each_notification_once(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    leads = BATCH * 2 + 50
    app = assigned_store(tmp_path, leads)
    crashed = serve(tmp_path, local_nats.url, "notify", env={CRASH_AFTER_PUBLISH_ENV: "1"})
    assert crashed.wait(timeout=120) == -signal.SIGKILL, crashed.stderr.read() if crashed.stderr else ""
    assert len(message_ids(local_nats.url)) == BATCH  # published, never tracked
    assert app.recorder.max_tracking_id("notifier") is None
    restarted = serve(tmp_path, local_nats.url, "notify")
    try:
        assert wait_until(lambda: len(message_ids(local_nats.url)) >= leads, timeout=60)
        assert wait_until(lambda: app.recorder.max_tracking_id("notifier") is not None, timeout=30)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)
    ids = message_ids(local_nats.url)
    expected = {f"{app.find_customer(f'phone:139{n:08d}').id}:" for n in range(leads)}
    assert len(ids) == len(set(ids)) == leads
    assert {i.rpartition(":")[0] + ":" for i in ids} == expected


def test_serve_with_every_follower_stops_soon_after_sigterm(local_nats: LocalNats, tmp_path: Path) -> None:
    assigned_store(tmp_path, 300)
    process = serve(tmp_path, local_nats.url)
    try:
        assert wait_until(lambda: len(message_ids(local_nats.url)) == 300, timeout=90), (
            process.stderr.read() if process.poll() is not None and process.stderr else ""
        )
    finally:
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)  # a bound for the test; the measured figure is in the bench
    assert code == 0, process.stderr.read() if process.stderr else ""
    assert time.monotonic() - sent < 20
