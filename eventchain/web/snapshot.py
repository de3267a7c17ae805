"""Read-only access to the analyst snapshot for many concurrent requests.

The projector publishes the snapshot by renaming a new file over the old one, so a
connection keeps reading the file it opened. One connection per published file is
shared; each request takes its own cursor (its own temp tables, e.g. visible_customers).

DuckDB's Python client keeps one database instance per path in a process: connecting
to the snapshot's path again while a connection to the old file is open would hand back
the old file. So each published file is opened through a hard link of its own
(``.analytics.duckdb.web-<pid>-<inode>``), removed once its connection is closed, one
publication later (requests still holding a cursor finish on the file they started on).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from projections.queries import REPORT_TIMEZONE, open_views


class SnapshotMissingError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class _Opened:
    inode: int
    link: Path
    connection: duckdb.DuckDBPyConnection

    def close(self) -> None:
        self.connection.close()
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()


class SnapshotReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._current: _Opened | None = None
        self._previous: _Opened | None = None

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._connection().cursor()
        try:
            cursor.execute(f"SET TimeZone = '{REPORT_TIMEZONE}'")
            yield cursor
        finally:
            cursor.close()

    def identity(self) -> tuple[int, int, int]:
        """Inode, modification time and size of the published file: every publication is a
        new file (an inode alone may be reused once an old snapshot is deleted)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise SnapshotMissingError(f"no analyst snapshot at {self.path} yet") from None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _connection(self) -> duckdb.DuckDBPyConnection:
        inode = self.identity()[0]
        with self._lock:
            if self._current is None or self._current.inode != inode:
                opened = self._open(inode)
                if self._previous is not None:
                    self._previous.close()
                self._previous, self._current = self._current, opened
            return self._current.connection

    def _open(self, inode: int) -> _Opened:
        link = self.path.with_name(f".{self.path.name}.web-{os.getpid()}-{inode}")
        try:
            os.link(self.path, link)
        except FileExistsError:  # left by an earlier process with this pid: replace it
            if os.stat(link).st_ino != inode:
                link.unlink()
                os.link(self.path, link)
        return _Opened(os.stat(link).st_ino, link, open_views(link))

    def close(self) -> None:
        with self._lock:
            for opened in (self._previous, self._current):
                if opened is not None:
                    opened.close()
            self._current = self._previous = None
