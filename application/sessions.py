"""Use cases over workspace sessions (issue 29): open one at sign-in, authorise each request,
end one, end an agent's (sign out everywhere, an administrator, a read alert), hold and
release sign-ins. The state is in the store's database (``adapters.sessions``); sign-ins and
sign-outs are also events on the agent's ``Account``, with address and device, so the audit
trail says who was signed in when."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from adapters.sessions import SessionTable
from application.event_chain import EventChain, back_off_after_conflict
from domain.accounts import Account, account_id
from domain.sessions import (
    ENDED_BY_ADMIN,
    HELD,
    RETENTION,
    Session,
    SessionPolicy,
    ended,
    expiry_of,
    open_session,
)

SAVE_ATTEMPTS: Final = 5
T = TypeVar("T")
log = logging.getLogger("eventchain.sessions")
DEFAULT_POLICY: Final = SessionPolicy()


def session_key(session_id: str) -> str:
    """What the store keeps of a cookie's session id: its SHA-256."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def on_account(app: EventChain, agent_id: str, change: Callable[[Account], T]) -> T | None:
    """Loads the agent's account, applies ``change`` and saves; retried when another process
    saved the same account in between (two sign-ins at once). None when there is no account."""
    for attempt in range(SAVE_ATTEMPTS):
        account = find_account(app, agent_id)
        if account is None:
            return None
        result = change(account)
        try:
            app.save(account)
        except IntegrityError:
            if attempt == SAVE_ATTEMPTS - 1:
                raise
            back_off_after_conflict(attempt + 1)
            continue
        return result
    return None  # not reached


def find_account(app: EventChain, agent_id: str) -> Account | None:
    try:
        account: Account = app.repository.get(account_id(agent_id))
    except AggregateNotFoundError:
        return None
    return account if isinstance(account, Account) else None


@dataclass(frozen=True, slots=True)
class Ended:
    agent_id: str
    count: int


def open_for(
    app: EventChain, table: SessionTable, agent_id: str, session_id: str, client: str, device: str
) -> Session:
    """Opens a session at sign-in; rows over for longer than RETENTION are pruned on the way."""
    now = app.clock()
    session = open_session(session_key(session_id), agent_id, now, client, device)
    table.add(session)
    prune_sessions(table, now)
    return session


def prune_sessions(table: SessionTable, now: datetime) -> list[tuple[str, str]]:
    """Deletes the session rows over for longer than RETENTION; logs how many, of whom."""
    pruned = table.prune(now - RETENTION)
    if pruned:
        agents = Counter(agent for agent, _ in pruned)
        log.info(
            "pruned %d session rows over before %s: %s",
            len(pruned),
            (now - RETENTION).isoformat(timespec="seconds"),
            ", ".join(f"{agent} {count}" for agent, count in sorted(agents.items())),
        )
    return pruned


def end_session(
    app: EventChain, table: SessionTable, session: Session, reason: str, ended_by: str = ""
) -> bool:
    """Ends one session in the table (every process refuses it from the next request) and
    records the sign-out on the account. False when it had already ended."""
    now = app.clock()
    if not table.end(session.key, now, reason):
        return False
    gone = ended(session, now, reason)
    on_account(
        app,
        session.agent_id,
        lambda account: account.sign_out(
            gone.key, now, reason=reason, ended_by=ended_by, client=session.client, device=session.device
        ),
    )
    return True


def end_sessions_of(
    app: EventChain,
    table: SessionTable,
    agent_id: str,
    reason: str = ENDED_BY_ADMIN,
    ended_by: str = "",
    *,
    keep: str | None = None,
    policy: SessionPolicy = DEFAULT_POLICY,
) -> Ended:
    """Ends every open session of ``agent_id`` (but ``keep``, a session key) and counts them.
    A row the clock already ended (idle, expired: its browser never came back to be told) is
    closed with that reason and not counted: it let no request through."""
    count, now = 0, app.clock()
    for session in table.sessions_of([agent_id], open_only=True):
        if session.key == keep:
            continue
        over = expiry_of(session, now, policy)
        if end_session(app, table, session, over or reason, ended_by) and over is None:
            count += 1
    return Ended(agent_id, count)


def hold_sign_ins(app: EventChain, table: SessionTable, agent_id: str, reason: str, held_by: str) -> Ended:
    """Freezes an account: its sessions end and new sign-ins are refused until released."""
    now = app.clock()
    on_account(app, agent_id, lambda account: account.hold(reason, held_by, now))
    return end_sessions_of(app, table, agent_id, HELD, held_by)


def release_sign_ins(app: EventChain, agent_id: str, released_by: str) -> bool:
    """Lets a held agent sign in again; False when there is no such account."""
    now = app.clock()
    return on_account(app, agent_id, lambda account: account.release(released_by, now)) is not None


def open_sessions(
    app: EventChain, table: SessionTable, agent_ids: list[str], policy: SessionPolicy
) -> list[Session]:
    """The agents' sessions that still let requests through by the clock, newest first."""
    now = app.clock()
    return [s for s in table.sessions_of(agent_ids, open_only=True) if expiry_of(s, now, policy) is None]
