"""Workspace sessions, sign-in failures and checkpoints in the store's own database (issue 29).

The tables sit beside the event store's (like ``adapters.crypto``'s keys), on SQLite or
PostgreSQL, so every ``serve`` process and every restart sees one truth: a session ended in
one process is ended in all, and failed sign-ins are counted across processes.

- ``eventchain_sessions``: one row per signed-in browser, keyed by the SHA-256 of the
  cookie's session id (the raw id is only ever in the cookie).
- ``eventchain_sign_in_failures``: one row per failed sign-in per counter (``agent:<id>``,
  ``client:<address>``), pruned as they leave the window.
- ``eventchain_checkpoints``: a named position in the log and a small state, advanced by
  compare-and-set (the read-alert check: each new read is checked once, by one process).

Times are stored as UTC ISO-8601 text with microseconds, which sorts as time does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder

from domain.sessions import Session

TABLES: Final = (
    "CREATE TABLE IF NOT EXISTS eventchain_sessions (session_key TEXT PRIMARY KEY, "
    "agent_id TEXT NOT NULL, issued_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, "
    "client TEXT NOT NULL, device TEXT NOT NULL, ended_at TEXT, ended_reason TEXT)",
    "CREATE INDEX IF NOT EXISTS eventchain_sessions_agent ON eventchain_sessions (agent_id, issued_at)",
    "CREATE TABLE IF NOT EXISTS eventchain_sign_in_failures (counter TEXT NOT NULL, failed_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS eventchain_sign_in_failures_counter "
    "ON eventchain_sign_in_failures (counter, failed_at)",
    "CREATE TABLE IF NOT EXISTS eventchain_checkpoints (name TEXT PRIMARY KEY, "
    "position BIGINT NOT NULL, state TEXT NOT NULL)",
)
TABLE_LOCK_KEY: Final = 0x6576_7365_7373  # "evsess": one creator at a time on PostgreSQL
COLUMNS: Final = "session_key, agent_id, issued_at, last_seen_at, client, device, ended_at, ended_reason"
MAX_DEVICE: Final = 300


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class SessionTable:
    """The sessions, failure counters and checkpoints of one store."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self._postgres = isinstance(recorder, PostgresApplicationRecorder)
        self._create_tables()

    def _run(
        self, sql: str, params: Sequence[Any] = (), fetch: bool = False, commit: bool | None = None
    ) -> tuple[list[tuple[Any, ...]], int]:
        """Runs one statement in its own transaction; (rows if ``fetch``, rows affected). A
        statement that fetches only reads, unless ``commit`` (a DELETE … RETURNING)."""
        if self._postgres:
            sql = sql.replace("?", "%s")
        # A query takes a reader's connection: on SQLite the library hands out one writer's at a
        # time per process, and every request reads its session.
        datastore = self.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=not fetch if commit is None else commit) as cursor:
            cursor.execute(sql, tuple(params))
            rows = cursor.fetchall() if fetch else []
            count = getattr(cursor, "sqlite_cursor", cursor).rowcount  # the library wraps SQLite's
        if self._postgres:
            return [tuple(r.values()) for r in rows], count
        return [tuple(r) for r in rows], count

    def _create_tables(self) -> None:
        with self.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            if self._postgres:  # CREATE … IF NOT EXISTS races on PostgreSQL's catalogue
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (TABLE_LOCK_KEY,))
            for statement in TABLES:
                cursor.execute(statement)

    # --- sessions --------------------------------------------------------------------

    def add(self, session: Session) -> None:
        self._run(
            f"INSERT INTO eventchain_sessions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
            (
                session.key,
                session.agent_id,
                stamp(session.issued_at),
                stamp(session.last_seen_at),
                session.client[:64],
                session.device[:MAX_DEVICE],
            ),
        )

    def get(self, key: str) -> Session | None:
        rows, _ = self._run(
            f"SELECT {COLUMNS} FROM eventchain_sessions WHERE session_key = ?", (key,), fetch=True
        )
        return _session(rows[0]) if rows else None

    def seen(self, key: str, at: datetime) -> None:
        self._run(
            "UPDATE eventchain_sessions SET last_seen_at = ? WHERE session_key = ? AND last_seen_at < ?",
            (stamp(at), key, stamp(at)),
        )

    def end(self, key: str, at: datetime, reason: str) -> bool:
        """Ends one session; False when it had already ended (the first end stays)."""
        _, count = self._run(
            "UPDATE eventchain_sessions SET ended_at = ?, ended_reason = ? "
            "WHERE session_key = ? AND ended_at IS NULL",
            (stamp(at), reason, key),
        )
        return count > 0

    def sessions_of(
        self, agent_ids: Iterable[str], *, since: datetime | None = None, open_only: bool = False
    ) -> list[Session]:
        """The agents' sessions, newest first: those not ended (``open_only``) or all signed in
        from ``since`` on."""
        agents = sorted(set(agent_ids))
        if not agents:
            return []
        conditions = [f"agent_id IN ({', '.join('?' * len(agents))})"]
        params: list[Any] = list(agents)
        if open_only:
            conditions.append("ended_at IS NULL")
        if since is not None:
            conditions.append("issued_at >= ?")
            params.append(stamp(since))
        rows, _ = self._run(
            f"SELECT {COLUMNS} FROM eventchain_sessions WHERE {' AND '.join(conditions)} "
            "ORDER BY issued_at DESC",
            params,
            fetch=True,
        )
        return [_session(row) for row in rows]

    def all_sessions(self, *, since: datetime | None = None, open_only: bool = False) -> list[Session]:
        rows, _ = self._run("SELECT DISTINCT agent_id FROM eventchain_sessions", fetch=True)
        return self.sessions_of((row[0] for row in rows), since=since, open_only=open_only)

    def prune(self, before: datetime) -> list[tuple[str, str]]:
        """Deletes the sessions over before ``before``: ended then, or (never ended: the
        browser did not come back) last seen then. Returns (agent, issued at) of each row
        deleted. The sign-ins and sign-outs stay in the accounts' event history."""
        rows, _ = self._run(
            "DELETE FROM eventchain_sessions WHERE (ended_at IS NOT NULL AND ended_at < ?) "
            "OR (ended_at IS NULL AND last_seen_at < ? AND issued_at < ?) RETURNING agent_id, issued_at",
            (stamp(before), stamp(before), stamp(before)),
            fetch=True,
            commit=True,
        )
        return sorted((str(r[0]), str(r[1])) for r in rows)

    # --- sign-in failures ------------------------------------------------------------

    def failed(self, counters: Iterable[str], at: datetime) -> None:
        for counter in counters:
            self._run(
                "INSERT INTO eventchain_sign_in_failures (counter, failed_at) VALUES (?, ?)",
                (counter, stamp(at)),
            )

    def failures(self, counter: str, after: datetime, until: datetime) -> int:
        """Failures counted by ``counter`` in (``after``, ``until``]; older ones are pruned."""
        self._run("DELETE FROM eventchain_sign_in_failures WHERE failed_at <= ?", (stamp(after),))
        rows, _ = self._run(
            "SELECT COUNT(*) FROM eventchain_sign_in_failures "
            "WHERE counter = ? AND failed_at > ? AND failed_at <= ?",
            (counter, stamp(after), stamp(until)),
            fetch=True,
        )
        return int(rows[0][0])

    # --- checkpoints -----------------------------------------------------------------

    def checkpoint(self, name: str) -> tuple[int, str]:
        """The checkpoint's (position, state); (0, "") the first time."""
        select = "SELECT position, state FROM eventchain_checkpoints WHERE name = ?"
        rows, _ = self._run(select, (name,), fetch=True)
        if not rows:  # written once: a read-only check takes no write lock
            self._run(
                "INSERT INTO eventchain_checkpoints (name, position, state) VALUES (?, 0, '') "
                "ON CONFLICT (name) DO NOTHING",
                (name,),
            )
            rows, _ = self._run(select, (name,), fetch=True)
        return int(rows[0][0]), str(rows[0][1])

    def advance(self, name: str, expected: int, position: int, state: str) -> bool:
        """Moves the checkpoint from ``expected`` to ``position``; False when another process
        moved it first (then that process has handled the range)."""
        _, count = self._run(
            "UPDATE eventchain_checkpoints SET position = ?, state = ? WHERE name = ? AND position = ?",
            (position, state, name, expected),
        )
        return count > 0


def _session(row: tuple[Any, ...]) -> Session:
    issued, seen, ended = _time(row[2]), _time(row[3]), _time(row[6])
    assert issued is not None and seen is not None
    return Session(row[0], row[1], issued, seen, row[4], row[5], ended, row[7])
