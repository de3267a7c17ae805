"""Use cases over workspace accounts (``domain.accounts``): invite, sign in, sign out."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError

from adapters.application import EventChain
from adapters.rules import roster
from domain.accounts import Account, AccountError, account_id, workspace_role

HASHER = PasswordHasher()
# Verifying against this when the account does not exist costs the same time as a real
# check, so response time does not tell an attacker which agent ids have accounts.
_ABSENT_HASH = HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class SignedIn:
    agent_id: str
    role: str  # "sales:<id>", "director:<id>" or "exec": from the roster and grants only
    session_id: str


def invite(app: EventChain, agent_id: str, invited_by: str, *, grant_exec: bool = False) -> str:
    """Creates the agent's account (or resets its password) and returns the initial
    password, shown once: only its argon2 hash is stored."""
    agent = roster(app).agents.get(agent_id)
    if agent is None:
        raise AccountError(f"no agent {agent_id} on the roster (eventchain team list)")
    password = secrets.token_urlsafe(12)
    password_hash = HASHER.hash(password)
    now = app.clock()
    account = find_account(app, agent_id)
    if account is None:
        account = Account.invite(agent, password_hash, invited_by, now)
    else:
        account.reset_password(password_hash, invited_by, now)
    if grant_exec:
        account.grant_exec(invited_by, now)
    app.save(account)
    return password


def find_account(app: EventChain, agent_id: str) -> Account | None:
    try:
        account: Account = app.repository.get(account_id(agent_id))
    except AggregateNotFoundError:
        return None
    return account if isinstance(account, Account) else None


def sign_in(app: EventChain, agent_id: str, password: str, client: str) -> SignedIn:
    """Checks the password and records the sign-in (or the failure) on the account."""
    account = find_account(app, agent_id)
    if account is None:
        _verify(_ABSENT_HASH, password)
        raise SignInError("wrong agent id or password")
    now = app.clock()
    if not _verify(account.password_hash, password):
        account.fail_sign_in("wrong password", client, now)
        app.save(account)
        raise SignInError("wrong agent id or password")
    try:
        role = workspace_role(roster(app).agents, account)
    except AccountError as error:
        account.fail_sign_in(str(error), client, now)
        app.save(account)
        raise SignInError(str(error)) from None
    session_id = secrets.token_urlsafe(16)
    account.sign_in(session_id, role, client, now)
    app.save(account)
    return SignedIn(agent_id, role, session_id)


def sign_out(app: EventChain, agent_id: str, session_id: str) -> None:
    account = find_account(app, agent_id)
    if account is not None:
        account.sign_out(session_id, app.clock())
        app.save(account)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class SignInError(ValueError):
    """Sign-in refused; the message is safe to show (it never says which part was wrong)."""
