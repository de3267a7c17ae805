"""Reading stored events outside the projector: the one module that knows the stored form.

Followers read the notification log: the events of chosen classes, in log order, from a
position on, as (notification id, kind, originator id, fields). The CLI reads an
aggregate's events (``aggregate_fields``, e.g. ``eventchain history``). Nobody else parses
the library's stored JSON (its ``{"_type_", "_data_"}`` values); the projector has its own
fast paths (projections/decoding.py, projections/bulk.py).

``LogTail`` remembers where it stopped, so a follower that keeps its fold in memory reads
only what is new on each tick (one indexed range query when nothing is). Fields come from the
stored JSON directly (fast); with ``personal=True`` and encryption on, events with sealed
personal fields go through the application's mapper, which opens them with the data key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Final, Protocol
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.crypto import PERSONAL
from adapters.store import RawNotification, select_aggregate_events, select_raw_notifications
from domain.events import kind_of as kind_of  # what followers dispatch on

PAGE: Final = 10_000


class EventLog(Protocol):
    """What the reader needs of the application: its recorder, its mapper (to open sealed
    personal fields), its data keys and the log's last notification id. The application
    (``application.event_chain.EventChain``) is one; the reader stays below it."""

    @property
    def recorder(self) -> Any: ...

    @property
    def mapper(self) -> Any: ...

    @property
    def keys(self) -> Any: ...

    def max_notification_id(self) -> int: ...


LogEvent = tuple[int, str, str, dict[str, Any]]


class LogTail:
    """An incremental reader of the events of ``classes`` (a follower's own position in the log)."""

    def __init__(self, app: EventLog, classes: Iterable[type], *, personal: bool = False) -> None:
        self.app = app
        self.topics = sorted(get_topic(cls) for cls in classes)
        self.personal = personal and app.keys is not None
        self.position = 0  # the last notification id read

    def read(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[LogEvent]:
        """The events after ``position`` up to the log's end (or until ``should_stop``, checked
        between pages); ``position`` moves as they are yielded. Each event's fields include
        its ``originator_version`` (with the originator id, the event's identity)."""
        # Read up to the log's end as of now; once there, the position is that end, so the lag
        # behind the store (metrics, status) is zero when nothing relevant is left, whatever
        # events of other classes were recorded meanwhile.
        ceiling = self.app.max_notification_id()
        while not should_stop():
            page = select_raw_notifications(
                self.app.recorder, self.position + 1, PAGE, end=ceiling, topics=self.topics
            )
            if not page:
                self.position = max(self.position, ceiling)
                return
            for notification in page:
                fields = self._fields(notification)
                fields["originator_version"] = notification.originator_version
                yield (
                    notification.id,
                    notification.topic.rpartition(":")[2],
                    str(UUID(notification.originator_id)),
                    fields,
                )
                self.position = notification.id
            if len(page) < PAGE:
                self.position = max(self.position, ceiling)
                return

    def _fields(self, notification: RawNotification) -> dict[str, Any]:
        if self.personal and notification.topic in PERSONAL:
            return opened_fields(self.app, _stored(notification))
        return plain_fields(notification.state)


def _stored(notification: RawNotification) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(notification.originator_id),
        originator_version=notification.originator_version,
        topic=notification.topic,
        state=notification.state,
    )


def plain_fields(state: bytes) -> dict[str, Any]:
    """The stored JSON's fields (sealed personal fields stay sealed); the values the library
    stores as ``{"_type_", "_data_"}`` (datetimes, UUIDs) as their text."""
    fields: dict[str, Any] = msgspec.json.decode(state)
    for name, value in fields.items():
        if type(value) is dict and "_type_" in value:
            fields[name] = value["_data_"]
    return fields


def opened_fields(app: EventLog, stored: StoredEvent) -> dict[str, Any]:
    """Every field of a stored event as the application's mapper decodes it (personal fields
    opened with the customer's data key, or redacted once it is erased); times as ISO text."""
    fields = dict(vars(app.mapper.to_domain_event(stored)))
    for name, value in fields.items():
        if isinstance(value, datetime):
            fields[name] = value.isoformat()
    return fields


def aggregate_fields(
    app: EventLog, originator_ids: Iterable[UUID]
) -> Iterator[tuple[UUID, int, str, dict[str, Any]]]:
    """Every event of these aggregates, as (originator id, version, kind, fields), by id and
    version; personal fields opened when encryption is on."""
    for originator_id, events in select_aggregate_events(app.recorder, originator_ids).items():
        for stored in events:
            if app.keys is not None and stored.topic in PERSONAL:
                fields = opened_fields(app, stored)
            else:
                fields = plain_fields(stored.state)
            yield originator_id, stored.originator_version, stored.topic.rpartition(":")[2], fields


def log_events(app: EventLog, classes: Iterable[type], *, personal: bool = True) -> Iterator[LogEvent]:
    """The whole log's events of ``classes``, from the start (one-shot readers and tests)."""
    yield from LogTail(app, classes, personal=personal).read()
