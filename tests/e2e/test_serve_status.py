"""`status` says which parts of `serve` run and where each stands (the figures of /metrics);
a second `serve` of the same part stands by, saying for whom; catch-up is logged as JSON lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adapters.crypto import new_kek
from adapters.local_servers import LocalNats, free_port
from adapters.nats import wait_until
from tests.cli import eventchain
from tests.conftest import fresh_database
from tests.pty_cli import eventchain_tty

pytestmark = pytest.mark.nats

ROOT = Path(__file__).resolve().parents[2]
KEK = new_kek()
PARTS = ("ingest", "project", "route", "sla", "silence", "notify")


class Serve:
    """`eventchain serve` as a process, its stderr lines collected as they come."""

    def __init__(self, data_dir: Path, env: dict[str, str], *options: str) -> None:
        command = [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), "serve", *options]
        self.process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def logged(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()


def status(data_dir: Path, env: dict[str, str], *options: str) -> tuple[int, dict[str, object], str]:
    result = eventchain(data_dir, "status", "--json", *options, env=env, kek=KEK)
    return result.returncode, json.loads(result.stdout), result.stderr


def test_status_shows_every_part_running_then_not_running_and_catch_up_is_logged(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    env = {**os.environ, "EVENTCHAIN_NATS_URL": local_nats.url}
    ingested = eventchain(tmp_path, "ingest", str(ROOT / "examples" / "touchpoints.jsonl"), kek=KEK, env=env)
    assert 0 == ingested.returncode, ingested.stderr
    port = free_port()
    options = [arg for part in PARTS for arg in ("--only", part)]
    serve = Serve(tmp_path, {**env, "EVENTCHAIN_KEK": KEK}, *options, "--metrics-addr", f"127.0.0.1:{port}")
    try:
        assert wait_until(lambda: any(e["message"].startswith("caught up") for e in serve.logged()), 90)
        first = next(e for e in serve.logged() if "progress" in e)
        assert str(first["message"]).startswith("catching up")  # the backlog found at start
        progress = first["progress"]
        assert isinstance(progress, dict) and progress["store_position"] > 0
        assert progress["lags"]["project"] == progress["store_position"] - progress["project_position"] > 0

        def healthy_and_caught_up() -> bool:
            code, found, _ = status(tmp_path, env)
            return code == 0 and found["sla_lag"] == 0 and found["projector_lag"] == 0

        assert wait_until(healthy_and_caught_up, timeout=60)
        code, found, stderr = status(tmp_path, env)
        assert (0, "") == (code, stderr)
        assert {part: "running" for part in PARTS} == found["parts"]
        assert found["healthy"] is True and [] == found["problems"]
        [process] = found["serve"]  # type: ignore[misc]
        assert f"127.0.0.1:{port}" == process["metrics_addr"]
        for follower in ("router", "sla", "silence", "notifier"):
            assert isinstance(found[f"{follower}_position"], int), follower

        second = Serve(tmp_path, {**env, "EVENTCHAIN_KEK": KEK}, "--only", "project", "--metrics-addr", "off")
        try:  # a second projector of the same views stands by instead of refusing
            assert wait_until(lambda: any("standing by for project" in line for line in second.lines), 60)
            [line] = [line for line in second.lines if "standing by for project" in line]
            assert "another `eventchain serve` runs project on the views" in line
            assert f"(pid {serve.process.pid})" in line
            code, found, _ = status(tmp_path, env)
            assert found["active"] == {part: serve.process.pid for part in PARTS if part != "ingest"}
        finally:
            second.stop()
        assert 0 == second.process.returncode

        more_ingest = Serve(
            tmp_path, {**env, "EVENTCHAIN_KEK": KEK}, "--only", "ingest", "--metrics-addr", "off"
        )
        try:  # ingest scales out: a second worker on the same store starts
            assert wait_until(
                lambda: any("serving ingest" in str(e["message"]) for e in more_ingest.logged()), 60
            )
        finally:
            more_ingest.stop()
    finally:
        serve.stop()

    code, found, stderr = status(tmp_path, env)
    assert 1 == code
    assert {part: "not running" for part in PARTS} == found["parts"] and [] == found["serve"]
    assert [
        "unhealthy: serve is not running: no part of it runs on this store (start it: eventchain serve)"
    ] == (stderr.strip().splitlines())
    code, shown = eventchain_tty(tmp_path, "status", env={**env, "EVENTCHAIN_KEK": KEK})
    assert 1 == code and "not running" in shown and "store position" in shown


@pytest.mark.postgres
def test_a_second_router_on_the_same_postgresql_store_stands_by_from_any_data_dir(
    postgres_server: str, tmp_path: Path, local_nats: LocalNats
) -> None:
    env = {
        **os.environ,
        "EVENTCHAIN_NATS_URL": local_nats.url,
        "EVENTCHAIN_STORE_URL": fresh_database(postgres_server),
    }
    router = Serve(
        tmp_path / "host-a", {**env, "EVENTCHAIN_KEK": KEK}, "--only", "route", "--metrics-addr", "off"
    )
    try:
        assert wait_until(lambda: any("serving route" in str(e["message"]) for e in router.logged()), 60)
        second = Serve(
            tmp_path / "host-b", {**env, "EVENTCHAIN_KEK": KEK}, "--only", "route", "--metrics-addr", "off"
        )
        try:
            assert wait_until(lambda: any("standing by for route" in line for line in second.lines), 60)
            [line] = [line for line in second.lines if "standing by for route" in line]
            assert "another `eventchain serve` runs route on the store " in line
            code, found, stderr = status(tmp_path / "host-b", env, "--only", "route")
            assert (0, "running") == (code, found["parts"]["route"]), stderr  # type: ignore[index]
        finally:
            second.stop()
        assert 0 == second.process.returncode
    finally:
        router.stop()
    code, found, _ = status(tmp_path / "host-b", env, "--only", "route")
    assert (1, "not running") == (code, found["parts"]["route"])  # type: ignore[index]
