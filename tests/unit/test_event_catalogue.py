"""The event catalogue is derived from the event classes and covers every one of them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from eventsourcing.domain import DomainEvent

import domain
from domain.customer import Customer
from domain.events import BY_TOPIC, CATALOGUE, kind_of
from projections import catalogue
from projections.handlers import HANDLERS, check_handlers


def domain_event_classes() -> Iterator[type[DomainEvent]]:
    """Every concrete event class declared in a domain module (the aggregates' base
    ``Event`` classes are never stored)."""
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")
    pending = list(DomainEvent.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("domain.") and not cls.__qualname__.endswith(".Event"):
            yield cls


def test_the_catalogue_covers_every_event_class_of_the_domain() -> None:
    missing = {f"{c.__module__}:{c.__qualname__}" for c in domain_event_classes()} - BY_TOPIC.keys()

    assert not missing
    assert len(CATALOGUE) >= 30


def test_every_event_is_either_projected_or_declared_not_projected() -> None:
    assert catalogue.PROJECTED | catalogue.NOT_PROJECTED == set(CATALOGUE)
    assert not catalogue.PROJECTED & catalogue.NOT_PROJECTED
    assert catalogue.MOVES <= catalogue.PROJECTED


def test_every_projected_event_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == catalogue.PROJECTED
    check_handlers(HANDLERS, catalogue.PROJECTED)


def test_a_missing_or_unknown_handler_stops_the_import() -> None:
    without = {c: h for c, h in HANDLERS.items() if c is not Customer.Corrected}
    with pytest.raises(ImportError, match=r"Customer\.Corrected"):
        check_handlers(without, catalogue.PROJECTED)
    with pytest.raises(ImportError, match=r"Customer\.Corrected"):
        check_handlers(HANDLERS, catalogue.PROJECTED - {Customer.Corrected})


def test_time_and_uuid_fields_come_from_the_type_hints() -> None:
    erased = CATALOGUE[Customer.PersonalDataErased]
    merged = CATALOGUE[Customer.MergedInto]

    assert erased.kind == kind_of(Customer.PersonalDataErased) == "Customer.PersonalDataErased"
    assert set(erased.time_fields) == {"timestamp", "erased_at"}
    assert erased.uuid_list_fields == ("erased_ids",)
    assert merged.uuid_fields == ("survivor_id",)
