"""The DuckDB views recorder: applies batches of domain events to the read models and
records the projector's position in the same DuckDB transaction (exactly-once effect).

It implements the library's ``TrackingRecorder`` interface, so it can be checked with the
library's own ``TrackingRecorderTestCase``, and waited on like any other tracking recorder.

Each batch is applied in arrival order in *segments*: fact rows (touchpoints,
assignments, breaches, identities, profile observations) are buffered and written in
bulk; an event that moves rows between customers (merge, unmerge, erasure) first
flushes the buffer, then runs its update, so the result equals applying the events one
by one. Per-customer rows (``customer_360``, ``ec.leads``) are then recomputed, in SQL,
for the customers the batch touched."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import duckdb
from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

from projections.bulk import insert_rows
from projections.catalogue import PROJECTED
from projections.handlers import HANDLERS, Applier, check_handlers
from projections.refresh import REFRESH_SQL, refresh_data_health
from projections.schema import TABLES, VIEWS

MEMORY_LIMIT: Final = "512MB"


class DuckDBViews(TrackingRecorder):
    """The projector's DuckDB file: SPEC §2.4 read models plus the tracking position."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Bounded memory: DuckDB would take 80% of RAM; past this it spills to disk instead.
        self.connection = duckdb.connect(str(self.path), config={"memory_limit": MEMORY_LIMIT})
        self._lock = threading.RLock()
        with self._lock:
            upgraded = self._missing_budget_column()
            self.connection.execute(TABLES)
            self.connection.execute(VIEWS)
            if upgraded:  # a file from before customer_360.budget_cny: fill it on the next refresh
                self.connection.execute(
                    "INSERT OR REPLACE INTO ec.settings VALUES ('refresh_pending', 'true')"
                )

    def _missing_budget_column(self) -> bool:
        found = self.connection.execute(
            "SELECT count(*) FILTER (WHERE column_name = 'budget_cny'), count(*) FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND table_name = 'customer_360'"
        ).fetchone()
        return found is not None and found[1] > 0 and found[0] == 0

    def close(self) -> None:
        with self._lock:
            self.connection.close()

    # --- TrackingRecorder -------------------------------------------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        with self._lock:
            self._insert_tracking(tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self._lock:
            row = self.connection.execute(
                "SELECT notification_id FROM ec.tracking WHERE application_name = ?", [application_name]
            ).fetchone()
        return None if row is None else int(row[0])

    def _insert_tracking(self, tracking: Tracking) -> None:
        current = self.connection.execute(
            "SELECT notification_id FROM ec.tracking WHERE application_name = ?", [tracking.application_name]
        ).fetchone()
        if current is not None and current[0] >= tracking.notification_id:
            raise IntegrityError(
                f"{tracking.application_name} already at {current[0]}, not after {tracking.notification_id}"
            )
        self.connection.execute(
            "INSERT OR REPLACE INTO ec.tracking VALUES (?, ?)",
            [tracking.application_name, tracking.notification_id],
        )

    # --- projection -------------------------------------------------------------------

    def apply(
        self, events: Sequence[Any], tracking: Tracking | None, *, refresh: bool = True, defer: bool = False
    ) -> None:
        """Applies events (``projections.decoding.ProjectedEvent``, in log order) and records
        ``tracking``, in ONE transaction.

        ``refresh=False`` defers the per-customer recomputation (a rebuild refreshes
        everything once at the end with ``refresh_all``).
        """
        with self._lock:
            connection = self.connection
            connection.execute("BEGIN TRANSACTION")
            try:
                if tracking is not None:  # first: a batch already applied is refused before any write
                    self._insert_tracking(tracking)
                # customers of staged events are collected here by DuckDB (projections.bulk)
                connection.execute("CREATE OR REPLACE TEMP TABLE batch_touched (customer_id UUID)")
                touched = Applier(connection).run(events)
                if refresh:
                    self._refresh(touched)
                if defer:  # committed with the batch: a crash leaves the debt on record
                    connection.execute(
                        "INSERT OR REPLACE INTO ec.settings VALUES ('refresh_pending', 'true')"
                    )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def refresh_pending(self) -> bool:
        with self._lock:
            row = self.connection.execute(
                "SELECT value FROM ec.settings WHERE key = 'refresh_pending'"
            ).fetchone()
        return row is not None and row[0] == "true"

    def refresh_all(self) -> None:
        with self._lock:
            self.connection.execute("BEGIN TRANSACTION")
            try:
                self._refresh(None)
                self.connection.execute("DELETE FROM ec.settings WHERE key = 'refresh_pending'")
                self.connection.execute("COMMIT")
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise

    def _refresh(self, touched: set[str] | None) -> None:
        """Recomputes the customers in ``touched`` and ``batch_touched`` (None: everyone)."""
        connection = self.connection
        connection.execute("CREATE OR REPLACE TEMP TABLE touched (customer_id UUID)")
        if touched is None:
            connection.execute("INSERT INTO touched SELECT customer_id FROM ec.customers")
        else:
            connection.execute("INSERT INTO touched SELECT DISTINCT customer_id FROM batch_touched")
            insert_rows(connection, "touched", [("customer_id", "UUID")], [(c,) for c in touched])
            row = connection.execute("SELECT count(*) FROM touched").fetchone()
            if row is None or row[0] == 0:
                return
        _follow_merges(connection)
        connection.execute(REFRESH_SQL)
        refresh_data_health(connection)


check_handlers(HANDLERS, PROJECTED)


def _follow_merges(connection: duckdb.DuckDBPyConnection) -> None:
    """Moves rows of merged customers to their survivor, and refreshes the survivor too.

    A merge is saved as one transaction, but the survivor's ``Absorbed`` may come before
    the absorbed customer's own new events in the log (the library writes aggregate by
    aggregate), and a projector batch may end in between: rows that arrive for a customer
    already merged follow it here, so the views equal applying the aggregates' events.
    """
    while True:
        moved = 0
        for table in ("touchpoints", "ec.identities", "ec.observations"):
            row = connection.execute(
                f"UPDATE {table} SET customer_id = c.merged_into FROM ec.customers c "
                f"WHERE {table}.customer_id = c.customer_id AND c.merged_into IS NOT NULL "
                f"AND c.customer_id IN (SELECT customer_id FROM touched)"
            ).fetchone()
            moved += int(row[0]) if row else 0
        connection.execute(
            "INSERT INTO touched SELECT merged_into FROM ec.customers "
            "WHERE customer_id IN (SELECT customer_id FROM touched) AND merged_into IS NOT NULL "
            "AND merged_into NOT IN (SELECT customer_id FROM touched)"
        )
        if not moved:
            return
