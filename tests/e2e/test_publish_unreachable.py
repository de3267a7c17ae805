"""``eventchain publish`` to a NATS that refuses or does not answer: one line naming the URL and
the cause, exit 1 — piped and under a pseudo-terminal (the time it takes is measured in
docs/performance.md, not asserted here)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import eventchain
from tests.pty_cli import eventchain_tty

LEAD = (
    '{"touchpoint_id": "wf-1", "channel": "web_form", "occurred_at": "2026-03-02T09:15:00+08:00", '
    '"direction": "inbound", "identities": [{"kind": "phone", "value": "13800138000"}], '
    '"payload": {"form_id": "contact-us"}}\n'
)


@pytest.fixture
def refused_url() -> Iterator[str]:
    with socket.socket() as held:  # a port nobody listens on: bound, never listening
        held.bind(("127.0.0.1", 0))
        yield f"nats://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    with socket.socket() as listening:  # accepts connections, never says INFO
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        yield f"nats://127.0.0.1:{listening.getsockname()[1]}"


def feed(tmp_path: Path) -> Path:
    path = tmp_path / "leads.jsonl"
    path.write_text(LEAD, encoding="utf-8")
    return path


def test_a_refusing_nats_is_one_line_naming_the_url_and_the_cause(refused_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "EVENTCHAIN_NATS_URL": refused_url}
    result = eventchain(tmp_path / "data", "publish", str(feed(tmp_path)), env=env)
    assert 1 == result.returncode
    [line] = result.stderr.strip().splitlines()
    assert f"cannot reach NATS at {refused_url}: connection refused; nothing was published" in line
    code, shown = eventchain_tty(tmp_path / "data", "publish", str(feed(tmp_path)), env=env)
    assert 1 == code and f"cannot reach NATS at {refused_url}: connection refused" in shown
    assert "Traceback" not in shown


def test_a_server_that_never_answers_is_named_too(silent_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "EVENTCHAIN_NATS_URL": silent_url}
    result = eventchain(tmp_path / "data", "publish", str(feed(tmp_path)), env=env)
    assert 1 == result.returncode
    [line] = result.stderr.strip().splitlines()
    assert f"cannot reach NATS at {silent_url}: no answer within 2 s" in line
