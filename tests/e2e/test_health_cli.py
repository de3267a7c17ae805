"""``eventchain health``: piped, under a pseudo-terminal, and its alert on the notifications
subjects over a real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import nats
import pytest

from projections.snapshot import publish_snapshot
from tests.cli import eventchain
from tests.integration.test_crm_health import FULL, Books
from tests.projection_support import project
from tests.pty_cli import eventchain_tty


@pytest.fixture
def six_corrections(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    books = Books(data_dir)
    reference = books.lead(contact=FULL)
    for number in range(6):  # one more than the rules allow in a month
        books.app.correct_profile(reference, "city", f"城市{number}", "typo", "a1")
    views = project(books.app, data_dir / "views.duckdb")
    try:
        publish_snapshot(views, data_dir / "analytics.duckdb")
    finally:
        views.close()
    return data_dir


def test_an_indicator_past_its_threshold_exits_1_piped_and_in_a_terminal(six_corrections: Path) -> None:
    result = eventchain(six_corrections, "health", "--month", "2026-03")
    assert 1 == result.returncode, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:]]
    assert ["2026-03-01", "east", "corrections", "6", "5", "alert"] in rows
    code, shown = eventchain_tty(six_corrections, "health", env=dict(os.environ))
    assert 1 == code and "corrections" in shown and "alert" in shown and "Traceback" not in shown


def test_notify_publishes_the_alert_on_the_notifications_subjects(
    six_corrections: Path, nats_server: str
) -> None:
    env = {**os.environ, "EVENTCHAIN_NATS_URL": nats_server}
    result = eventchain(six_corrections, "health", "--json", "--notify", env=env)
    assert 1 == result.returncode, result.stderr
    assert "published 2 alerts" in result.stderr  # corrections, and a1 alone active: 1 of 2

    async def last_alert() -> dict[str, object]:
        nc = await nats.connect(nats_server)
        try:
            message = await nc.jetstream().get_last_msg("NOTIFICATIONS", "notifications.crm_health.east")
            return dict(json.loads(message.data or b"{}"))
        finally:
            await nc.close()

    alert = asyncio.run(last_alert())
    assert ("crm_health", "east", "corrections", 6, 5.0, "alert") == (
        alert["kind"],
        alert["team"],
        alert["indicator"],
        alert["value"],
        alert["threshold"],
        alert["status"],
    )
