"""Read-only access to the analyst snapshot for many concurrent requests.

The projector publishes the snapshot by renaming a new file over the old one, so a
connection keeps reading the file it opened. One connection per published file is
shared; each request takes its own cursor (its own temp tables, e.g. visible_customers)
and the connection is reopened when the path points at a new file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from adapters.report.queries import REPORT_TIMEZONE, open_views


class SnapshotMissingError(LookupError):
    pass


class SnapshotReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._identity: tuple[int, int] | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._previous: duckdb.DuckDBPyConnection | None = None  # closed one swap later

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._current().cursor()
        try:
            cursor.execute(f"SET TimeZone = '{REPORT_TIMEZONE}'")
            yield cursor
        finally:
            cursor.close()

    def _current(self) -> duckdb.DuckDBPyConnection:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise SnapshotMissingError(f"no analyst snapshot at {self.path} yet") from None
        identity = (stat.st_ino, stat.st_mtime_ns)
        with self._lock:
            if self._connection is None or identity != self._identity:
                if self._previous is not None:
                    self._previous.close()
                self._previous = self._connection
                self._connection = open_views(self.path)
                self._identity = identity
            return self._connection

    def close(self) -> None:
        with self._lock:
            for connection in (self._previous, self._connection):
                if connection is not None:
                    connection.close()
            self._connection = self._previous = None
