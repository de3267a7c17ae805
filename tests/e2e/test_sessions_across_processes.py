"""Sessions the server owns (issue 29), over real HTTP against real `eventchain serve --only web`
processes: two on one PostgreSQL store, and one on SQLite restarted in the middle. A sign-out,
a departure, an administrator's "end this agent's sessions", a demotion and failed sign-ins
are seen by every process; a temporary password reaches nothing before it is changed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from eventchain.web.context import SESSION_COOKIE
from eventchain.web.security import CLIENT_SIGN_IN_ATTEMPTS, SIGN_IN_ATTEMPTS
from tests.cli import eventchain
from tests.web_support import TEAM_FILE, change_temporary_password, csrf_of, free_port, login

REFUSAL_BOUND_S = 2.0  # the bound: refused within 2 s on every process
AGENTS = ("a-wang", "a-li", "a-chen", "m-zhao")


@dataclass
class Store:
    data_dir: Path
    env: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = eventchain(self.data_dir, *args, env=self.env)
        assert 0 == result.returncode, result.stderr
        return result


@dataclass
class Web:
    url: str
    process: subprocess.Popen[bytes]
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, cookie: str | None = None, address: str | None = None) -> httpx.Client:
        """``address``: connect from another loopback address (127.0.0.0/8), another client."""
        transport = httpx.HTTPTransport(local_address=address) if address else None
        client = httpx.Client(base_url=self.url, timeout=30, transport=transport)
        if cookie is not None:
            client.cookies.set(SESSION_COOKIE, cookie)
        self.clients.append(client)
        return client

    def sign_in(self, store: Store, agent_id: str) -> httpx.Client:
        client = self.client()
        assert 303 == login(client, agent_id, store.passwords[agent_id]).status_code
        return client

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=60)
        assert 0 == self.process.returncode, stderr.decode()[-2000:]


def new_store(data_dir: Path, store_url: str | None, nats_url: str) -> Store:
    kek = subprocess.run(
        [sys.executable, "-m", "eventchain", "keygen"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTCHAIN_")}
    env |= {"EVENTCHAIN_KEK": kek, "EVENTCHAIN_NATS_URL": nats_url, "EVENTCHAIN_READ_ALERT_HOURS": "off"}
    if store_url is not None:
        env["EVENTCHAIN_STORE_URL"] = store_url
    store = Store(data_dir, env)
    store.cli("team", "join", "--file", str(TEAM_FILE))
    for agent_id in AGENTS:
        store.passwords[agent_id] = temporary_password(store, agent_id)
    return store


def temporary_password(store: Store, agent_id: str) -> str:
    output = store.cli("team", "invite", agent_id).stdout
    return output.split("initial password ", 1)[1].split()[0]


def start_web(store: Store, port: int | None = None) -> Web:
    port = port or free_port()
    env = store.env | {"EVENTCHAIN_WEB_ADDR": f"127.0.0.1:{port}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "eventchain", "--data-dir", str(store.data_dir), "serve", "--only", "web"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    web = Web(f"http://127.0.0.1:{port}", process)
    for _ in range(600):
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            if 200 == httpx.get(f"{web.url}/login", timeout=1).status_code:
                return web
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve --only web did not answer")


def refused(client: httpx.Client) -> bool:
    """The session no longer works: the API says 401 and a page sends to sign-in."""
    api = client.get("/api/me").status_code
    page = client.get("/desk", headers={"accept": "text/html"}, follow_redirects=False)
    return 401 == api and 303 == page.status_code and "/login" == page.headers["location"]


def seconds_until(condition: Callable[[], bool], bound: float) -> float | None:
    """Polls ``condition`` until it holds; how long that took, None if not within ``bound``."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > bound:
            return None
        time.sleep(0.05)


@pytest.fixture(scope="module")
def two_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str, nats_server: str
) -> Iterator[tuple[Store, Web, Web]]:
    from tests.conftest import fresh_database

    store = new_store(tmp_path_factory.mktemp("two-webs"), fresh_database(postgres_server), nats_server)
    first, second = start_web(store), start_web(store)
    for n, agent_id in enumerate(AGENTS):  # first sign-in: each sets their own password, on either process
        with httpx.Client(base_url=(first, second)[n % 2].url, timeout=30) as client:
            store.passwords[agent_id] = change_temporary_password(client, agent_id, store.passwords[agent_id])
    try:
        yield store, first, second
    finally:
        first.stop()
        second.stop()


def test_a_session_opened_on_one_process_works_on_the_other_and_a_sign_out_ends_it_on_both(
    two_on_postgres: tuple[Store, Web, Web],
) -> None:
    store, first, second = two_on_postgres
    signed_in = first.sign_in(store, "a-wang")
    cookie = signed_in.cookies[SESSION_COOKIE]
    elsewhere = second.client(cookie)
    before = elsewhere.get("/api/me")

    signed_out = signed_in.post("/logout", data={"csrf": csrf_of(signed_in, "/devices")})

    assert 200 == before.status_code and "a-wang" == before.json()["agent_id"]
    assert 303 == signed_out.status_code
    assert refused(elsewhere) and refused(first.client(cookie))


def test_an_administrator_ending_an_agents_sessions_is_seen_by_both_processes(
    two_on_postgres: tuple[Store, Web, Web],
) -> None:
    store, first, second = two_on_postgres
    on_first, on_second = first.sign_in(store, "a-chen"), second.sign_in(store, "a-chen")
    assert 200 == on_first.get("/api/me").status_code == on_second.get("/api/me").status_code

    ended = store.cli("team", "sessions", "end", "a-chen", "--actor", "ops-liu")

    count = re.search(r"a-chen: (\d+) sessions ended", ended.stdout)
    assert count and int(count.group(1)) >= 2  # these two, and the first sign-in's if still open
    assert refused(on_first) and refused(on_second)
    listed = store.cli("team", "sessions", "list", "a-chen", "--days", "1", "--json").stdout
    assert 2 <= listed.count("ended by an administrator")


