"""Workspace sessions (issue 29): pure rules over a session's state, the roster and the
account's standing. The state itself lives in the store's database (``adapters.sessions``);
every request asks ``authorise`` again, so a sign-out, an expiry, a departure or a role
change is seen by every process on its next request. Time comes in as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from domain.roster import Agent

# Why a session ended: shown on 我的设备 and recorded on the account's SignedOut event.
SIGNED_OUT: Final = "signed out"
ENDED_BY_USER: Final = "ended from my devices"
ENDED_BY_ADMIN: Final = "ended by an administrator"
SIGNED_OUT_EVERYWHERE: Final = "signed out everywhere"
IDLE: Final = "idle"
EXPIRED: Final = "expired"
LEFT: Final = "left the team"
HELD: Final = "sign-ins held"
PASSWORD_CHANGED: Final = "password changed"


# How long a session's row is kept after it ended (or its browser last came): what
# `team sessions list --days` can show. Sign-ins and sign-outs stay in the accounts' history.
RETENTION: Final = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives: ``absolute`` from sign-in, ``idle`` since the last request.
    ``touch_every``: how stale ``last_seen_at`` may be before a request writes it again."""

    idle: timedelta = timedelta(hours=2)
    absolute: timedelta = timedelta(hours=8)
    touch_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in browser. ``key`` is the SHA-256 of the cookie's session id: the store
    never holds a value that would let its reader act as the user."""

    key: str
    agent_id: str
    issued_at: datetime
    last_seen_at: datetime
    client: str  # the address it signed in from
    device: str  # the browser's User-Agent, as sent
    ended_at: datetime | None = None
    ended_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """What the account says about its agent, beside the roster."""

    exec_granted: bool = False
    held: str | None = None  # why new sign-ins are held (a read alert), until a director releases
    must_change_password: bool = False


@dataclass(frozen=True, slots=True)
class Granted:
    role: str  # "sales:<id>", "director:<id>" or "exec", from the roster and the grant, now
    must_change_password: bool


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


def open_session(key: str, agent_id: str, at: datetime, client: str, device: str) -> Session:
    return Session(key, agent_id, at, at, client, device)


def expiry_of(session: Session, now: datetime, policy: SessionPolicy) -> str | None:
    """Why the session is over by the clock (``EXPIRED``, ``IDLE``), or None while it runs.
    A clock before the sign-in (moved back) counts as expired: nothing vouches for it."""
    if not session.issued_at <= now < session.issued_at + policy.absolute:
        return EXPIRED
    if now >= max(session.last_seen_at, session.issued_at) + policy.idle:
        return IDLE
    return None


def ended(session: Session, at: datetime, reason: str) -> Session:
    """The session ended at ``at``; a session ends once (the first reason stays)."""
    if session.ended_at is not None:
        return session
    return replace(session, ended_at=at, ended_reason=reason)


def touched(session: Session, now: datetime, policy: SessionPolicy) -> Session | None:
    """The session seen at ``now``, or None when ``last_seen_at`` is recent enough to keep
    (a write per request would serialise every request on the store's write lock)."""
    if now - session.last_seen_at < policy.touch_every:
        return None
    return replace(session, last_seen_at=now)


def role_of(agents: Mapping[str, Agent], agent_id: str, exec_granted: bool) -> str | None:
    """``exec`` for an operator's grant; ``director:<id>`` for an agent others (still on the
    team) report to; else ``sales:<id>``; None for an agent not on the roster or gone."""
    agent = agents.get(agent_id)
    if agent is None or agent.status == "left":
        return None
    if exec_granted:
        return "exec"
    manages = any(a.manager == agent_id and a.status != "left" for a in agents.values())
    return f"{'director' if manages else 'sales'}:{agent_id}"


def authorise(
    session: Session | None,
    now: datetime,
    policy: SessionPolicy,
    agents: Mapping[str, Agent],
    standing: Standing | None,
) -> Granted | Refused:
    """May this session's next request go through, and with which role? Asked on every
    request: nothing the cookie says is trusted beyond which session it is."""
    if session is None:
        return Refused("unknown session")
    if session.ended_at is not None:
        return Refused(session.ended_reason or SIGNED_OUT)
    over = expiry_of(session, now, policy)
    if over is not None:
        return Refused(over)
    if standing is None:
        return Refused("no account")
    if standing.held is not None:
        return Refused(HELD)
    role = role_of(agents, session.agent_id, standing.exec_granted)
    if role is None:
        return Refused(LEFT)
    return Granted(role, standing.must_change_password)


def may_end(role: str, team: tuple[str, ...], actor: str, owner: str) -> bool:
    """Whose sessions a signed-in user may end: their own; a director their team's; exec all."""
    return actor == owner or role == "exec" or (role.startswith("director:") and owner in team)


def blocked(failures_in_window: int, limit: int) -> bool:
    """The sign-in rate limit: refused once ``limit`` failures fall within the window."""
    return failures_in_window >= limit
