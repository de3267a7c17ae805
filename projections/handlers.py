"""What each projected event does to the views: one handler per event class (``@handles``),
buffered into segments of fact rows that the views recorder writes in bulk. The import
fails unless every projected class has exactly one handler (``check_handlers``).

Longer than 400 lines on purpose: it is the one table of what every projected event does, a
method per event class, so that a reader checks an event's effect on the views in one place."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import duckdb
from eventsourcing.domain import DomainEvent

from adapters.crypto import ERASED_TEXT  # what an erased text reads as, everywhere
from domain.accounts import Account
from domain.customer import FOLLOW_UP_KINDS, PROFILE_FIELDS, Customer, correction_marker
from domain.dead_letters import DeadLetterAction
from domain.events import kind_of
from domain.imports import ImportBatch
from domain.intake import IntakeManifest, IntakeTally
from domain.roster import Roster
from domain.rules import RulesError, RuleSet, health_thresholds, rules_from_dict
from projections.bulk import insert_rows, insert_staged
from projections.decoding import StagedBlock, StagedEvent

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
_FOLLOW_UP_COLUMNS: Final = (
    ("customer_id", "UUID"),
    ("kind", "VARCHAR"),
    ("plan", "VARCHAR"),
    ("step", "VARCHAR"),
    ("rule_version", "INTEGER"),
    ("instant", "TIMESTAMPTZ"),
    ("observed_at", "TIMESTAMPTZ"),
    ("evidence", "VARCHAR"),
    ("agent_id", "VARCHAR"),
    ("action", "VARCHAR"),
    ("due_at", "TIMESTAMPTZ"),
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
    ("rejected_by_column", "MAP(VARCHAR, BIGINT)"),
)
_INTAKE_COLUMNS: Final = (
    ("ordinal", "BIGINT"),
    ("stream", "VARCHAR"),
    ("sequence", "BIGINT"),
    ("touchpoint_id", "VARCHAR"),
    ("channel", "VARCHAR"),
    ("utm_source", "VARCHAR"),
    ("utm_medium", "VARCHAR"),
    ("utm_campaign", "VARCHAR"),
    ("day", "DATE"),
    ("outcome", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("path", "VARCHAR"),
    ("counted_at", "TIMESTAMPTZ"),
)
_REDRIVE_COLUMNS: Final = (
    ("dlq_stream", "VARCHAR"),
    ("dlq_sequence", "BIGINT"),
    ("channel", "VARCHAR"),
    ("republished_as", "BIGINT"),
    ("acted_at", "TIMESTAMPTZ"),
)
_STAGE_CHANGE_COLUMNS: Final = (
    ("customer_id", "UUID"),
    ("stage", "VARCHAR"),
    ("changed_at", "TIMESTAMPTZ"),
    ("actor", "VARCHAR"),
)
_CORRECTION_COLUMNS: Final = (
    ("customer_id", "UUID"),
    ("field", "VARCHAR"),
    ("actor", "VARCHAR"),
    ("corrected_at", "TIMESTAMPTZ"),
)
_MANIFEST_COLUMNS: Final = (
    ("manifest_id", "VARCHAR"),
    ("channel", "VARCHAR"),
    ("utm_source", "VARCHAR"),
    ("utm_medium", "VARCHAR"),
    ("utm_campaign", "VARCHAR"),
    ("day", "DATE"),
    ("sent", "BIGINT"),
    ("sent_at", "TIMESTAMPTZ"),
)
# A message is counted once, by its first tally in log order (a batch redelivered after its
# commit is tallied again, as duplicates: domain/intake.py).
_INSERT_INTAKE: Final = """
INSERT INTO ec.intake
  SELECT stream, sequence, touchpoint_id, channel, utm_source, utm_medium, utm_campaign, day, outcome,
         reason, path, counted_at
  FROM intake_staged b
  WHERE NOT EXISTS (SELECT 1 FROM ec.intake i WHERE i.stream = b.stream AND i.sequence = b.sequence)
  QUALIFY row_number() OVER (PARTITION BY stream, sequence ORDER BY ordinal) = 1;
