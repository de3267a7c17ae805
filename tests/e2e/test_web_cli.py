"""`eventchain team invite` and `eventchain serve --only web` as an operator runs them:
piped and under a pseudo-terminal, one-line errors, a real process serving real HTTP."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli import eventchain
from tests.web_support import TEAM_FILE, change_temporary_password, free_port, login


@pytest.fixture
def team_dir(tmp_path: Path) -> tuple[Path, str]:
    kek = subprocess.run(
        [sys.executable, "-m", "eventchain", "keygen"], capture_output=True, text=True, check=True
    ).stdout.strip()
    joined = eventchain(tmp_path, "team", "join", "--file", str(TEAM_FILE), kek=kek)
    assert 0 == joined.returncode, joined.stderr
    return tmp_path, kek


def under_a_terminal(data_dir: Path, kek: str, *args: str) -> tuple[int, str]:
    """Runs the CLI with stdin/stdout/stderr on a pseudo-terminal; returns (exit code, output)."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "EVENTCHAIN_KEK": kek}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        close_fds=True,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    return process.wait(timeout=120), output.decode("utf-8", "replace")


def test_invite_prints_a_one_time_password_piped_and_under_a_terminal(team_dir: tuple[Path, str]) -> None:
    data_dir, kek = team_dir

    piped = eventchain(data_dir, "team", "invite", "a-wang", kek=kek)
    code, terminal = under_a_terminal(data_dir, kek, "team", "invite", "a-li")

    assert 0 == piped.returncode and 0 == code
    first = re.search(r"a-wang: initial password (\S+)", piped.stdout)
    second = re.search(r"a-li: initial password (\S+)", terminal)
    assert first and second and first.group(1) != second.group(1)
    assert "http://127.0.0.1:8710/login" in piped.stdout


def test_inviting_an_agent_not_on_the_roster_is_one_line_piped_and_under_a_terminal(
    team_dir: tuple[Path, str],
) -> None:
    data_dir, kek = team_dir

    piped = eventchain(data_dir, "team", "invite", "sales:nobody", kek=kek)
    code, terminal = under_a_terminal(data_dir, kek, "team", "invite", "nobody")

    assert 1 == piped.returncode and 1 == code
    assert ["error: no agent sales:nobody on the roster (eventchain team list)"] == piped.stderr.splitlines()
    assert "error: no agent nobody on the roster" in terminal and "Traceback" not in terminal


def test_serve_only_web_signs_in_an_invited_agent_and_stops_on_sigterm(team_dir: tuple[Path, str]) -> None:
    data_dir, kek = team_dir
    password = re.search(
        r"initial password (\S+)", eventchain(data_dir, "team", "invite", "m-zhao", kek=kek).stdout
    )
    assert password
    port = free_port()
    env = {**os.environ, "EVENTCHAIN_KEK": kek, "EVENTCHAIN_WEB_ADDR": f"127.0.0.1:{port}"}
    env.pop("EVENTCHAIN_NATS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), "serve", "--only", "web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(600):
                try:
                    if 200 == client.get("/login").status_code:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            signed_in = login(client, "m-zhao", password.group(1))
            me = client.get("/api/me").json()
            temporary = client.get("/api/desk")
            change_temporary_password(client, "m-zhao", password.group(1))
            no_snapshot = client.get("/api/desk")
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)

    assert 303 == signed_in.status_code
    assert "director:m-zhao" == me["role"] and me["must_change_password"]
    assert 403 == temporary.status_code
    assert 503 == no_snapshot.status_code and "no analyst snapshot" in no_snapshot.json()["error"]
    assert 0 == server.returncode, stderr.decode()[-2000:]
