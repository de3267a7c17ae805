"""Use cases over workspace accounts (``domain.accounts``): invite, sign in, sign out."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from application.event_chain import EventChain
from application.passwords import password_problem
from application.rules import roster
from application.sessions import find_account as find_account
from application.sessions import new_session_id, on_account, session_key
from domain.accounts import Account, AccountError, workspace_role

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


LINK_LIFETIME: Final = timedelta(hours=24)


def invite_link(app: EventChain, agent_id: str, invited_by: str, *, grant_exec: bool = False) -> str:
    """Creates the agent's account if needed and issues a one-time link token, valid for
    ``LINK_LIFETIME``, with which the agent sets their own password; only the token's SHA-256
    is stored. Returns the token (shown once). An account made this way has no usable
    password until the link is used."""
    agent = roster(app).agents.get(agent_id)
    if agent is None:
        raise AccountError(f"no agent {agent_id} on the roster (eventchain team list)")
    token = secrets.token_urlsafe(32)
    now = app.clock()
    account = find_account(app, agent_id)
    if account is None:  # an unknown random password: nobody can sign in before the link is used
        account = Account.invite(agent, HASHER.hash(secrets.token_urlsafe(32)), invited_by, now)
    account.issue_link(_sha256(token), invited_by, now, now + LINK_LIFETIME)
    if grant_exec:
        account.grant_exec(invited_by, now)
    app.save(account)
    return token


def redeem_link(app: EventChain, agent_id: str, token: str, password: str, confirm: str) -> None:
    """Sets ``agent_id``'s password through a one-time link. Raises PasswordError (which field,
    why) for a password that is refused, AccountError for a link that is not valid."""
    check_new_password(password, confirm)
    account = find_account(app, agent_id)
    if account is None:
        raise AccountError("this link is not valid (used, replaced or expired): ask for a new one")
    account.redeem_link(_sha256(token), HASHER.hash(password), app.clock())
    app.save(account)


def link_valid(app: EventChain, agent_id: str, token: str) -> bool:
    account = find_account(app, agent_id)
    if account is None or account.link is None:
        return False
    return hmac.compare_digest(account.link[0], _sha256(token)) and app.clock() < account.link[1]


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(app: EventChain, agent_id: str, password: str, client: str, device: str = "") -> SignedIn:
    """Checks the password and records the sign-in (or the failure) on the account. The
    session itself is opened by ``application.sessions.open_for`` with the returned id."""
    account = find_account(app, agent_id)
    if account is None:
        _verify(_ABSENT_HASH, password)
        raise SignInError("wrong agent id or password")
    now = app.clock()
    if not _verify(account.password_hash, password):
        on_account(app, agent_id, lambda a: a.fail_sign_in("wrong password", client, now))
        raise SignInError("wrong agent id or password")
    if account.held is not None:  # told only to who knows the password
        on_account(app, agent_id, lambda a: a.fail_sign_in("sign-ins held", client, now))
        raise SignInsHeldError(account.held)
    try:
        role = workspace_role(roster(app).agents, account)
    except AccountError as error:
        why = str(error)
        on_account(app, agent_id, lambda a: a.fail_sign_in(why, client, now))
        raise SignInError(why) from None
    session_id = new_session_id()
    key = session_key(session_id)
    on_account(app, agent_id, lambda a: a.sign_in(key, role, client, now, device[:300]))
    return SignedIn(agent_id, role, session_id)


def check_new_password(password: str, confirm: str) -> None:
    """Raises PasswordError (which field, why) for a new password that is refused."""
    if password != confirm:
        raise PasswordError("confirm", "passwords_differ")
    problem = password_problem(password)
    if problem is not None:
        raise PasswordError("password", problem)


def change_password(app: EventChain, agent_id: str, current: str, password: str, confirm: str) -> None:
    """The signed-in agent replaces their password (a temporary one first of all). Raises
    PasswordError for a wrong current password or a refused new one."""
    account = find_account(app, agent_id)
    if account is None or not _verify(account.password_hash, current):
        raise PasswordError("current_password", "wrong_current")
    check_new_password(password, confirm)
    if _verify(account.password_hash, password):
        raise PasswordError("password", "same_as_before")
    password_hash = HASHER.hash(password)
    now = app.clock()
    on_account(app, agent_id, lambda a: a.change_password(password_hash, now))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordError(ValueError):
    """A new password that is refused: which field, and why (a key of the workspace's words:
    ``too_short``, ``too_common``, ``passwords_differ``…)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SignInError(ValueError):
    """Sign-in refused; the message is safe to show (it never says which part was wrong)."""


class SignInsHeldError(SignInError):
    """The right password, but a read alert froze the account until a director releases it."""
