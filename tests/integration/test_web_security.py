"""Sign-in security over real HTTP: argon2 hashes, signed cookies that cannot be forged,
session expiry by the application's clock, logout, the sign-in rate limit, and sign-ins
recorded as account events."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from application.accounts import find_account
from eventchain.web.context import SESSION_COOKIE
from eventchain.web.security import SESSION_LIFETIME, SESSION_POLICY, SIGN_IN_ATTEMPTS, SIGN_IN_WINDOW
from tests.web_support import RunningWorkspace, csrf_of, invite, login, start_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    yield from start_workspace(tmp_path_factory.mktemp("web-security"))


@pytest.fixture(autouse=True)
def clock_back_to_now(workspace: RunningWorkspace) -> Iterator[None]:
    yield
    workspace.clock.offset = timedelta()


def stored_event_kinds(workspace: RunningWorkspace, agent_id: str) -> list[str]:
    account = find_account(workspace.app, agent_id)
    assert account is not None
    return [type(event).__name__ for event in workspace.app.events.get(account.id)]


def message_of(page: str) -> str:
    found = re.search(r'id="message">([^<]*)<', page)
    assert found, page[:500]
    return found.group(1)


def test_passwords_are_stored_only_as_argon2id_hashes(workspace: RunningWorkspace) -> None:
    account = find_account(workspace.app, "a-wang")

    assert account is not None and account.password_hash.startswith("$argon2id$")
    # Read by another process: opening and closing the file here would drop the POSIX locks
    # this process's SQLite connections hold on it (SQLite's documented fcntl pitfall).
    store = subprocess.run(
        ["cat", str(workspace.data_dir / "events.db")], capture_output=True, check=True
    ).stdout
    assert workspace.passwords["a-wang"].encode() not in store


def test_the_session_cookie_is_signed_http_only_and_same_site(workspace: RunningWorkspace) -> None:
    client = workspace.client()
    response = login(client, "a-wang", workspace.passwords["a-wang"])

    cookie = response.headers["set-cookie"].lower()
    assert f"{SESSION_COOKIE}=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "a-wang" == client.get("/api/me").json()["agent_id"]


def test_a_forged_or_altered_cookie_is_refused(workspace: RunningWorkspace) -> None:
    genuine = workspace.sign_in("a-wang").cookies[SESSION_COOKIE]
    payload, _, signature = genuine.partition(".")
    session = json.loads(base64.b64decode(payload + "=="))
    session["role"] = "exec"
    altered = base64.b64encode(json.dumps(session).encode()).decode() + "." + signature
    forged = base64.b64encode(json.dumps(session).encode()).decode()

    for cookie in (altered, forged, "garbage"):
        client = workspace.client()
        client.cookies.set(SESSION_COOKIE, cookie)
        assert 401 == client.get("/api/customers").status_code
        assert "/login" == client.get("/desk").headers["location"]


def test_a_session_expires_by_the_applications_clock(workspace: RunningWorkspace) -> None:
    """In use all along, a session still ends SESSION_LIFETIME after sign-in."""
    client = workspace.sign_in("a-wang")
    answers = []
    step = SESSION_POLICY.idle - timedelta(minutes=1)
    while workspace.clock.offset + step < SESSION_LIFETIME:
        workspace.clock.offset += step
        answers.append(client.get("/api/me").status_code)
    workspace.clock.offset = SESSION_LIFETIME + timedelta(minutes=1)
    expired = client.get("/api/me").status_code

    assert [200] * len(answers) == answers and len(answers) >= 3
    assert 401 == expired


def test_a_session_left_idle_ends(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    workspace.clock.offset = SESSION_POLICY.idle - timedelta(minutes=1)
    still = client.get("/api/me").status_code
    workspace.clock.offset += SESSION_POLICY.idle + timedelta(minutes=1)
    idle = client.get("/api/me").status_code
    workspace.clock.offset = SESSION_POLICY.idle  # back within the idle time: ended stays ended
    again = client.get("/api/me").status_code

    assert (200, 401, 401) == (still, idle, again)


def test_after_logout_a_copy_of_the_cookie_no_longer_works(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("m-zhao")
    copied = client.cookies[SESSION_COOKIE]

    response = client.post("/logout", data={"csrf": csrf_of(client, "/desk")})
    replay = workspace.client()
    replay.cookies.set(SESSION_COOKIE, copied)

    assert 303 == response.status_code
    assert 401 == replay.get("/api/me").status_code
    assert "SignedOut" in stored_event_kinds(workspace, "m-zhao")


def test_sign_in_is_refused_after_repeated_failures_until_the_window_passes(
    workspace: RunningWorkspace,
) -> None:
    client = workspace.client()
    failures = [login(client, "a-li", "wrong").status_code for _ in range(SIGN_IN_ATTEMPTS)]

    blocked = login(client, "a-li", workspace.passwords["a-li"])
    workspace.clock.offset = SIGN_IN_WINDOW + timedelta(seconds=1)
    later = login(client, "a-li", workspace.passwords["a-li"])

    assert [401] * SIGN_IN_ATTEMPTS == failures
    assert 429 == blocked.status_code and "15" in blocked.text
    assert 303 == later.status_code
    kinds = stored_event_kinds(workspace, "a-li")
    assert SIGN_IN_ATTEMPTS == kinds.count("SignInFailed") and "SignedIn" in kinds


def test_an_unknown_agent_and_a_wrong_password_get_the_same_answer(workspace: RunningWorkspace) -> None:
    unknown = login(workspace.client(), "nobody", "x")
    wrong = login(workspace.client(), "d-qian", "x")

    assert (401, 401) == (unknown.status_code, wrong.status_code)
    assert message_of(unknown.text) == message_of(wrong.text) == "工号或密码错误"


def test_an_exec_grant_comes_from_the_operator_not_the_roster(workspace: RunningWorkspace) -> None:
    assert "exec" == workspace.sign_in("d-qian").get("/api/me").json()["role"]
    assert "ExecGranted" in stored_event_kinds(workspace, "d-qian")


def test_a_one_time_link_sets_the_agents_own_password_once(workspace: RunningWorkspace) -> None:
    from tests.cli import eventchain

    kek = (workspace.data_dir / "demo.kek").read_text()
    issued = eventchain(workspace.data_dir, "team", "invite", "a-chen", "--link", kek=kek)
    assert issued.returncode == 0, issued.stderr
    url = urlsplit(issued.stdout.strip())  # on the CLI's --web-addr (the default here)
    assert url.netloc == "127.0.0.1:8710" and "valid 24 h" in issued.stderr
    path = url.path
    assert path.startswith("/welcome/a-chen/")
    client = workspace.client()
    assert 401 == login(workspace.client(), "a-chen", "anything-at-all").status_code  # no password yet

    short = client.post(path, data={"csrf": csrf_of(client, path), "password": "short", "confirm": "short"})
    differ = client.post(
        path, data={"csrf": csrf_of(client, path), "password": "long-enough-1", "confirm": "long-enough-2"}
    )
    no_csrf = client.post(path, data={"password": "long-enough-1", "confirm": "long-enough-1"})
    assert (400, 400, 403) == (short.status_code, differ.status_code, no_csrf.status_code)
    assert "密码" in message_of(short.text) and "确认密码" in message_of(differ.text)

    chosen = "我的新密码-2026"
    done = client.post(path, data={"csrf": csrf_of(client, path), "password": chosen, "confirm": chosen})
    assert 303 == done.status_code and done.headers["location"] == "/login"
    assert "密码已设置" in client.get("/login").text  # the server's notice, once
    assert "密码已设置" not in client.get("/login").text
    assert "密码已设置" not in workspace.client().get("/login?notice=password_set").text
    assert 303 == login(workspace.client(), "a-chen", chosen).status_code

    again = workspace.client()
    assert 404 == again.get(path, headers={"accept": "text/html"}).status_code
    reused = again.post(
        path, data={"csrf": csrf_of(again, path), "password": "another-one-9", "confirm": "another-one-9"}
    )
    assert 404 == reused.status_code
    assert 303 == login(workspace.client(), "a-chen", chosen).status_code  # unchanged by the reuse
    assert stored_event_kinds(workspace, "a-chen") == [
        "Invited",
        "LinkIssued",
        "SignInFailed",  # before the link was used: no password works
        "PasswordChanged",
        "SignedIn",
        "SignedIn",
    ]


def test_a_one_time_link_expires_after_a_day_and_a_new_one_replaces_it(workspace: RunningWorkspace) -> None:
    from tests.cli import eventchain

    kek = (workspace.data_dir / "demo.kek").read_text()

    def link() -> str:
        issued = eventchain(workspace.data_dir, "team", "invite", "a-wang", "--link", kek=kek)
        assert issued.returncode == 0, issued.stderr
        return urlsplit(issued.stdout.strip()).path

    first, second = link(), link()
    client = workspace.client()
    assert 404 == client.get(first, headers={"accept": "text/html"}).status_code  # replaced
    assert 200 == client.get(second, headers={"accept": "text/html"}).status_code
    workspace.clock.offset = timedelta(hours=24, seconds=1)
    assert 404 == client.get(second, headers={"accept": "text/html"}).status_code
    workspace.sign_in("a-wang")  # the initial password still works: a link replaces nothing else


def test_a_temporary_password_leads_only_to_a_new_one_that_is_neither_short_nor_common(
    workspace: RunningWorkspace,
) -> None:
    temporary = invite(workspace.data_dir, (workspace.data_dir / "demo.kek").read_text(), "a-chen")
    client = workspace.client()
    assert 303 == login(client, "a-chen", temporary).status_code

    def change(password: str) -> tuple[int, str]:
        fields = {"current": temporary, "password": password, "confirm": password}
        answer = client.post("/password", data={"csrf": csrf_of(client, "/password"), **fields})
        return answer.status_code, message_of(answer.text) if answer.status_code == 400 else ""

    desk = client.get("/desk", headers={"accept": "text/html"})
    api = client.get("/api/customers")
    common, short = change("woaini1314"), change("short")
    still = client.get("/desk", headers={"accept": "text/html"})
    accepted = change("a-chen-own-Passw0rd")
    after = client.get("/desk", headers={"accept": "text/html"})

    assert (303, "/password") == (desk.status_code, desk.headers["location"])
    assert 403 == api.status_code
    assert (400, "密码: 太常见，容易被猜中（如 123456、生日、键盘上连着的键），请换一个") == common
    assert (400, "密码: 至少需要 10 个字符") == short
    assert "/password" == still.headers["location"]
    assert 303 == accepted[0] and 200 == after.status_code
    assert 401 == login(workspace.client(), "a-chen", temporary).status_code