DROP TABLE intake_staged;
"""


@dataclass
class Segment:
    """Rows buffered since the last flush, and per-customer state changes in log order."""

    customers: list[tuple[Any, ...]] = field(default_factory=list)
    touchpoints: list[tuple[Any, ...]] = field(default_factory=list)
    identities: list[tuple[Any, ...]] = field(default_factory=list)
    observations: list[tuple[Any, ...]] = field(default_factory=list)
    assignments: list[tuple[Any, ...]] = field(default_factory=list)
    breaches: list[tuple[Any, ...]] = field(default_factory=list)
    follow_ups: list[tuple[Any, ...]] = field(default_factory=list)
    imports: list[tuple[Any, ...]] = field(default_factory=list)
    intake: list[tuple[Any, ...]] = field(default_factory=list)
    redrives: list[tuple[Any, ...]] = field(default_factory=list)
    manifests: list[tuple[Any, ...]] = field(default_factory=list)
    stage_changes: list[tuple[Any, ...]] = field(default_factory=list)
    corrections: list[tuple[Any, ...]] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    stages: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    tag_changes: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    staged: list[bytes] = field(default_factory=list)  # raw stored events decoded by DuckDB


_Handler = Callable[["Applier", Any], None]
HANDLERS: dict[type[DomainEvent], _Handler] = {}


def handles(event_class: type[DomainEvent]) -> Callable[[_Handler], _Handler]:
    """Registers the method as the handler of ``event_class`` (dispatch by class, not by name)."""

    def register(handler: _Handler) -> _Handler:
        if event_class in HANDLERS:
            raise ImportError(f"two handlers for {kind_of(event_class)}")
        HANDLERS[event_class] = handler
        return handler

    return register


class Applier:
    """Applies one batch of events in segments (see the module docstring)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.segment = Segment()
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

    @handles(Customer.Created)
    def on_Customer_Created(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.customers.append((customer_id, event.timestamp))
        self.touched.add(customer_id)

    @handles(Customer.TouchpointRecorded)
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

    @handles(Customer.LeadAssigned)
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

    @handles(Customer.FirstResponseOverdue)
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

    @handles(Customer.PlanStarted)
    def on_Customer_PlanStarted(self, event: Any) -> None:
        self._follow_up(event)

    @handles(Customer.StepCameDue)
    def on_Customer_StepCameDue(self, event: Any) -> None:
        self._follow_up(event)

    @handles(Customer.StepMet)
    def on_Customer_StepMet(self, event: Any) -> None:
        self._follow_up(event)

    @handles(Customer.PlanPaused)
    def on_Customer_PlanPaused(self, event: Any) -> None:
        self._follow_up(event)

    @handles(Customer.PlanResumed)
    def on_Customer_PlanResumed(self, event: Any) -> None:
        self._follow_up(event)

    @handles(Customer.StepEscalated)
    def on_Customer_StepEscalated(self, event: Any) -> None:
        self._follow_up(event)

    def _follow_up(self, event: Any) -> None:
        self.segment.follow_ups.append(
            (
                str(event.originator_id),
                FOLLOW_UP_KINDS[event.qualname.rpartition(".")[2]],
                event.plan,
                event.step,
                event.rule_version,
                event.at,
                event.observed_at,
                event.evidence,
                event.agent_id,
                event.action,
                event.due_at,
            )
        )

    @handles(Customer.StageChanged)
    def on_Customer_StageChanged(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.stages[customer_id] = (event.stage, event.changed_at)
        self.segment.stage_changes.append((customer_id, event.stage, event.changed_at, event.actor))
        self.touched.add(customer_id)

    @handles(Customer.TagsChanged)
    def on_Customer_TagsChanged(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.tag_changes.append((customer_id, list(event.added), list(event.removed)))
        self.touched.add(customer_id)

    @handles(Customer.Corrected)
    def on_Customer_Corrected(self, event: Any) -> None:
        customer_id = str(event.originator_id)
        self.segment.corrections.append((customer_id, event.field, event.actor, event.corrected_at))
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

    @handles(Customer.TouchpointRetracted)
    def on_Customer_TouchpointRetracted(self, event: Any) -> None:
        self.flush()  # the retracted touchpoint may be in this segment
        customer_id = str(event.originator_id)
        self.connection.execute(
            "INSERT OR REPLACE INTO ec.retractions VALUES (?, ?, ?, ?, ?)",
            [event.touchpoint_id, customer_id, event.actor, event.reason, event.retracted_at],
        )
        self.touched.add(customer_id)

    @handles(ImportBatch.Completed)
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
                dict(getattr(event, "rejected_by_column", None) or {}),
            )
        )

    @handles(IntakeTally.Counted)
    def on_IntakeTally_Counted(self, event: Any) -> None:
        intake = self.segment.intake
        for entry in event.entries:
            intake.append(
                (
                    len(intake),
                    event.stream,
                    entry["sequence"],
                    entry.get("touchpoint_id", ""),
                    entry["channel"],
                    entry.get("source", ""),
                    entry.get("medium", ""),
                    entry.get("campaign", ""),
                    entry["day"],
                    entry["outcome"],
                    entry.get("reason", ""),
                    entry.get("path", ""),
                    event.counted_at,
                )
            )

    @handles(IntakeManifest.Received)
    def on_IntakeManifest_Received(self, event: Any) -> None:
        self.segment.manifests.append(
            (
                event.manifest_id,
                event.channel,
                event.source,
                event.medium,
                event.campaign,
                event.day,
                event.sent,
                event.sent_at,
            )
        )

    @handles(DeadLetterAction.Created)
    def on_DeadLetterAction_Created(self, event: Any) -> None:
        if event.action == "retried":
            self.segment.redrives.append(
                (event.stream, event.sequence, event.channel, event.republished_as, event.acted_at)
            )

    @handles(RuleSet.RulesRevised)
    def on_RuleSet_RulesRevised(self, event: Any) -> None:
        """The rules' figures the views show, from the domain's own parse of the document."""
        figures: list[int | None]
        try:
            rules = rules_from_dict(dict(event.document))
            sla, days = rules.sla, rules.silence.days
            figures = [sla.first_response_minutes, sla.vip_first_response_minutes, days]
            self.connection.execute("DELETE FROM ec.health_thresholds WHERE rule_version = ?", [event.number])
            self.connection.executemany(
                "INSERT INTO ec.health_thresholds VALUES (?, ?, ?, ?, ?)",
                [
                    [event.number, name, threshold, at_least, rules.crm_health.stage_update_days]
                    for name, threshold, at_least in health_thresholds(rules.crm_health)
                ],
            )
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

    # --- the roster and the workspace's sign-ins (the CRM health check) -----------------------

    @handles(Roster.AgentJoined)
    def on_Roster_AgentJoined(self, event: Any) -> None:
        agent = event.agent
        self.connection.execute(
            "INSERT OR REPLACE INTO ec.agents VALUES (?, ?, ?)",
            [agent["agent_id"], agent.get("team") or "", agent.get("status") or "active"],
        )

    @handles(Roster.AgentUpdated)
    def on_Roster_AgentUpdated(self, event: Any) -> None:
        for column in ("team", "status"):
            if column in event.changes:
                self.connection.execute(
                    f"UPDATE ec.agents SET {column} = ? WHERE agent_id = ?",
                    [event.changes[column] or "", event.agent_id],
                )

    @handles(Roster.AgentLeft)
    def on_Roster_AgentLeft(self, event: Any) -> None:
        self.connection.execute("UPDATE ec.agents SET status = 'left' WHERE agent_id = ?", [event.agent_id])

    @handles(Account.Invited)
    def on_Account_Invited(self, event: Any) -> None:
        self.connection.execute(
            "INSERT OR REPLACE INTO ec.accounts VALUES (?, ?)", [str(event.originator_id), event.agent_id]
        )

    @handles(Account.SignedIn)
    def on_Account_SignedIn(self, event: Any) -> None:
        self.connection.execute(
            "INSERT INTO ec.sign_ins VALUES (?, ?)", [str(event.originator_id), event.signed_in_at]
        )

    # --- moves (flush first, then update) -----------------------------------------------

    @handles(Customer.MergedInto)
    def on_Customer_MergedInto(self, event: Any) -> None:
        self.flush()
        absorbed = str(event.originator_id)
        self.connection.execute(
            "UPDATE ec.customers SET merged_into = ? WHERE customer_id = ?",
            [str(event.survivor_id), absorbed],
        )
        self.touched.add(absorbed)

    @handles(Customer.Absorbed)
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

    @handles(Customer.Unmerged)
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

    @handles(Customer.Restored)
    def on_Customer_Restored(self, event: Any) -> None:
        self.flush()
        customer_id = str(event.originator_id)
        self.connection.execute(
            "UPDATE ec.customers SET merged_into = NULL WHERE customer_id = ?", [customer_id]
        )
        self.touched.add(customer_id)

    @handles(Customer.PersonalDataErased)
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
        connection.execute(
            "UPDATE ec.retractions SET reason = ? WHERE list_contains(?, customer_id::VARCHAR)",
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
        insert_rows(connection, "ec.follow_up_events", _FOLLOW_UP_COLUMNS, segment.follow_ups)
        insert_rows(connection, "ec.import_batches", _IMPORT_COLUMNS, segment.imports)
        insert_rows(connection, "ec.redrives", _REDRIVE_COLUMNS, segment.redrives)
        insert_rows(connection, "ec.manifests", _MANIFEST_COLUMNS, segment.manifests)
        insert_rows(connection, "ec.stage_changes", _STAGE_CHANGE_COLUMNS, segment.stage_changes)
        insert_rows(connection, "ec.corrections", _CORRECTION_COLUMNS, segment.corrections)
        if segment.intake:
            connection.execute(
                "CREATE OR REPLACE TEMP TABLE intake_staged AS "
                "SELECT 0::BIGINT AS ordinal, * FROM ec.intake LIMIT 0"
            )
            insert_rows(connection, "intake_staged", _INTAKE_COLUMNS, segment.intake)
            connection.execute(_INSERT_INTAKE)
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
        self.segment = Segment()

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


_HANDLERS_BY_KIND: Final = {kind_of(cls): handler for cls, handler in HANDLERS.items()}


def _text(value: Any) -> str:
    # the value's JSON text as the library's transcoder wrote it (the staged path reads that text)
    return value if isinstance(value, str) else json.dumps(value)
