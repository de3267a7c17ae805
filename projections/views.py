"""The DuckDB views recorder: applies batches of domain events to the read models and
records the projector's position in the same DuckDB transaction (exactly-once effect).

It implements the library's ``TrackingRecorder`` interface, so it can be checked with the
library's own ``TrackingRecorderTestCase``, and waited on like any other tracking recorder.

Each batch is applied in arrival order in *segments*: fact rows (touchpoints,
assignments, breaches, identities, profile observations) are buffered and written in
bulk; an event that moves rows between customers (merge, unmerge, erasure) first
flushes the buffer, then runs its update, so the result equals applying the events one
by one. Per-customer rows (``customer_360``, ``ec.leads``) are then recomputed, in SQL,
for the customers the batch touched.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import duckdb
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

from adapters.crypto import ERASED_TEXT  # what an erased text reads as, everywhere
from domain.customer import PROFILE_FIELDS, Customer, correction_marker
from domain.events import kind_of
from domain.imports import ImportBatch
from domain.rules import RulesError, RuleSet, rules_from_dict
from projections.bulk import insert_rows, insert_staged
from projections.catalogue import PROJECTED
from projections.decoding import StagedBlock, StagedEvent
from projections.schema import LEAD_CHANNELS_SQL, TABLES, VIEWS

MEMORY_LIMIT: Final = "512MB"

_TOUCHPOINT_COLUMNS: Final = (
    ("touchpoint_id", "VARCHAR"),
    ("customer_id", "UUID"),
    ("channel", "VARCHAR"),
    ("direction", "VARCHAR"),
    ("occurred_at", "TIMESTAMPTZ"),
    ("recorded_at", "TIMESTAMPTZ"),
    ("actor", "VARCHAR"),
    ("summary", "VARCHAR"),
)
_CUSTOMER_COLUMNS: Final = (("customer_id", "UUID"), ("created_at", "TIMESTAMPTZ"))
_IDENTITY_COLUMNS: Final = (("customer_id", "UUID"), ("identity_key", "VARCHAR"))
_OBSERVATION_COLUMNS: Final = (
    ("customer_id", "UUID"),
    ("field", "VARCHAR"),
    ("value", "VARCHAR"),
    ("occurred_at", "TIMESTAMPTZ"),
    ("touchpoint_id", "VARCHAR"),
)
_ASSIGNMENT_COLUMNS: Final = (
    ("customer_id", "UUID"),
    ("agent_id", "VARCHAR"),
    ("decided_at", "TIMESTAMPTZ"),
    ("rule_version", "INTEGER"),
    ("matched_step", "VARCHAR"),
    ("reason", "VARCHAR"),
)
BREACH_COLUMNS: Final = (
    ("customer_id", "UUID"),
    ("deadline_at", "TIMESTAMPTZ"),
    ("escalated_to", "VARCHAR"),
    ("step", "INTEGER"),
    ("rule_version", "INTEGER"),
)
_IMPORT_COLUMNS: Final = (
    ("import_batch", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("rows_read", "BIGINT"),
    ("accepted", "BIGINT"),
    ("rejected", "BIGINT"),
    ("null_rates", "MAP(VARCHAR, DOUBLE)"),
    ("abnormal_char_rows", "BIGINT"),
    ("completed_at", "TIMESTAMPTZ"),
)


@dataclass
class _Segment:
    """Rows buffered since the last flush, and per-customer state changes in log order."""

    customers: list[tuple[Any, ...]] = field(default_factory=list)
    touchpoints: list[tuple[Any, ...]] = field(default_factory=list)
    identities: list[tuple[Any, ...]] = field(default_factory=list)
    observations: list[tuple[Any, ...]] = field(default_factory=list)
    assignments: list[tuple[Any, ...]] = field(default_factory=list)
    breaches: list[tuple[Any, ...]] = field(default_factory=list)
    imports: list[tuple[Any, ...]] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    stages: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    tag_changes: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    staged: list[bytes] = field(default_factory=list)  # raw stored events decoded by DuckDB


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
                touched = _Applier(connection).run(events)
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


_Handler = Callable[["_Applier", Any], None]
HANDLERS: dict[type[DomainEvent], _Handler] = {}


def _handles(event_class: type[DomainEvent]) -> Callable[[_Handler], _Handler]:
    """Registers the method as the handler of ``event_class`` (dispatch by class, not by name)."""

    def register(handler: _Handler) -> _Handler:
        if event_class in HANDLERS:
            raise ImportError(f"two handlers for {kind_of(event_class)}")
        HANDLERS[event_class] = handler
        return handler

    return register


class _Applier:
    """Applies one batch of events in segments (see the module docstring)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.segment = _Segment()
        self.touched: set[str] = set()

    def run(self, events: Iterable[Any]) -> set[str]:
        for event in events:
            if isinstance(event, StagedEvent | StagedBlock):
                self.segment.staged.append(event.line)
                continue
            _HANDLERS_BY_KIND[event.qualname](self, event)  # every projected kind has one
        self.flush()
        return self.touched

    # --- facts (buffered) ---------------------------------------------------------------

    @_handles(Customer.Created)
    def on_Customer_Created(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.customers.append((customer_id, event.timestamp))
        self.touched.add(customer_id)

    @_handles(Customer.TouchpointRecorded)
    def on_Customer_TouchpointRecorded(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        segment = self.segment
        segment.touchpoints.append(
            (
                event.touchpoint_id,
                customer_id,
                event.channel,
                event.direction,
                event.occurred_at,
                event.timestamp,
                event.actor,
                event.summary,
            )
        )
        segment.identities.extend((customer_id, key) for key in event.identity_keys)
        for name, value in event.contact.items():
            if name in PROFILE_FIELDS and value is not None:
                segment.observations.append(
                    (customer_id, name, _text(value), event.occurred_at, event.touchpoint_id)
                )
        self.touched.add(customer_id)

    @_handles(Customer.LeadAssigned)
    def on_Customer_LeadAssigned(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.assignments.append(
            (
                customer_id,
                event.agent_id,
                event.decided_at,
                event.rule_version,
                event.matched_step,
                event.reason,
            )
        )
        self.segment.owners[customer_id] = event.agent_id
        self.touched.add(customer_id)

    @_handles(Customer.FirstResponseOverdue)
    def on_Customer_FirstResponseOverdue(self, event: Any) -> None:
        self.segment.breaches.append(
            (
                str(event.originator_id),
                event.deadline_at,
                event.escalated_to,
                event.step,
                event.rule_version,
            )
        )

    @_handles(Customer.StageChanged)
    def on_Customer_StageChanged(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.stages[customer_id] = (event.stage, event.changed_at)
        self.touched.add(customer_id)

    @_handles(Customer.TagsChanged)
    def on_Customer_TagsChanged(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.tag_changes.append((customer_id, list(event.added), list(event.removed)))
        self.touched.add(customer_id)

    @_handles(Customer.Corrected)
    def on_Customer_Corrected(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        if event.field in PROFILE_FIELDS:
            # A correction wins over every observation up to its own time.
            self.segment.observations.append(
                (
                    customer_id,
                    event.field,
                    _text(event.value),
                    event.corrected_at,
                    correction_marker(event.originator_version),
                )
            )
        self.touched.add(customer_id)

    @_handles(ImportBatch.Completed)
    def on_ImportBatch_Completed(self, event: Any) -> None:
        self.segment.imports.append(
            (
                event.batch_id,
                event.source_file,
                event.rows_read,
                event.accepted,
                event.rejected,
                dict(event.null_rates),
                event.abnormal_char_rows,
                event.completed_at,
            )
        )

    @_handles(RuleSet.RulesRevised)
    def on_RuleSet_RulesRevised(self, event: Any) -> None:
        """The rules' figures the views show, from the domain's own parse of the document."""
        figures: list[int | None]
        try:
            sla, days = (lambda r: (r.sla, r.silence.days))(rules_from_dict(dict(event.document)))
            figures = [sla.first_response_minutes, sla.vip_first_response_minutes, days]
        except RulesError:  # a document an older version accepted: kept, its figures unknown
            figures = [None, None, None]
        self.connection.execute(
            "INSERT OR REPLACE INTO ec.rules VALUES (?, ?, ?, ?, ?, ?)",
            [
                event.number,
                event.revised_at,
                *figures,
                json.dumps(event.document, ensure_ascii=False, default=str),
            ],
        )

    # --- moves (flush first, then update) -----------------------------------------------

    @_handles(Customer.MergedInto)
    def on_Customer_MergedInto(self, event: Any) -> None:
        self.flush()
        absorbed = str(event.originator_id)
        self.connection.execute(
            "UPDATE ec.customers SET merged_into = ? WHERE customer_id = ?",
            [str(event.survivor_id), absorbed],
        )
        self.touched.add(absorbed)

    @_handles(Customer.Absorbed)
    def on_Customer_Absorbed(self, event: Any) -> None:
        self.flush()
        survivor, absorbed = str(event.originator_id), str(event.absorbed_id)
        for table in ("touchpoints", "ec.identities", "ec.observations"):
            self.connection.execute(
                f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", [survivor, absorbed]
            )
        self.connection.execute(
            "INSERT INTO ec.merges VALUES (?, ?, ?)", [survivor, absorbed, event.timestamp]
        )
        self.touched.update((survivor, absorbed))

    @_handles(Customer.Unmerged)
    def on_Customer_Unmerged(self, event: Any) -> None:
        self.flush()
        survivor, absorbed = str(event.originator_id), str(event.absorbed_id)
        moves = (
            ("touchpoints", "touchpoint_id", list(event.touchpoint_ids)),
            ("ec.observations", "touchpoint_id", list(event.touchpoint_ids)),
            ("ec.identities", "identity_key", list(event.identity_keys)),
        )
        for table, column, values in moves:
            self.connection.execute(
                f"UPDATE {table} SET customer_id = ? WHERE customer_id = ? AND list_contains(?, {column})",
                [absorbed, survivor, values],
            )
        self.connection.execute(
            "DELETE FROM ec.merges WHERE survivor_id = ? AND absorbed_id = ?", [survivor, absorbed]
        )
        self.touched.update((survivor, absorbed))

    @_handles(Customer.Restored)
    def on_Customer_Restored(self, event: Any) -> None:
        self.flush()
        customer_id = str(event.originator_id)
        self.connection.execute(
            "UPDATE ec.customers SET merged_into = NULL WHERE customer_id = ?", [customer_id]
        )
        self.touched.add(customer_id)

    @_handles(Customer.PersonalDataErased)
    def on_Customer_PersonalDataErased(self, event: Any) -> None:
        self.flush()
        ids = [str(event.originator_id), *(str(i) for i in event.erased_ids)]
        connection = self.connection
        connection.execute(
            "UPDATE ec.customers SET erased = true WHERE list_contains(?, customer_id::VARCHAR)", [ids]
        )
        connection.execute(
            "UPDATE touchpoints SET summary = ? WHERE list_contains(?, customer_id::VARCHAR)",
            [ERASED_TEXT, ids],
        )
        for table in ("ec.observations", "ec.identities"):
            connection.execute(f"DELETE FROM {table} WHERE list_contains(?, customer_id::VARCHAR)", [ids])
        self.touched.update(ids)

    # --- writing ----------------------------------------------------------------------------

    def flush(self) -> None:
        segment, connection = self.segment, self.connection
        insert_staged(connection, segment.staged)
        insert_rows(connection, "ec.customers", _CUSTOMER_COLUMNS, segment.customers)
        insert_rows(connection, "touchpoints", _TOUCHPOINT_COLUMNS, segment.touchpoints)
        insert_rows(connection, "ec.identities", _IDENTITY_COLUMNS, segment.identities)
        insert_rows(connection, "ec.observations", _OBSERVATION_COLUMNS, segment.observations)
        insert_rows(connection, "assignments", _ASSIGNMENT_COLUMNS, segment.assignments)
        insert_rows(connection, "sla_breaches", BREACH_COLUMNS, segment.breaches)
        insert_rows(connection, "ec.import_batches", _IMPORT_COLUMNS, segment.imports)
        for customer_id, owner in segment.owners.items():
            connection.execute(
                "UPDATE ec.customers SET owner_agent_id = ? WHERE customer_id = ?", [owner, customer_id]
            )
        for customer_id, (stage, at) in segment.stages.items():
            connection.execute(
                "UPDATE ec.customers SET stage = ?, stage_at = ? WHERE customer_id = ?",
                [stage, at, customer_id],
            )
        self._apply_tag_changes(segment.tag_changes)
        self.segment = _Segment()

    def _apply_tag_changes(self, changes: list[tuple[str, list[str], list[str]]]) -> None:
        if not changes:
            return
        ids = sorted({customer_id for customer_id, _, _ in changes})
        rows = self.connection.execute(
            "SELECT customer_id::VARCHAR, tags FROM ec.customers "
            "WHERE list_contains(?, customer_id::VARCHAR)",
            [ids],
        ).fetchall()
        tags = {customer_id: set(current or []) for customer_id, current in rows}
        for customer_id, added, removed in changes:
            tags[customer_id] = (tags.get(customer_id, set()) | set(added)) - set(removed)
        for customer_id, current in tags.items():
            self.connection.execute(
                "UPDATE ec.customers SET tags = ? WHERE customer_id = ?", [sorted(current), customer_id]
            )


def check_handlers(
    handlers: Mapping[type[DomainEvent], object], projected: frozenset[type[DomainEvent]]
) -> None:
    """Every projected event class (projections/catalogue.py) has a handler, and only those."""
    missing, extra = projected - handlers.keys(), handlers.keys() - projected
    if missing or extra:
        names = ", ".join(sorted(kind_of(c) for c in missing | extra))
        raise ImportError(f"projections/views.py: projected events and handlers differ: {names}")


check_handlers(HANDLERS, PROJECTED)
_HANDLERS_BY_KIND: Final = {kind_of(cls): handler for cls, handler in HANDLERS.items()}


def _text(value: Any) -> str:
    # the value's JSON text as the library's transcoder wrote it (the staged path reads that text)
    return value if isinstance(value, str) else json.dumps(value)


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


def refresh_data_health(connection: duckdb.DuckDBPyConnection) -> None:
    """Null rate per core field overall, and each import batch's own figures."""
    connection.execute("DELETE FROM data_health")
    connection.execute(DATA_HEALTH_SQL)


# Recomputes the per-customer rows of the customers in the temp table ``touched``.
REFRESH_SQL: Final = f"""
DELETE FROM customer_360 WHERE customer_id IN (SELECT customer_id FROM touched);
DELETE FROM ec.leads WHERE customer_id IN (SELECT customer_id FROM touched);
CREATE OR REPLACE TEMP TABLE tp AS
  SELECT * FROM touchpoints WHERE customer_id IN (SELECT customer_id FROM touched);
CREATE OR REPLACE TEMP TABLE live AS
  SELECT * FROM ec.customers WHERE customer_id IN (SELECT customer_id FROM touched) AND merged_into IS NULL;
INSERT INTO ec.leads
  WITH lead AS (
    SELECT customer_id, channel, occurred_at AS lead_at, touchpoint_id AS lead_tp FROM tp
    WHERE direction = 'inbound' AND channel IN {LEAD_CHANNELS_SQL}
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at, touchpoint_id) = 1),
  response AS (
    SELECT l.customer_id, min(t.occurred_at) AS first_response_at FROM lead l JOIN tp t USING (customer_id)
    WHERE t.direction = 'outbound'
      AND (t.occurred_at > l.lead_at OR (t.occurred_at = l.lead_at AND t.touchpoint_id > l.lead_tp))
    GROUP BY l.customer_id)
  SELECT l.customer_id, l.channel, l.lead_at, r.first_response_at,
         coalesce(r.first_response_at <= l.lead_at + INTERVAL 7 DAY, false), c.owner_agent_id
  FROM lead l JOIN live c USING (customer_id) LEFT JOIN response r USING (customer_id);
INSERT INTO customer_360 (customer_id, display_name, company, city, industry, owner_agent_id, stage, tags,
                          identities, first_touch_channel, first_touch_at, first_response_at, last_touch_at,
                          touch_count, merged_from, erased, budget_cny)
  WITH chain AS (
    SELECT customer_id, count(*)::INTEGER AS touch_count, max(occurred_at) AS last_touch_at,
           first(channel ORDER BY occurred_at, touchpoint_id) AS first_touch_channel,
           min(occurred_at) AS first_touch_at
    FROM tp GROUP BY customer_id),
  wide AS (  -- each field's latest value in event time
    SELECT customer_id,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'name') AS name,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'company') AS company,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'city') AS city,
           arg_max(value, (occurred_at, touchpoint_id)) FILTER (WHERE field = 'industry') AS industry,
           arg_max(TRY_CAST(value AS DOUBLE), (occurred_at, touchpoint_id))
             FILTER (WHERE field = 'budget_cny') AS budget_cny
    FROM ec.observations WHERE customer_id IN (SELECT customer_id FROM touched) GROUP BY customer_id),
  ids AS (
    SELECT customer_id, list(DISTINCT identity_key ORDER BY identity_key) AS identities
    FROM ec.identities WHERE customer_id IN (SELECT customer_id FROM touched) GROUP BY customer_id),
  merged AS (
    SELECT survivor_id AS customer_id, list(absorbed_id::VARCHAR ORDER BY absorbed_id) AS merged_from
    FROM ec.merges WHERE survivor_id IN (SELECT customer_id FROM touched) GROUP BY survivor_id)
  SELECT c.customer_id,
         CASE WHEN c.erased THEN '{ERASED_TEXT}' ELSE coalesce(w.name, w.company, '(unknown)') END,
         w.company, w.city, w.industry, c.owner_agent_id,
         coalesce(c.stage, CASE WHEN l.lead_at IS NOT NULL THEN 'lead' END),
         coalesce(c.tags, []), coalesce(i.identities, []), ch.first_touch_channel, ch.first_touch_at,
         l.first_response_at, ch.last_touch_at, coalesce(ch.touch_count, 0), coalesce(m.merged_from, []),
         c.erased, CASE WHEN c.erased THEN NULL ELSE w.budget_cny END
  FROM live c LEFT JOIN chain ch USING (customer_id) LEFT JOIN wide w USING (customer_id)
  LEFT JOIN ids i USING (customer_id) LEFT JOIN merged m USING (customer_id)
  LEFT JOIN ec.leads l USING (customer_id);
DROP TABLE tp;
DROP TABLE live;
"""

DATA_HEALTH_SQL: Final = """
INSERT INTO data_health
  WITH n AS (SELECT count(*) AS customers FROM customer_360 WHERE NOT erased)
  SELECT 'overall', 'customers', customers FROM n
  UNION ALL
  SELECT 'overall', 'null_rate_' || f, CASE WHEN n.customers = 0 THEN 0.0 ELSE nulls / n.customers END
  FROM n, (SELECT 'company' AS f, count(*) FILTER (WHERE company IS NULL) AS nulls FROM customer_360
           WHERE NOT erased
           UNION ALL SELECT 'city', count(*) FILTER (WHERE city IS NULL) FROM customer_360 WHERE NOT erased
           UNION ALL SELECT 'industry', count(*) FILTER (WHERE industry IS NULL) FROM customer_360
           WHERE NOT erased
           UNION ALL SELECT 'name', count(*) FILTER (WHERE display_name = '(unknown)') FROM customer_360
           WHERE NOT erased
           UNION ALL SELECT 'phone', count(*) FILTER (
             WHERE len(list_filter(identities, lambda x: starts_with(x, 'phone:'))) = 0) FROM customer_360
           WHERE NOT erased)
  UNION ALL
  -- customers sharing a (name, company) with another live customer: the cheap, exact part of
  -- the duplicate candidates (`eventchain duplicates` adds fuzzy name+company matches)
  SELECT 'overall', 'duplicate_candidate_rate',
         CASE WHEN n.customers = 0 THEN 0.0 ELSE coalesce(d.duplicated, 0) / n.customers END
  FROM n, (SELECT sum(c) AS duplicated FROM (
             SELECT count(*) AS c FROM customer_360
             WHERE NOT erased AND display_name <> '(unknown)' AND company IS NOT NULL
             GROUP BY lower(trim(display_name)), lower(trim(company)) HAVING count(*) > 1)) d
  UNION ALL
  -- customers sharing a phone, email or USCC with another live customer: links identity
  -- resolution held instead of fusing two parties (identity limits, merge protection)
  SELECT 'overall', 'held_identity_rate',
         CASE WHEN n.customers = 0 THEN 0.0 ELSE coalesce(h.held, 0) / n.customers END
  FROM n, (SELECT count(DISTINCT customer_id) AS held FROM (
             SELECT customer_id, identity, count(*) OVER (PARTITION BY identity) AS holders
             FROM (SELECT customer_id, unnest(identities) AS identity FROM customer_360 WHERE NOT erased)
             WHERE split_part(identity, ':', 1) IN ('phone', 'email', 'uscc'))
           WHERE holders > 1) h
  UNION ALL
  SELECT import_batch, 'rows_read', rows_read FROM ec.import_batches
  UNION ALL
  SELECT import_batch, 'rejected_rate', CASE WHEN rows_read = 0 THEN 0.0 ELSE rejected / rows_read END
  FROM ec.import_batches
  UNION ALL
  SELECT import_batch, 'abnormal_char_rate',
         CASE WHEN rows_read = 0 THEN 0.0 ELSE abnormal_char_rows / rows_read END FROM ec.import_batches
  UNION ALL
  SELECT import_batch, 'null_rate_' || unnest(map_keys(null_rates)), unnest(map_values(null_rates))
  FROM ec.import_batches;
"""
