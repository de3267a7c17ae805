"""Decoding stored events for the projector, fast.

The library's mapper rebuilds full domain-event objects (JSON through the standard
library, then a datetime and a UUID object per field): about 30 µs per event, which
caps catch-up near 30,000 events/s. The views only need the fields as DuckDB will
read them, so when the store uses the library's plain JSON transcoding (no cipher, no
compression) the projector decodes the stored state with msgspec and keeps timestamps
as their ISO text (DuckDB parses them). With personal fields encrypted, the events
DuckDB decodes (``STAGED_EVENTS``) are opened one by one with their customer's key and
handed to DuckDB the same way (``SealedStaging``); the rest go through the application's
mapper, which knows how to open them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec
from eventsourcing.persistence import JSONTranscoder, Mapper, Notification

from adapters.crypto import EncryptingMapper
from adapters.transcoder import FastJSONTranscoder
from projections.catalogue import (
    PROJECTED_KINDS,
    STAGED_KINDS,
    TIME_FIELDS,
    UUID_FIELDS,
    UUID_LIST_FIELDS,
)

_DECODER: Final = msgspec.json.Decoder()
# Transcoders that write the library's JSON byte for byte, which DuckDB and msgspec read here.
_LIBRARY_JSON: Final = (JSONTranscoder, FastJSONTranscoder)
# Fields stored as {"_type_", "_data_"}: from the projected event classes' type hints.
_TIME_FIELDS: Final = TIME_FIELDS
_UUID_FIELDS: Final = UUID_FIELDS
_UUID_LIST_FIELDS: Final = UUID_LIST_FIELDS


class ProjectedEvent:
    """An event as the views see it: its type's qualified name and its fields."""

    def __init__(self, qualname: str, originator_id: Any, originator_version: int, fields: dict[str, Any]):
        self.__dict__.update(fields)
        self.qualname = qualname
        self.originator_id = originator_id
        self.originator_version = originator_version

    def __getattr__(self, name: str) -> Any:  # the fields set above: typed as Any for mypy
        raise AttributeError(name)


# Only these events change a view: the others (identity index entries, rules and roster
# documents the views don't show) are skipped without being decoded (projections/catalogue.py).
PROJECTED_EVENTS: Final = PROJECTED_KINDS
# Events DuckDB decodes itself from the stored JSON (the bulk of any log), each handed to
# it as one NDJSON line of this form: customer id, kind, and the stored state as is.
STAGED_EVENTS: Final = STAGED_KINDS
STAGED_LINE: Final = '{"o":"%s","t":"%s","s":%s}'
_STAGED_LINE_BYTES: Final = STAGED_LINE.encode()


class StagedEvent:
    """A stored event handed to DuckDB as one NDJSON line: {"o": id, "t": kind, "s": state}."""

    __slots__ = ("line",)

    def __init__(self, customer_id: str, kind: bytes, state: bytes) -> None:
        self.line = _STAGED_LINE_BYTES % (customer_id.encode(), kind, state)


class StagedBlock:
    """Many staged events' lines, newline-separated, as the store concatenated them
    (projections.reading): catch-up hands DuckDB one block instead of a line per event."""

    __slots__ = ("line",)

    def __init__(self, lines: bytes) -> None:
        self.line = lines


@functools.cache
def qualname_of(topic: str) -> str:
    return topic.rpartition(":")[2]


def supports_fast_path(mapper: Mapper[Any]) -> bool:
    return type(mapper) is Mapper and _stores_library_json(mapper)


def supports_sealed_path(mapper: Mapper[Any]) -> bool:
    return type(mapper) is EncryptingMapper and _stores_library_json(mapper)


def _stores_library_json(mapper: Mapper[Any]) -> bool:
    """The stored state is the library's JSON as written: no cipher, no compression."""
    return mapper.cipher is None and mapper.compressor is None and type(mapper.transcoder) in _LIBRARY_JSON


class SealedStaging:
    """Staged events of a store whose personal fields are sealed (adapters.crypto): each is
    opened with its customer's key (redacted once erased), so DuckDB still decodes them."""

    def __init__(self, mapper: EncryptingMapper) -> None:
        self.mapper = mapper

    def prefetch(self, notifications: Sequence[Any]) -> None:
        """Loads the keys of the customers of these notifications, many per query."""
        customers = {str(n.originator_id) for n in notifications}
        self.mapper.keys.load(str(UUID(customer)) for customer in customers)

    def event(self, notification: Any, kind: bytes) -> StagedEvent:
        customer_id = canonical_id(notification)
        state = self.mapper.opened_state(
            customer_id, notification.originator_version, notification.topic, notification.state
        )
        return StagedEvent(customer_id, kind, state)

    def block(self, notifications: Sequence[Any]) -> StagedBlock:
        self.prefetch(notifications)
        lines = (self.event(n, STAGED_EVENTS[qualname_of(n.topic)]).line for n in notifications)
        return StagedBlock(b"\n".join(lines))


def canonical_id(notification: Any) -> str:
    """The originator id as the library writes it (stores and raw reads differ: hex, UUID)."""
    return str(UUID(str(notification.originator_id)))


def as_notification(notification: Any) -> Notification:
    """A raw read as the library's notification (the mapper expects UUID originator ids)."""
    return Notification(
        id=notification.id,
        originator_id=UUID(str(notification.originator_id)),
        originator_version=notification.originator_version,
        topic=notification.topic,
        state=notification.state,
    )


def fast_decode(notification: Notification) -> ProjectedEvent:
    fields = _DECODER.decode(notification.state)
    for name in _TIME_FIELDS:
        value = fields.get(name)
        if type(value) is dict:
            fields[name] = value["_data_"]
    for name in _UUID_FIELDS:
        value = fields.get(name)
        if type(value) is dict:
            fields[name] = str(UUID(value["_data_"]))
    for name in _UUID_LIST_FIELDS:
        if name in fields:
            fields[name] = [_plain_uuid(v) for v in fields[name]]
    return ProjectedEvent(
        qualname_of(notification.topic),
        str(UUID(str(notification.originator_id))),
        notification.originator_version,
        fields,
    )


def mapper_decode(mapper: Mapper[Any], notification: Notification) -> ProjectedEvent:
    event = mapper.to_domain_event(notification)
    return ProjectedEvent(
        qualname_of(notification.topic),
        notification.originator_id,
        notification.originator_version,
        dict(event.__dict__),
    )


def _plain_uuid(value: Any) -> str:
    return str(UUID(value["_data_"])) if isinstance(value, dict) else str(value)


class _Stamp(msgspec.Struct):
    _data_: str


class _Stamped(msgspec.Struct):
    timestamp: _Stamp


_STAMP_DECODER: Final = msgspec.json.Decoder(_Stamped)


def recorded_at(event: ProjectedEvent | StagedEvent) -> datetime:
    """When the event was committed (the library's event timestamp)."""
    if isinstance(event, StagedEvent):
        return datetime.fromisoformat(
            _STAMP_DECODER.decode(event.line[event.line.index(b',"s":') + 5 : -1]).timestamp._data_
        )
    value = event.timestamp
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
