"""Store selection by URL, and bulk reads the library's recorders don't offer.

``sqlite:///path/events.db`` (default) or ``postgresql://user[:password]@host:port/db``.
A password may also come from ``PGPASSWORD`` (never from a file in the repository).
"""

from __future__ import annotations

import fcntl
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row

SQLITE_PARAMETER_LIMIT = 900
SCHEMA_LOCK_KEY = 0x6576_6368_6169_6E  # "evchain"


def store_env(store_url: str) -> dict[str, str]:
    """Translates a store URL into the eventsourcing library's environment settings."""
    parsed = urlparse(store_url)
    if parsed.scheme == "sqlite":
        path = sqlite_path(store_url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if parsed.scheme in {"postgresql", "postgres"}:
        if not parsed.hostname or not parsed.path.strip("/"):
            raise StoreURLError(store_url, "expected postgresql://user@host:port/dbname")
        query = parse_qs(parsed.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.strip("/")),
            "POSTGRES_HOST": parsed.hostname,
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or os.environ.get("PGUSER", "postgres")),
            "POSTGRES_PASSWORD": unquote(parsed.password or os.environ.get("PGPASSWORD", "")),
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_LOCK_TIMEOUT": "30",
            "PROCESS_RECORDER_TOPIC": "adapters.store:CopyingPostgresProcessRecorder",
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise StoreURLError(store_url, "the scheme must be sqlite:// or postgresql://")


def sqlite_path(store_url: str) -> str:
    """The database file of a ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` URL."""
    parsed = urlparse(store_url)
    if parsed.netloc:
        raise StoreURLError(store_url, "use sqlite:///relative/path or sqlite:////absolute/path")
    path = unquote(parsed.path)
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise StoreURLError(store_url, "no database file given")
    return path


def postgres_connection(env: Mapping[str, str], connect_timeout: int | None = None) -> Any:
    """An autocommit psycopg connection to the store that ``store_env`` describes."""
    import psycopg

    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD") or None,
        connect_timeout=connect_timeout or int(env.get("POSTGRES_CONNECT_TIMEOUT", "10")),
        autocommit=True,
    )


