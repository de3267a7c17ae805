"""`eventchain team sessions list|end|release` as an operator runs them, piped and under a
pseudo-terminal: sessions opened through the use cases are listed, ended for every process,
and an unknown agent is one line."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.sessions import SessionTable
from application.accounts import invite, sign_in
from application.event_chain import EventChain
from application.sessions import open_for
from tests.cli import eventchain, eventchain_in_terminal
from tests.web_support import TEAM_FILE


def test_sessions_are_listed_and_ended_piped_and_under_a_terminal(tmp_path: Path) -> None:
    assert 0 == eventchain(tmp_path, "team", "join", "--file", str(TEAM_FILE)).returncode
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    table = SessionTable(app.recorder)
    password = invite(app, "a-wang", "ops")
    for device in ("Chrome/120 Windows", "MicroMessenger Android"):
        signed = sign_in(app, "a-wang", password, "10.0.0.9", device)
        open_for(app, table, "a-wang", signed.session_id, "10.0.0.9", device)

    earlier = EventChain.from_url(
        app_url := f"sqlite:///{tmp_path / 'events.db'}", clock=lambda: three_hours_ago
    )
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    open_for(earlier, SessionTable(earlier.recorder), "a-wang", "gone-idle", "10.0.0.9", "Firefox Linux")

    listed = json.loads(eventchain(tmp_path, "team", "sessions", "list", "--json").stdout)
    days = json.loads(eventchain(tmp_path, "team", "sessions", "list", "--days", "1", "--json").stdout)
    code, terminal = eventchain_in_terminal(tmp_path, "team", "sessions", "list")
    ended = eventchain(tmp_path, "team", "sessions", "end", "a-wang", "--actor", "ops-liu")
    after = eventchain(tmp_path, "team", "sessions", "list")
    unknown = eventchain(tmp_path, "team", "sessions", "release", "nobody")
    unknown_code, unknown_terminal = eventchain_in_terminal(tmp_path, "team", "sessions", "release", "nobody")

    assert {"MicroMessenger Android", "Chrome/120 Windows"} == {row["device"] for row in listed}
    assert {"open"} == {row["state"] for row in listed}  # 2 h idle: over by the clock, not open
    assert {"Firefox Linux": "over: idle"} == {r["device"]: r["state"] for r in days if r["state"] != "open"}
    assert app_url.startswith("sqlite")
    assert {"a-wang"} == {row["agent_id"] for row in listed} and all(
        row["ended_at"] is None for row in listed
    )
    assert 0 == code and 2 == terminal.count("a-wang") and "MicroMessenger" in terminal
    assert "times: Asia/Shanghai (UTC+08:00)" in terminal  # China time, to the minute
    assert "Chrome/120 Windows" in terminal and 4 == len(re.findall(r"20\d\d-\d\d-\d\d \d\d:\d\d ", terminal))
    assert "a-wang: 2 sessions ended" == ended.stdout.strip()
    assert "no sessions" == after.stdout.strip()
    reasons = {s.device: s.ended_reason for s in table.sessions_of(["a-wang"])}
    assert {"idle"} == {reasons.pop("Firefox Linux")}  # closed with the clock's reason, not counted
    assert {"ended by an administrator"} == set(reasons.values())
    assert ["error: no workspace account for nobody (eventchain team invite)"] == unknown.stderr.splitlines()
    assert 1 == unknown.returncode == unknown_code and "Traceback" not in unknown_terminal
