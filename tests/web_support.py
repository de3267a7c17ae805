"""A running web workspace over the demo's data: real store (SQLite), real analyst
snapshot (DuckDB), real uvicorn on a free loopback port, accounts invited through the CLI.
The application's clock is real time plus an offset the tests move (session expiry, rate
limit windows), never a sleep."""

from __future__ import annotations

import re
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx

from application.event_chain import EventChain
from eventchain.config import Settings
from eventchain.web.app import run_web
from tests.cli import eventchain

TEAM_FILE = Path(__file__).parents[1] / "examples" / "team.toml"
TEAM = tomllib.loads(TEAM_FILE.read_text(encoding="utf-8"))["agent"]
ACCOUNTS = {"a-wang": (), "a-li": (), "a-chen": (), "m-zhao": (), "d-qian": ("--exec",)}


@dataclass
class MovableClock:
    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(tz=UTC) + self.offset


@dataclass
class RunningWorkspace:
    data_dir: Path
    settings: Settings
    app: EventChain
    clock: MovableClock
    url: str
    passwords: dict[str, str]
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)
        self.clients.append(client)
        return client

    def sign_in(self, agent_id: str, password: str | None = None) -> httpx.Client:
        client = self.client()
        response = login(client, agent_id, self.passwords[agent_id] if password is None else password)
        assert 303 == response.status_code, response.text
        return client

    def owners(self) -> dict[str, str | None]:
        with duckdb.connect(str(self.settings.snapshot_path), read_only=True) as connection:
            rows = connection.execute("SELECT customer_id::VARCHAR, owner_agent_id FROM customer_360")
            return dict(rows.fetchall())


def login(client: httpx.Client, agent_id: str, password: str) -> httpx.Response:
    return client.post(
        "/login", data={"csrf": csrf_of(client, "/login"), "agent_id": agent_id, "password": password}
    )


def csrf_of(client: httpx.Client, path: str) -> str:
    page = client.get(path, headers={"accept": "text/html"})
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def invite(data_dir: Path, kek: str, agent_id: str, *flags: str) -> str:
    result = eventchain(data_dir, "team", "invite", agent_id, *flags, kek=kek)
    assert 0 == result.returncode, result.stderr
    found = re.search(r"initial password (\S+)", result.stdout)
    assert found, result.stdout
    return found.group(1)


def start_workspace(data_dir: Path) -> Iterator[RunningWorkspace]:
    """Runs the demo into ``data_dir``, invites ACCOUNTS and serves the workspace."""
    demo = eventchain(data_dir, "demo", "--customers", "30")
    assert 0 == demo.returncode, demo.stderr
    kek = (data_dir / "demo.kek").read_text()
    passwords = {agent: invite(data_dir, kek, agent, *flags) for agent, flags in ACCOUNTS.items()}
    port = free_port()
    settings = Settings.load({"EVENTCHAIN_KEK": kek}, data_dir=str(data_dir), web_addr=f"127.0.0.1:{port}")
    clock = MovableClock()
    app = EventChain.from_url(settings.store_url, kek=settings.kek, clock=clock)
    stop = threading.Event()
    server = threading.Thread(target=run_web, args=(settings, stop, app), name="web-under-test")
    server.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/login", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    running = RunningWorkspace(data_dir, settings, app, clock, url, passwords)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        stop.set()
        server.join(timeout=30)


def expected_customers(workspace: RunningWorkspace, agent_id: str) -> set[str]:
    """What the roster says ``agent_id`` may see, computed here independently of the app."""
    owners = workspace.owners()
    if agent_id == "d-qian":  # invited with --exec
        return set(owners)
    reports = {a["agent_id"] for a in TEAM if a.get("manager") == agent_id}
    if not reports:
        return {c for c, o in owners.items() if o == agent_id}
    team = next(a["team"] for a in TEAM if a["agent_id"] == agent_id)
    members = reports | {a["agent_id"] for a in TEAM if a["team"] == team}
    return {c for c, o in owners.items() if o in members}


def start_live_workspace(data_dir: Path) -> Iterator[RunningWorkspace]:
    """``start_workspace`` plus what ``serve`` runs beside the web: the projector (publishing
    the analyst snapshot) and the router (assigning new leads), each on its own application,
    so a lead recorded by a test travels the real path to a rep's desk."""
    from followers.loop import run_follower
    from followers.router import Router
    from projections.service import run_projector

    for running in start_workspace(data_dir):
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=run_projector, args=(running.settings, stop), name="projector-under-test"
            ),
            threading.Thread(
                target=run_follower,
                args=(Router(EventChain.from_settings(running.settings)), stop, 0.25),
                name="router-under-test",
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            yield running
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)


def record_lead(
    workspace: RunningWorkspace,
    touchpoint_id: str,
    *,
    channel: str = "web_form",
    phone: str | None = None,
    text: str = "",
    contact: dict[str, object] | None = None,
    external_id: str | None = None,
) -> None:
    """Records an inbound lead through the application's use case (what ingest does), now."""
    import json

    from domain.touchpoints import decode_touchpoint

    identities = [{"kind": "phone", "value": phone}] if phone else []
    if external_id:
        identities.append({"kind": "wecom_external_id", "value": external_id})
    payloads: dict[str, dict[str, object]] = {
        "web_form": {
            "form_id": "contact-us",
            "fields": {"需求": text},
            "utm": {"source": "baidu", "medium": "cpc"},
        },
        "wecom_msg": {"external_userid": external_id or "", "text": text},
    }
    envelope = {
        "touchpoint_id": touchpoint_id,
        "channel": channel,
        "occurred_at": workspace.clock().isoformat(),
        "direction": "inbound",
        "identities": identities,
        "contact": contact,
        "payload": payloads[channel],
    }
    workspace.app.record([decode_touchpoint(json.dumps(envelope, ensure_ascii=False))])


def snapshot_row(
    workspace: RunningWorkspace, sql: str, parameters: list[object], timeout: float = 60
) -> tuple:  # type: ignore[type-arg]
    """The first row ``sql`` returns from the published snapshot, once it returns one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with duckdb.connect(str(workspace.settings.snapshot_path), read_only=True) as connection:
                found = connection.execute(sql, parameters).fetchone()
        except duckdb.Error:
            found = None
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"the snapshot never answered {sql!r} {parameters}")
        time.sleep(0.1)
