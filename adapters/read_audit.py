"""Recording and listing reads of personal data (``domain.read_audit``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.utils import get_topic

from adapters.application import EventChain
from domain.read_audit import ReadAudit

READ_TOPIC = get_topic(ReadAudit.Created)


@dataclass(frozen=True, slots=True)
class ReadEntry:
    read_id: UUID
    actor: str
    role: str
    action: str
    subject: str
    rows: int
    via: str
    read_at: datetime


def record_read(
    app: EventChain, *, actor: str, role: str, action: str, subject: str, rows: int, via: str = "cli"
) -> UUID:
    """Appends one read to the audit trail (its own aggregate: no contention between readers)."""
    read_id = uuid4()
    app.save(
        ReadAudit.record(
            read_id,
            actor=actor,
            role=role,
            action=action,
            subject=subject,
            rows=rows,
            via=via,
            read_at=app.clock(),
        )
    )
    return read_id


def list_reads(
    app: EventChain, since: datetime | None = None, actor: str | None = None
) -> Iterator[ReadEntry]:
    """Every recorded read in log order, optionally from ``since`` on and by one ``actor``."""
    start = 1
    while True:
        page = app.recorder.select_notifications(start, 1000, topics=[READ_TOPIC])
        if not page:
            return
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            assert isinstance(event, ReadAudit.Created)
            entry = ReadEntry(
                event.originator_id,
                event.actor,
                event.role,
                event.action,
                event.subject,
                event.rows,
                event.via,
                event.read_at,
            )
            if (since is None or entry.read_at >= since) and (actor is None or entry.actor == actor):
                yield entry
        start = page[-1].id + 1
