"""Purges an erasure had to put off (SPEC §7): stream messages of the erased customers that
ingest had not yet recorded when they were erased.

Erasure never deletes a message the ingest consumer has not acknowledged: it would be lost
before it was recorded. It records one ``DeferredPurge`` per stream instead, naming each
waiting message by its stream sequence and touchpoint id; a follower of ``serve`` deletes
each once the consumer's ack floor has passed it and records that it did. Being events,
the pending purges survive restarts and are shown by the receipt until done.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate


class DeferredPurge(Aggregate):
    class Created(Aggregate.Created):
        customer_id: str  # the erased survivor whose erasure deferred it
        stream: str
        consumer: str  # whose ack floor must pass the messages first
        dead_letters: str  # where ingest copies a message it rejects: that copy is purged too
        messages: dict[str, str]  # stream sequence (as text: JSON keys) → touchpoint id
        deferred_at: datetime

    class Purged(Aggregate.Event):
        outcomes: dict[str, str]  # sequence (as text) → "deleted", or "gone" (expired meanwhile)
        purged_at: datetime

        def apply(self, aggregate: DeferredPurge) -> None:
            aggregate.purged.update({s: how for s, how in self.outcomes.items() if s in aggregate.messages})

    def __init__(
        self,
        customer_id: str,
        stream: str,
        consumer: str,
        dead_letters: str,
        messages: dict[str, str],
        deferred_at: datetime,
    ) -> None:
        self.customer_id = customer_id
        self.stream = stream
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.messages = dict(messages)
        self.deferred_at = deferred_at
        self.purged: dict[str, str] = {}  # sequence → how: "deleted" or "gone" (expired meanwhile)

    @classmethod
    def defer(
        cls,
        purge_id: UUID,
        *,
        customer_id: str,
        stream: str,
        consumer: str,
        dead_letters: str,
        messages: dict[int, str],
        deferred_at: datetime,
    ) -> DeferredPurge:
        if not messages:
            raise InvalidDeferredPurgeError("messages: a deferred purge names at least one message")
        if min(messages) < 1:
            raise InvalidDeferredPurgeError(f"messages: {min(messages)} is not a stream sequence (≥ 1)")
        return cls._create(
            cls.Created,
            id=purge_id,
            timestamp=deferred_at,
            customer_id=customer_id,
            stream=stream,
            consumer=consumer,
            dead_letters=dead_letters,
            messages={str(sequence): touchpoint_id for sequence, touchpoint_id in sorted(messages.items())},
            deferred_at=deferred_at,
        )

    @property
    def pending(self) -> dict[int, str]:
        """Sequence → touchpoint id of the messages still to purge."""
        return {int(s): t for s, t in self.messages.items() if s not in self.purged}

    @property
    def done(self) -> bool:
        return not self.pending

    def record_purged(self, outcomes: dict[str, str], purged_at: datetime) -> None:
        self.trigger_event(self.Purged, timestamp=purged_at, outcomes=outcomes, purged_at=purged_at)


class InvalidDeferredPurgeError(ValueError):
    """A deferred purge that names no message, or no stream sequence."""
