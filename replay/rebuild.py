"""Rebuilding the views from the event log: blue/green, as of a past instant, and verify.

A rebuild projects the whole log from position 0 into a NEW DuckDB file (deferring the
per-customer recomputation to one pass at the end, which is what makes it fast), then
swaps it in with an atomic rename. Until the rename, the live views and the analyst
snapshot keep serving; a running ``serve`` notices the new file and reopens it. Killed
midway, a rebuild leaves only its scratch file behind: the live views are untouched.

Every view shares one tracking position (they are consistent with each other at every
commit), so a rebuild always builds and swaps the whole file; ``--view`` names the view
an operator cares about and checks it exists, it does not mix positions.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import duckdb

from application.event_chain import EventChain
from projections.projector import APPLICATION_NAME, Projector
from projections.schema import PUBLIC_RELATIONS
from projections.snapshot import publish_snapshot
from projections.views import DuckDBViews

REBUILD_BATCH: Final = 50_000


class RebuildRunningError(RuntimeError):
    """Another rebuild holds the lock."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    path: Path
    events: int  # notifications read
    position: int  # the log position the views are at


@contextmanager
def rebuild_lock(views_path: Path) -> Iterator[None]:
    """One rebuild at a time per views file: a second one fails at once, saying who holds it."""
    lock_path = views_path.with_name(views_path.name + ".rebuild.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RebuildRunningError(
                f"a rebuild is already running ({holder}); wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now().astimezone().isoformat(timespec='seconds')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_views(
    app: EventChain,
    target: Path,
    *,
    until: int | None = None,
    as_of: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    """Projects the log from position 0 into a fresh file at ``target`` (replaced if present).

    ``until``: stop at that notification id. ``as_of``: only events recorded at or before
    that instant (the event's commit time, the library's event timestamp).
    """
    for stale in (target, Path(f"{target}.wal")):
        stale.unlink(missing_ok=True)
    total = until if until is not None else app.max_notification_id()
    views = DuckDBViews(target)
    try:
        projector = Projector(
            app,
            views,
            batch_size=REBUILD_BATCH,
            as_of=as_of,
            on_commit=(lambda position: progress(position, total)) if progress else None,
        )
        events = projector.catch_up(until=total, refresh=False)
        views.refresh_all()
        position = projector.position
        views.connection.execute("CHECKPOINT")
    finally:
        views.close()
    return RebuildResult(target, events, position)


def rebuild(
    app: EventChain,
    views_path: Path,
    snapshot_path: Path | None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    """Blue/green: build next to the live file, then atomically rename it over the live one."""
    with rebuild_lock(views_path):
        scratch = views_path.with_name(f".{views_path.name}.rebuild")
        result = build_views(app, scratch, progress=progress)
        if snapshot_path is not None:
            # Published from the new file before it is swapped in: once it is live, a running
            # projector reopens it and holds DuckDB's lock on it, so opening it here would race
            # with the projector (and the loser's open fails).
            views = DuckDBViews(scratch)
            try:
                publish_snapshot(views, snapshot_path)
            finally:
                views.close()
        os.replace(scratch, views_path)
        Path(f"{views_path}.wal").unlink(missing_ok=True)  # belonged to the old file, if any
        return RebuildResult(views_path, result.events, result.position)


def checksums(path: Path, relations: tuple[str, ...] = PUBLIC_RELATIONS) -> dict[str, tuple[int, int]]:
    """Per relation: (row count, order-independent content hash). Doubles are rounded to 9
    places first: an average over rows stored in another order may differ in the last bit."""
    result = {}
    with duckdb.connect(str(path), read_only=True) as connection:
        for relation in relations:
            columns = connection.execute(f"DESCRIBE {relation}").fetchall()
            values = ", ".join(
                f"round({name}, 9)" if kind == "DOUBLE" else name for name, kind, *_ in columns
            )
            row = connection.execute(
                f"SELECT count(*), coalesce(sum(hash(row({values})::VARCHAR)::HUGEINT), 0) FROM {relation}"
            ).fetchone()
            assert row is not None
            result[relation] = (int(row[0]), int(row[1]))
    return result


def position_of(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(
            "SELECT notification_id FROM ec.tracking WHERE application_name = ?", [APPLICATION_NAME]
        ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class Verification:
    position: int
    mismatched: list[str]
    checked: dict[str, tuple[int, int]]

    @property
    def ok(self) -> bool:
        return not self.mismatched


def verify(app: EventChain, published: Path, scratch: Path) -> Verification:
    """Rebuilds up to the published views' position and compares every table's checksum.

    ``published`` is the analyst snapshot (or any copy of the incremental views): the live
    file itself is locked by a running projector."""
    position = position_of(published)
    build_views(app, scratch, until=position)
    try:
        incremental, rebuilt = checksums(published), checksums(scratch)
    finally:
        for leftover in (scratch, Path(f"{scratch}.wal")):
            leftover.unlink(missing_ok=True)
    mismatched = [name for name in PUBLIC_RELATIONS if incremental[name] != rebuilt[name]]
    return Verification(position, mismatched, incremental)
