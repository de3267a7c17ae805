"""What keeps the workspace's sessions honest: the signing secret, CSRF tokens, the
sign-in rate limit and the session's lifetime. Time is the application's clock."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

SESSION_LIFETIME: Final = timedelta(hours=8)
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


def session_current(session: dict[str, Any], now: datetime, ended: set[str]) -> bool:
    """A signed-in session that has not expired (by the application's clock) nor ended."""
    issued = session.get("issued_at")
    if not isinstance(issued, str) or not session.get("agent") or not session.get("role"):
        return False
    try:
        issued_at = datetime.fromisoformat(issued)
    except ValueError:
        return False
    return issued_at <= now < issued_at + SESSION_LIFETIME and session.get("sid") not in ended


class SignInLimiter:
    """At most SIGN_IN_ATTEMPTS failed sign-ins per agent id (CLIENT_SIGN_IN_ATTEMPTS per
    client address) in any SIGN_IN_WINDOW; a success does not reset the count (that would
    let guesses interleave with the attacker's own sign-ins)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._failures: defaultdict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, agent_id: str, client: str) -> bool:
        now = self._clock()
        with self._lock:
            return (
                len(self._recent(f"agent:{agent_id}", now)) >= SIGN_IN_ATTEMPTS
                or len(self._recent(f"client:{client}", now)) >= CLIENT_SIGN_IN_ATTEMPTS
            )

    def failed(self, agent_id: str, client: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (f"agent:{agent_id}", f"client:{client}"):
                self._recent(key, now).append(now)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        failures = self._failures[key]
        while failures and failures[0] <= now - SIGN_IN_WINDOW:
            failures.popleft()
        return failures