def test_twenty_wrong_passwords_spread_over_both_processes_lock_the_account_as_if_to_one(
    two_on_postgres: tuple[Store, Web, Web],
) -> None:
    store, first, second = two_on_postgres
    clients = [first.client(), second.client()]

    answers = [login(clients[n % 2], "a-wang", f"wrong-{n}").status_code for n in range(20)]
    right_password = [login(client, "a-wang", store.passwords["a-wang"]).status_code for client in clients]

    assert [401] * SIGN_IN_ATTEMPTS + [429] * (20 - SIGN_IN_ATTEMPTS) == answers
    assert [429, 429] == right_password


def test_a_temporary_password_cannot_reach_the_desk_before_it_is_changed(
    two_on_postgres: tuple[Store, Web, Web],
) -> None:
    store, first, second = two_on_postgres
    temporary = temporary_password(store, "a-chen")  # an operator resets it
    client = first.client()
    assert 303 == login(client, "a-chen", temporary).status_code
    elsewhere = second.client(client.cookies[SESSION_COOKIE])

    pages = [c.get("/desk", headers={"accept": "text/html"}) for c in (client, elsewhere)]
    api = [c.get("/api/desk").status_code for c in (client, elsewhere)]
    store.passwords["a-chen"] = change_temporary_password(elsewhere, "a-chen", temporary)
    after = client.get("/desk", headers={"accept": "text/html"})

    assert [303, 303] == [p.status_code for p in pages]
    assert ["/password", "/password"] == [p.headers["location"] for p in pages]
    assert [403, 403] == api
    assert "/password" != after.headers.get("location")
    assert 303 == login(second.client(), "a-chen", store.passwords["a-chen"]).status_code


def test_an_agent_who_leaves_the_team_is_refused_within_two_seconds_on_both_processes(
    two_on_postgres: tuple[Store, Web, Web],
) -> None:
    store, first, second = two_on_postgres
    on_first, on_second = first.sign_in(store, "a-li"), second.sign_in(store, "a-li")
    assert 200 == on_first.get("/api/me").status_code == on_second.get("/api/me").status_code

    left = store.cli("team", "leave", "a-li", "--reason", "resigned", "--actor", "hr-liu")

    ended = re.search(r"(\d+) sessions ended", left.stdout)  # at once, on 我的设备 and in the list
    assert ended and int(ended.group(1)) >= 2
    assert seconds_until(lambda: refused(on_first), REFUSAL_BOUND_S) is not None
    assert seconds_until(lambda: refused(on_second), REFUSAL_BOUND_S) is not None
    assert 401 == login(first.client(), "a-li", store.passwords["a-li"]).status_code


def test_a_demoted_director_loses_the_team_view_at_once_on_both_processes(
    two_on_postgres: tuple[Store, Web, Web],
) -> None:
    store, first, second = two_on_postgres
    on_first, on_second = first.sign_in(store, "m-zhao"), second.sign_in(store, "m-zhao")
    assert "director:m-zhao" == on_first.get("/api/me").json()["role"]

    for report in ("a-wang", "a-chen"):  # (a-li has left) nobody reports to m-zhao any more
        store.cli("team", "update", report, "--set", "manager=d-qian")

    def demoted(client: httpx.Client) -> bool:
        return "sales:m-zhao" == client.get("/api/me").json()["role"]

    assert seconds_until(lambda: demoted(on_first), REFUSAL_BOUND_S) is not None
    assert seconds_until(lambda: demoted(on_second), REFUSAL_BOUND_S) is not None
    assert 200 != on_second.get("/api/board").status_code


def test_failed_sign_ins_from_one_address_over_both_processes_block_that_address(
    two_on_postgres: tuple[Store, Web, Web],
) -> None:
    store, first, second = two_on_postgres
    clients = [first.client(address="127.0.0.2"), second.client(address="127.0.0.2")]

    answers = [
        login(clients[n % 2], f"nobody-{n}", "guess").status_code for n in range(CLIENT_SIGN_IN_ATTEMPTS)
    ]
    right_password = login(clients[0], "m-zhao", store.passwords["m-zhao"]).status_code
    other_address = login(first.client(address="127.0.0.3"), "m-zhao", store.passwords["m-zhao"])

    assert [401] * CLIENT_SIGN_IN_ATTEMPTS == answers
    assert 429 == right_password
    assert 303 == other_address.status_code


def test_a_signed_out_cookie_is_refused_after_a_restart_and_a_live_one_is_kept(
    tmp_path: Path, nats_server: str
) -> None:
    store = new_store(tmp_path, None, nats_server)  # SQLite under the data directory
    web = start_web(store)
    try:
        with httpx.Client(base_url=web.url, timeout=30) as client:
            store.passwords["a-wang"] = change_temporary_password(client, "a-wang", store.passwords["a-wang"])
        signed_out, kept = web.sign_in(store, "a-wang"), web.sign_in(store, "a-wang")
        old_cookie, live_cookie = signed_out.cookies[SESSION_COOKIE], kept.cookies[SESSION_COOKIE]
        assert 303 == signed_out.post("/logout", data={"csrf": csrf_of(signed_out, "/devices")}).status_code
    finally:
        web.stop()

    restarted = start_web(store)
    try:
        replayed, live = restarted.client(old_cookie), restarted.client(live_cookie)
        assert refused(replayed)
        assert 200 == live.get("/api/me").status_code
    finally:
        restarted.stop()
