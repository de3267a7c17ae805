"""Reading a range of the log for catch-up, with the store doing the per-event work.

Reading a million events as Python objects (a row tuple, a notification, a staged line
per event) costs more than DuckDB's whole projection of them. For catch-up, the store
itself concatenates the events DuckDB decodes (``STAGED_EVENTS``: the bulk of any log)
into one NDJSON block per range: SQLite with ``group_concat``, PostgreSQL with
``string_agg``, so Python handles one string instead of a million rows. The few other
projected events come back as notifications, and a range is split into segments at the
events that move rows between customers, exactly where the row-by-row path flushes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import tuple_row

from adapters.store import RawNotification, select_raw_notifications
from projections.catalogue import MOVES_KINDS, TOPICS
from projections.decoding import (
    PROJECTED_EVENTS,
    STAGED_EVENTS,
    STAGED_LINE,
    SealedStaging,
    StagedBlock,
    qualname_of,
)

# Events that move rows between customers: the views flush their buffers before each.
MOVES: Final = MOVES_KINDS
# Projected events decoded one by one in Python (rare next to the staged ones).
INDIVIDUAL: Final = PROJECTED_EVENTS - STAGED_EVENTS.keys()
STAGED_TOPICS: Final = {TOPICS[name]: kind.decode() for name, kind in STAGED_EVENTS.items()}
INDIVIDUAL_TOPICS: Final = tuple(sorted(TOPICS[name] for name in INDIVIDUAL))


@dataclass(frozen=True, slots=True)
class LogRange:
    """Notifications ``start``…``end`` (inclusive) as parts in log order: staged blocks
    and individual notifications, split so that every move stands between two blocks."""

    start: int
    end: int
    notifications: int  # how many the range holds (ids may have gaps)
    parts: list[StagedBlock | RawNotification]


def supports_range_reads(recorder: ApplicationRecorder) -> bool:
    return isinstance(recorder, PostgresApplicationRecorder | SQLiteApplicationRecorder)


def read_range(
    recorder: ApplicationRecorder, start: int, end: int, staging: SealedStaging | None = None
) -> LogRange:
    """With ``staging`` (a store with sealed personal fields) the staged events are read as
    rows and opened one by one; without, the store concatenates them itself."""
    individual = _select_individual(recorder, start, end)
    parts: list[StagedBlock | RawNotification] = []
    block_start = start
    for notification in individual:
        if qualname_of(notification.topic) in MOVES:
            _append_block(parts, recorder, block_start, notification.id - 1, staging)
            block_start = notification.id + 1
        parts.append(notification)
    _append_block(parts, recorder, block_start, end, staging)
    return LogRange(start, end, _count(recorder, start, end), parts)


def _count(recorder: ApplicationRecorder, start: int, end: int) -> int:
    if isinstance(recorder, PostgresApplicationRecorder):
        sql = f"SELECT count(*) FROM {_pg_table(recorder)} WHERE notification_id BETWEEN %s AND %s"
        return int(_pg_fetch(recorder, sql, (start, end))[0][0])
    sql = f"SELECT count(*) FROM {_sqlite_table(recorder)} WHERE rowid BETWEEN ? AND ?"
    return int(_sqlite_fetch(recorder, sql, (start, end))[0][0])


def _append_block(
    parts: list[Any], recorder: ApplicationRecorder, start: int, end: int, staging: SealedStaging | None
) -> None:
    if start > end:
        return
    if staging is None:
        block = _select_block(recorder, start, end)
        if block:
            parts.append(StagedBlock(block))
        return
    rows = _select_rows(recorder, start, end, tuple(STAGED_TOPICS))
    if rows:
        parts.append(staging.block(rows))


def _select_individual(recorder: ApplicationRecorder, start: int, end: int) -> list[RawNotification]:
    return _select_rows(recorder, start, end, INDIVIDUAL_TOPICS)


def _select_rows(
    recorder: ApplicationRecorder, start: int, end: int, topics: tuple[str, ...]
) -> list[RawNotification]:
    return select_raw_notifications(recorder, start, end - start + 1, end=end, topics=topics)


def _select_block(recorder: ApplicationRecorder, start: int, end: int) -> bytes:
    """The staged events of ``start``…``end`` as NDJSON lines (``STAGED_LINE``), in log order."""
    (created, created_kind), (recorded, recorded_kind) = STAGED_TOPICS.items()
    params = (STAGED_LINE, created, created_kind, recorded_kind, start, end, created, recorded)
    if isinstance(recorder, PostgresApplicationRecorder):
        sql = (
            "SELECT string_agg(format(%s, originator_id::text, CASE topic WHEN %s THEN %s ELSE %s END, "
            f"convert_from(state, 'UTF8')), E'\\n' ORDER BY notification_id) FROM {_pg_table(recorder)} "
            "WHERE notification_id BETWEEN %s AND %s AND topic IN (%s, %s)"
        )
        rows = _pg_fetch(recorder, sql, params)
    else:
        # SQLite aggregates in the subquery's order; its group_concat has no ORDER BY before 3.44.
        sql = (
            "SELECT group_concat(line, char(10)) FROM (SELECT printf(?, originator_id, "
            "CASE topic WHEN ? THEN ? ELSE ? END, CAST(state AS TEXT)) AS line "
            f"FROM {_sqlite_table(recorder)} WHERE rowid BETWEEN ? AND ? AND topic IN (?, ?) ORDER BY rowid)"
        )
        rows = _sqlite_fetch(recorder, sql, params)
    text = rows[0][0] if rows else None
    return text.encode() if text else b""


def _pg_table(recorder: PostgresApplicationRecorder) -> str:
    return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'


def _sqlite_table(recorder: Any) -> str:
    return str(recorder.events_table_name)


def _pg_fetch(
    recorder: PostgresApplicationRecorder, sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _sqlite_fetch(recorder: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]
