"""What keeps the workspace's sessions honest: the cookie's signing secret, CSRF tokens, the
sign-in rate limit (shared by every process through the store) and the sessions' lifetimes.
Time is the application's clock."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from adapters.sessions import SessionTable
from domain.sessions import SessionPolicy, blocked

SESSION_POLICY: Final = SessionPolicy()
SESSION_LIFETIME: Final = SESSION_POLICY.absolute
SIGN_IN_ATTEMPTS: Final = 5  # failures allowed per agent id within the window
CLIENT_SIGN_IN_ATTEMPTS: Final = 20  # per client address (a shared office NAT holds many agents)
SIGN_IN_WINDOW: Final = timedelta(minutes=15)
SECRET_ENV: Final = "EVENTCHAIN_WEB_SECRET"


def session_secret(kek: bytes | None) -> str:
    """EVENTCHAIN_WEB_SECRET if set; else derived from the key-encryption key (sessions
    survive a restart); else random for this process (everyone signs in again after one)."""
    configured = os.environ.get(SECRET_ENV)
    if configured:
        return configured
    if kek is not None:
        return hmac.new(kek, b"eventchain web session cookie", hashlib.sha256).hexdigest()
    return secrets.token_hex(32)


def csrf_token(session: dict[str, Any]) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def csrf_matches(session: dict[str, Any], offered: str | None) -> bool:
    expected = session.get("csrf")
    return isinstance(expected, str) and isinstance(offered, str) and hmac.compare_digest(expected, offered)


class SignInLimiter:
    """At most SIGN_IN_ATTEMPTS failed sign-ins per agent id (CLIENT_SIGN_IN_ATTEMPTS per
    client address) in any SIGN_IN_WINDOW, counted in the store (``adapters.sessions``), so
    every process sees every failure: guesses spread over N processes count as if they had
    gone to one. A success does not reset the count (that would let guesses interleave with
    the attacker's own sign-ins)."""

    def __init__(self, table: SessionTable, clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock

    def blocked(self, agent_id: str, client: str) -> bool:
        now = self._clock()
        after = now - SIGN_IN_WINDOW
        return blocked(self._table.failures(f"agent:{agent_id}", after, now), SIGN_IN_ATTEMPTS) or blocked(
            self._table.failures(f"client:{client}", after, now), CLIENT_SIGN_IN_ATTEMPTS
        )

    def failed(self, agent_id: str, client: str) -> None:
        self._table.failed((f"agent:{agent_id}", f"client:{client}"), self._clock())
