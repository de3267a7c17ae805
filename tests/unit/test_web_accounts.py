"""Workspace accounts in the domain: the events an account raises, and the role the
roster gives it (never one taken from a request)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings

from application.event_chain import EventChain
from domain.accounts import Account, AccountError, team_members, workspace_role
from domain.roster import Agent
from tests.strategies import account_histories

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENTS = {
    a.agent_id: a
    for a in (
        Agent("a-wang", "王工", "hz", manager="m-zhao"),
        Agent("a-li", "李工", "cd", manager="m-zhao"),
        Agent("m-zhao", "赵经理", "hz", manager="d-qian"),
        Agent("d-qian", "钱总监", "hz"),
        Agent("a-gone", "走了", "hz", manager="m-zhao", status="left"),
    )
}


def test_an_account_records_its_invitation_grants_sign_ins_and_sign_outs_as_events() -> None:
    account = Account.invite(AGENTS["a-wang"], "$argon2id$hash", "ops", AT)
    account.grant_exec("ops", AT)
    account.grant_exec("ops", AT)  # already granted: nothing new
    account.sign_in("s1", "exec", "127.0.0.1", AT)
    account.fail_sign_in("wrong password", "127.0.0.1", AT)
    account.sign_out("s1", AT)
    account.sign_out("s1", AT)  # already ended: nothing new

    kinds = [type(event).__name__ for event in account.collect_events()]

    assert ["Invited", "ExecGranted", "SignedIn", "SignInFailed", "SignedOut"] == kinds
    assert {"s1"} == account.ended_sessions


@pytest.mark.parametrize(
    ("agent_id", "role"),
    [("a-wang", "sales:a-wang"), ("m-zhao", "director:m-zhao"), ("d-qian", "director:d-qian")],
)
def test_the_role_comes_from_who_reports_to_whom(agent_id: str, role: str) -> None:
    account = Account.invite(AGENTS[agent_id], "$argon2id$hash", "ops", AT)

    assert role == workspace_role(AGENTS, account)


def test_an_exec_grant_outranks_the_roster() -> None:
    account = Account.invite(AGENTS["a-wang"], "$argon2id$hash", "ops", AT)
    account.grant_exec("ops", AT)

    assert "exec" == workspace_role(AGENTS, account)


def test_an_agent_who_left_cannot_be_invited_or_sign_in() -> None:
    with pytest.raises(AccountError, match="a-gone has left the team"):
        Account.invite(AGENTS["a-gone"], "$argon2id$hash", "ops", AT)
    account = Account.invite(AGENTS["a-wang"], "$argon2id$hash", "ops", AT)

    with pytest.raises(AccountError, match="a-wang is not on the roster"):
        workspace_role({}, account)


def test_a_directors_team_is_their_roster_team_and_their_direct_reports() -> None:
    assert ["a-gone", "a-li", "a-wang", "d-qian", "m-zhao"] == team_members(AGENTS, "m-zhao")
    assert [] == team_members(AGENTS, "nobody")


@settings(max_examples=60)
@given(account_histories())
def test_every_account_event_survives_the_store_and_replays_to_the_same_account(account: Account) -> None:
    app = EventChain(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    events = account.collect_events()
    app.save(*events)  # type: ignore[arg-type]

    stored = list(app.events.get(account.id))
    replayed = app.repository.get(account.id)

    assert events == stored
    assert account.standing() == replayed.standing()
    assert account.ended_sessions == replayed.ended_sessions


def test_a_temporary_password_must_be_changed_and_a_hold_lasts_until_released() -> None:
    account = Account.invite(AGENTS["a-wang"], "$argon2id$temporary", "ops", AT)
    first = account.standing()
    account.change_password("$argon2id$own", AT)
    account.hold("read alert: 300 rows within 60 min", "read alert", AT)
    account.hold("again", "read alert", AT)  # already held: nothing new
    held = account.standing()
    account.release("m-zhao", AT)
    account.reset_password("$argon2id$reset", "ops", AT)

    kinds = [type(event).__name__ for event in account.collect_events()]

    assert first.must_change_password and not held.must_change_password
    assert "read alert: 300 rows within 60 min" == held.held
    assert (None, True) == (account.held, account.must_change_password)
    assert ["Invited", "PasswordChanged", "SignInsHeld", "SignInsReleased", "PasswordReset"] == kinds
