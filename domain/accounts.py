"""Workspace accounts (SPEC §7): one ``Account`` aggregate per roster agent.

An account holds a password hash (computed by the adapter: hashing is not the domain's
business, only that a hash was set), an operator's exec grant, and every sign-in, failed
sign-in and sign-out as events. The role an account signs in with is derived from the
roster (``workspace_role``), never stored and never taken from a request.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.roster import Agent

ACCOUNT_NAMESPACE: Final = UUID("0b7c2f63-4a1e-4f6e-9c1d-5f2a8e7d3b10")


def account_id(agent_id: str) -> UUID:
    return uuid5(ACCOUNT_NAMESPACE, agent_id)


class Account(Aggregate):
    class Invited(Aggregate.Created):
        agent_id: str
        password_hash: str
        invited_by: str
        invited_at: datetime

    class PasswordReset(Aggregate.Event):
        password_hash: str
        reset_by: str
        reset_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.password_hash = self.password_hash

    class LinkIssued(Aggregate.Event):
        """A one-time sign-up link: only the SHA-256 of its token is stored."""

        token_sha256: str
        issued_by: str
        expires_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.link = (self.token_sha256, self.expires_at)

    class PasswordChanged(Aggregate.Event):
        """The agent set their own password (through a one-time link)."""

        password_hash: str
        changed_at: datetime
        via: str

        def apply(self, aggregate: Account) -> None:
            aggregate.password_hash = self.password_hash
            aggregate.link = None

    class ExecGranted(Aggregate.Event):
        granted_by: str
        granted_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.exec_granted = True

    class ExecRevoked(Aggregate.Event):
        revoked_by: str
        revoked_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.exec_granted = False

    class SignedIn(Aggregate.Event):
        session_id: str
        role: str
        client: str
        signed_in_at: datetime

    class SignInFailed(Aggregate.Event):
        reason: str
        client: str
        failed_at: datetime

    class SignedOut(Aggregate.Event):
        session_id: str
        signed_out_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.ended_sessions.add(self.session_id)

    def __init__(self, agent_id: str, password_hash: str, invited_by: str, invited_at: datetime) -> None:
        self.agent_id = agent_id
        self.password_hash = password_hash
        self.exec_granted = False
        self.ended_sessions: set[str] = set()
        self.link: tuple[str, datetime] | None = None  # (token SHA-256, expiry) until used

    @classmethod
    def invite(cls, agent: Agent, password_hash: str, invited_by: str, at: datetime) -> Account:
        check_can_sign_in(agent)
        return cls._create(
            cls.Invited,
            id=account_id(agent.agent_id),
            timestamp=at,
            agent_id=agent.agent_id,
            password_hash=password_hash,
            invited_by=invited_by,
            invited_at=at,
        )

    def reset_password(self, password_hash: str, reset_by: str, at: datetime) -> None:
        self.trigger_event(
            self.PasswordReset, timestamp=at, password_hash=password_hash, reset_by=reset_by, reset_at=at
        )

    def issue_link(self, token_sha256: str, issued_by: str, at: datetime, expires_at: datetime) -> None:
        """A new link replaces any earlier one that was not used."""
        self.trigger_event(
            self.LinkIssued,
            timestamp=at,
            token_sha256=token_sha256,
            issued_by=issued_by,
            expires_at=expires_at,
        )

    def redeem_link(self, token_sha256: str, password_hash: str, at: datetime) -> None:
        """Sets the password through the link, once; raises AccountError for a link that is
        unknown, already used, replaced or expired (one message for all: it says nothing more)."""
        if self.link is None or not hmac.compare_digest(self.link[0], token_sha256) or at >= self.link[1]:
            raise AccountError("this link is not valid (used, replaced or expired): ask for a new one")
        self.trigger_event(
            self.PasswordChanged, timestamp=at, password_hash=password_hash, changed_at=at, via="link"
        )

    def grant_exec(self, granted_by: str, at: datetime) -> None:
        if not self.exec_granted:
            self.trigger_event(self.ExecGranted, timestamp=at, granted_by=granted_by, granted_at=at)

    def revoke_exec(self, revoked_by: str, at: datetime) -> None:
        if self.exec_granted:
            self.trigger_event(self.ExecRevoked, timestamp=at, revoked_by=revoked_by, revoked_at=at)

    def sign_in(self, session_id: str, role: str, client: str, at: datetime) -> None:
        self.trigger_event(
            self.SignedIn, timestamp=at, session_id=session_id, role=role, client=client, signed_in_at=at
        )

    def fail_sign_in(self, reason: str, client: str, at: datetime) -> None:
        self.trigger_event(self.SignInFailed, timestamp=at, reason=reason, client=client, failed_at=at)

    def sign_out(self, session_id: str, at: datetime) -> None:
        if session_id not in self.ended_sessions:
            self.trigger_event(self.SignedOut, timestamp=at, session_id=session_id, signed_out_at=at)


def team_members(agents: Mapping[str, Agent], director_id: str) -> list[str]:
    """The agents a director covers: everyone on the director's team (the director
    included) and everyone who reports to them."""
    director = agents.get(director_id)
    if director is None:
        return []
    return sorted(
        a.agent_id for a in agents.values() if a.team == director.team or a.manager == director.agent_id
    )


def workspace_role(agents: Mapping[str, Agent], account: Account) -> str:
    """``exec`` for an operator's grant; ``director:<id>`` for an agent others report to;
    else ``sales:<id>``. Raises AccountError when the agent is no longer on the roster."""
    agent = agents.get(account.agent_id)
    if agent is None:
        raise AccountError(f"agent {account.agent_id} is not on the roster")
    check_can_sign_in(agent)
    if account.exec_granted:
        return "exec"
    manages = any(a.manager == agent.agent_id and a.status != "left" for a in agents.values())
    return f"{'director' if manages else 'sales'}:{agent.agent_id}"


def check_can_sign_in(agent: Agent) -> None:
    if agent.status == "left":
        raise AccountError(f"agent {agent.agent_id} has left the team")


class AccountError(ValueError):
    """An account that cannot be created or used (agent unknown or gone)."""
