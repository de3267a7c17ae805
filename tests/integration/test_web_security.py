"""Sign-in security over real HTTP: argon2 hashes, signed cookies that cannot be forged,
session expiry by the application's clock, logout, the sign-in rate limit, and sign-ins
recorded as account events."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from adapters.web.accounts import find_account
from adapters.web.app import SESSION_COOKIE
from adapters.web.security import SESSION_LIFETIME, SIGN_IN_ATTEMPTS, SIGN_IN_WINDOW
from tests.web_support import RunningWorkspace, csrf_of, login, start_workspace


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
    store = (workspace.data_dir / "events.db").read_bytes()
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
    client = workspace.sign_in("a-wang")
    assert 200 == client.get("/api/me").status_code

    workspace.clock.offset = SESSION_LIFETIME - timedelta(minutes=1)
    still = client.get("/api/me").status_code
    workspace.clock.offset = SESSION_LIFETIME + timedelta(minutes=1)
    expired = client.get("/api/me").status_code

    assert (200, 401) == (still, expired)


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
