"""The event catalogue: every domain event class, and what its type hints say about it.

Derived from the aggregates' event classes, never typed by hand: each entry knows the
event's *kind* (its qualified name, ``Customer.TouchpointRecorded``, what followers
dispatch on), the library's *topic* (what the store records), and which fields hold
datetimes and UUIDs (the library stores those as ``{"_type_", "_data_"}``; fast readers
turn them back into text). Adding an event to an aggregate adds it here; the projections
then have to say whether they project it (projections/catalogue.py checks at import).
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.utils import get_topic

from domain.accounts import Account
from domain.customer import Customer, IdentityIndex
from domain.dead_letters import DeadLetterAction
from domain.erasure_purges import DeferredPurge
from domain.imports import ImportBatch
from domain.intake import IntakeManifest, IntakeTally
from domain.read_audit import ReadAudit
from domain.roster import Roster
from domain.rules import RuleSet

AGGREGATES: Final[tuple[type[Aggregate], ...]] = (
    Customer,
    IdentityIndex,
    RuleSet,
    Roster,
    ImportBatch,
    Account,
    ReadAudit,
    DeadLetterAction,
    DeferredPurge,
    IntakeTally,
    IntakeManifest,
)


@dataclass(frozen=True, slots=True)
class EventSpec:
    cls: type[DomainEvent]
    kind: str  # the qualified name, e.g. "Customer.TouchpointRecorded"
    topic: str  # the library's topic, what the store records
    time_fields: tuple[str, ...]  # fields typed datetime (or datetime | None)
    uuid_fields: tuple[str, ...]  # fields typed UUID
    uuid_list_fields: tuple[str, ...]  # fields typed as a sequence of UUIDs


def kind_of(event_class: type) -> str:
    """What followers and the projector dispatch on: the event class's qualified name."""
    return event_class.__qualname__


def _event_classes(aggregate: type[Aggregate]) -> Iterator[type[DomainEvent]]:
    for name, value in vars(aggregate).items():
        if isinstance(value, type) and issubclass(value, DomainEvent) and name != "Event":
            yield value


def _spec(cls: type[DomainEvent]) -> EventSpec:
    hints = typing.get_type_hints(cls)
    return EventSpec(
        cls=cls,
        kind=kind_of(cls),
        topic=get_topic(cls),
        time_fields=tuple(sorted(n for n, t in hints.items() if t is datetime or t == datetime | None)),
        uuid_fields=tuple(sorted(n for n, t in hints.items() if t is UUID)),
        uuid_list_fields=tuple(
            sorted(n for n, t in hints.items() if t is not UUID and typing.get_args(t) == (UUID,))
        ),
    )


CATALOGUE: Final[Mapping[type[DomainEvent], EventSpec]] = {
    cls: _spec(cls) for aggregate in AGGREGATES for cls in _event_classes(aggregate)
}
BY_KIND: Final[Mapping[str, EventSpec]] = {spec.kind: spec for spec in CATALOGUE.values()}
BY_TOPIC: Final[Mapping[str, EventSpec]] = {spec.topic: spec for spec in CATALOGUE.values()}
