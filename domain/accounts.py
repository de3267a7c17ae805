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
from domain.sessions import SIGNED_OUT, Standing, role_of

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
            aggregate.must_change_password = True  # an operator's password is a temporary one

    class LinkIssued(Aggregate.Event):
        """A one-time sign-up link: only the SHA-256 of its token is stored."""

        token_sha256: str
        issued_by: str
        expires_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.link = (self.token_sha256, self.expires_at)

    class PasswordChanged(Aggregate.Event):
        """The agent set their own password (through a one-time link, or on the web in place
        of a temporary one)."""

        password_hash: str
        changed_at: datetime
        via: str

        def apply(self, aggregate: Account) -> None:
            aggregate.password_hash = self.password_hash
            aggregate.link = None
            aggregate.must_change_password = False

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
        session_id: str  # since issue 29 the session's key (SHA-256 of the cookie's id)
        role: str
        client: str
        signed_in_at: datetime
        device: str = ""  # the browser's User-Agent (added by issue 29)

    class SignInFailed(Aggregate.Event):
        reason: str
        client: str
        failed_at: datetime

    class SignedOut(Aggregate.Event):
        session_id: str
        signed_out_at: datetime
        reason: str = "signed out"  # domain.sessions: signed out, expired, ended by …
        ended_by: str = ""  # who ended it, when not the agent (a director, an operator, an alert)
        client: str = ""
        device: str = ""

        def apply(self, aggregate: Account) -> None:
            aggregate.ended_sessions.add(self.session_id)

    class SignInsHeld(Aggregate.Event):
        """New sign-ins refused (a read alert froze the account) until a director releases it."""

        reason: str
        held_by: str
        held_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.held = self.reason

    class SignInsReleased(Aggregate.Event):
        released_by: str
        released_at: datetime

        def apply(self, aggregate: Account) -> None:
            aggregate.held = None
            aggregate.released_at = self.released_at

    def __init__(self, agent_id: str, password_hash: str, invited_by: str, invited_at: datetime) -> None:
        self.agent_id = agent_id
        self.password_hash = password_hash
        self.exec_granted = False
        self.ended_sessions: set[str] = set()
        self.link: tuple[str, datetime] | None = None  # (token SHA-256, expiry) until used
        self.must_change_password = True  # the invitation's password is a temporary one
        self.held: str | None = None
        self.released_at: datetime | None = None  # reads before a director's release are forgiven

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

    def change_password(self, password_hash: str, at: datetime) -> None:
        """The agent replaces their password (a temporary one at first sign-in)."""
        self.trigger_event(
            self.PasswordChanged, timestamp=at, password_hash=password_hash, changed_at=at, via="web"
        )

    def hold(self, reason: str, held_by: str, at: datetime) -> None:
        if self.held is None:
            self.trigger_event(self.SignInsHeld, timestamp=at, reason=reason, held_by=held_by, held_at=at)

    def release(self, released_by: str, at: datetime) -> None:
        if self.held is not None:
            self.trigger_event(self.SignInsReleased, timestamp=at, released_by=released_by, released_at=at)

    def standing(self) -> Standing:
        return Standing(self.exec_granted, self.held, self.must_change_password)

    def grant_exec(self, granted_by: str, at: datetime) -> None:
        if not self.exec_granted:
            self.trigger_event(self.ExecGranted, timestamp=at, granted_by=granted_by, granted_at=at)

    def revoke_exec(self, revoked_by: str, at: datetime) -> None:
        if self.exec_granted:
            self.trigger_event(self.ExecRevoked, timestamp=at, revoked_by=revoked_by, revoked_at=at)

    def sign_in(self, session_id: str, role: str, client: str, at: datetime, device: str = "") -> None:
        self.trigger_event(
            self.SignedIn,
            timestamp=at,
            session_id=session_id,
            role=role,
            client=client,
            signed_in_at=at,
            device=device,
        )

    def fail_sign_in(self, reason: str, client: str, at: datetime) -> None:
        self.trigger_event(self.SignInFailed, timestamp=at, reason=reason, client=client, failed_at=at)

    def sign_out(
        self,
        session_id: str,
        at: datetime,
        *,
        reason: str = SIGNED_OUT,
        ended_by: str = "",
        client: str = "",
        device: str = "",
    ) -> None:
        if session_id not in self.ended_sessions:
            self.trigger_event(
                self.SignedOut,
                timestamp=at,
                session_id=session_id,
                signed_out_at=at,
                reason=reason,
                ended_by=ended_by,
                client=client,
                device=device,
            )


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
    role = role_of(agents, agent.agent_id, account.exec_granted)
    assert role is not None  # on the roster and not gone: checked above
    return role


def check_can_sign_in(agent: Agent) -> None:
    if agent.status == "left":
        raise AccountError(f"agent {agent.agent_id} has left the team")


class AccountError(ValueError):
    """An account that cannot be created or used (agent unknown or gone)."""