@contextmanager
def schema_creation_lock(env: Mapping[str, str]) -> Iterator[None]:
    """Serialises the library's table creation across processes: a PostgreSQL advisory lock,
    or on SQLite an exclusive flock on a file beside the database (two processes opening a
    fresh SQLite store at once would both insert the library's ``__migration__`` tracking
    record, and the second fails with IntegrityError). A separate file, so SQLite's own
    fcntl locks on the database are never touched."""
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        name = env.get("SQLITE_DBNAME", "")
        if not name or ":memory:" in name or "mode=memory" in name:
            yield
            return
        with open(f"{name}.schema-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    with postgres_connection(env) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


def store_execute(
    recorder: ApplicationRecorder, sql: str, params: tuple[Any, ...] = (), *, fetch: bool = False
) -> list[tuple[Any, ...]]:
    """Runs one statement of our own tables in the store's database, in its own transaction;
    written for SQLite (``?`` marks, BLOB), translated for PostgreSQL (``%s``, BYTEA)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        sql = sql.replace("?", "%s").replace("BLOB", "BYTEA")
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql, params)
            return [tuple(r.values()) for r in cursor.fetchall()] if fetch else []
    with recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute(sql, params)
        return [tuple(r) for r in cursor.fetchall()] if fetch else []


def describe_store(store_url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    parsed = urlparse(store_url)
    if parsed.password:
        return store_url.replace(f":{parsed.password}@", ":***@")
    return store_url


def select_aggregate_events(
    recorder: ApplicationRecorder, originator_ids: Iterable[UUID]
) -> dict[UUID, list[StoredEvent]]:
    """All stored events of many aggregates in one query (per chunk), grouped by id
    and ordered by version. The library reads one aggregate per query."""
    ids = list(dict.fromkeys(originator_ids))
    grouped: dict[UUID, list[StoredEvent]] = defaultdict(list)
    if not ids:
        return grouped
    if isinstance(recorder, PostgresApplicationRecorder):
        rows = _select_postgres(recorder, ids)
    elif isinstance(recorder, SQLiteApplicationRecorder):
        rows = _select_sqlite(recorder, ids)
    else:  # the in-memory POPO recorder (tests of pure logic)
        rows = [e for i in ids for e in recorder.select_events(i)]
    for stored in rows:
        grouped[stored.originator_id].append(stored)  # type: ignore[index]
    return grouped


def _select_postgres(recorder: PostgresApplicationRecorder, ids: Sequence[UUID]) -> list[StoredEvent]:
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {}.{} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, (list(ids),))
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in cursor.fetchall()
        ]


def _select_sqlite(recorder: SQLiteApplicationRecorder, ids: Sequence[UUID]) -> list[StoredEvent]:
    result: list[StoredEvent] = []
    with recorder.datastore.transaction(commit=False) as cursor:
        for start in range(0, len(ids), SQLITE_PARAMETER_LIMIT):
            chunk = [i.hex for i in ids[start : start + SQLITE_PARAMETER_LIMIT]]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                "SELECT originator_id, originator_version, topic, state "
                f"FROM {recorder.events_table_name} WHERE originator_id IN ({marks}) "
                "ORDER BY originator_id, originator_version",
                chunk,
            )
            result.extend(
                StoredEvent(
                    originator_id=UUID(row[0]),
                    originator_version=row[1],
                    topic=row[2],
                    state=row[3],
                )
                for row in cursor.fetchall()
            )
    return result


class StoreURLError(ValueError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"EVENTCHAIN_STORE_URL {describe_store(url)!r}: {reason}")


class CopyingPostgresProcessRecorder(PostgresProcessRecorder):
    """Inserts stored events with binary COPY instead of the library's unnest() of a
    composite-type array, which psycopg dumps (and the server parses) as text: profiled
    at ~100 ms per 900-event batch, and quadratic-looking on very large batches (SPEC §8's
    "a save() of ~3,000 new aggregates did not return"). Same guarantees: the table lock
    serialises writers so notification ids are issued in commit order, the tracking
    record goes in the same transaction, and a unique violation is an IntegrityError."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
            self._insert_events(cursor, stored_events, **kwargs)  # the tracking record, if any
            if not stored_events:
                return []
            self._lock_table(cursor)
            self._notify_channel(cursor)
            with cursor.copy(self._copy_statement()) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for stored in stored_events:
                    copy.write_row(
                        (stored.originator_id, stored.originator_version, stored.topic, stored.state)
                    )
            cursor.execute(self._last_notification_id_statement())
            row = cursor.fetchone()
            assert row is not None
            last = int(row["last"])
        # The table lock makes this transaction's ids one contiguous run.
        return list(range(last - len(stored_events) + 1, last + 1))

    def _copy_statement(self) -> Any:
        from psycopg.sql import SQL, Identifier

        return SQL(
            "COPY {}.{} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))

    def _last_notification_id_statement(self) -> Any:
        from psycopg.sql import SQL, Literal

        qualified = f"{self.datastore.schema}.{self.events_table_name}"
        return SQL("SELECT currval(pg_get_serial_sequence({}, 'notification_id')) AS last").format(
            Literal(qualified)
        )


class RawNotification(NamedTuple):
    """A notification as stored: the id as text (hex or canonical), the state bytes as is.
    Cheaper than the library's Notification (no UUID object per row) for bulk readers."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def select_raw_notifications(
    recorder: ApplicationRecorder,
    start: int,
    limit: int,
    *,
    end: int | None = None,
    topics: Sequence[str] | None = None,
) -> list[RawNotification]:
    """Notifications ``start``, ``start + 1``… (at most ``limit``) in log order; with ``end``
    none after that id, with ``topics`` only events of those topics."""
    if topics is not None and not topics:
        return []
    if isinstance(recorder, PostgresApplicationRecorder):
        from psycopg.sql import SQL, Identifier

        conditions, params = _raw_conditions("notification_id", "%s", start, end, topics)
        statement = SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic, state FROM {}.{} "
            f"WHERE {conditions} ORDER BY notification_id LIMIT %s"
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, (*params, limit))
            return [RawNotification(r[0], r[1], r[2], r[3], bytes(r[4])) for r in cursor.fetchall()]
    if isinstance(recorder, SQLiteApplicationRecorder):
        conditions, params = _raw_conditions("rowid", "?", start, end, topics)
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {recorder.events_table_name} WHERE {conditions} ORDER BY rowid LIMIT ?",
                (*params, limit),
            )
            return [RawNotification(*row) for row in cursor.fetchall()]
    return [
        RawNotification(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in recorder.select_notifications(start, limit, stop=end, topics=topics or ())
    ]


def _raw_conditions(
    id_column: str, mark: str, start: int, end: int | None, topics: Sequence[str] | None
) -> tuple[str, list[Any]]:
    conditions: list[str] = [f"{id_column} >= {mark}"]
    params: list[Any] = [start]
    if end is not None:
        conditions.append(f"{id_column} <= {mark}")
        params.append(end)
    if topics is not None:
        conditions.append(f"topic IN ({', '.join([mark] * len(topics))})")
        params.extend(topics)
    return " AND ".join(conditions), params
