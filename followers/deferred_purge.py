"""The follow-up purge of an erasure (SPEC §7, ``domain.erasure_purges``): deletes the
erased customers' stream messages that ingest had not yet recorded when they were erased,
once the ingest consumer's ack floor has passed them, and records that it did.

A follower of ``serve`` (with ingest): an idle tick is one indexed query for new
``DeferredPurge`` records; NATS is asked only while a purge is pending. A message is deleted
only if it still carries the touchpoint id the erasure named; one already gone (expired
with the stream's ``max_age``) is recorded as gone. A message ingest rejected meanwhile has a
dead letter holding the same bytes: that copy is deleted too. Running it twice is harmless: a delete
of a deleted message finds nothing, and the second record of a purge is refused by the
store's version check and read again on the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from nats.js.errors import NotFoundError

from adapters.nats import connect, dead_letter_id
from application.event_chain import EventChain
from application.stream_purge import ack_floor, read_stream
from domain.erasure_purges import DeferredPurge
from domain.touchpoints import envelope_identity

DEFERRED_TOPIC: Final = get_topic(DeferredPurge.Created)
CLOCK_SKEW: Final = timedelta(minutes=5)  # between this host's clock and the NATS server's


class DeferredPurger:
    name = "purge"

    def __init__(self, app: EventChain, nats_url: str) -> None:
        self.app = app
        self.nats_url = nats_url
        self._position = 0  # the log position read up to
        self._open: set[UUID] = set()

    @property
    def position(self) -> int:
        return self._position

    def reset(self) -> None:
        self._position = 0
        self._open.clear()

    def checkpoint(self, *, force: bool = True) -> None:
        """Nothing to save: the open purges are few and read again from the log at start."""

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Purges what the consumer has passed; returns how many messages it accounted for."""
        top = self.app.max_notification_id()  # first: a record committed meanwhile is read next tick
        self._open.update(purge_id for purge_id, _ in _created_since(self.app, self._position, top))
        self._position = top
        if not self._open or should_stop():
            return 0
        return asyncio.run(self._purge_open())

    async def _purge_open(self) -> int:
        nc = await connect(self.nats_url, name="eventchain-deferred-purge", forever=False)
        done = 0
        try:
            js = nc.jetstream()
            for purge_id in sorted(self._open):
                purge: DeferredPurge = self.app.repository.get(purge_id)
                outcomes = await _purge_passed(js, purge)
                if outcomes:
                    purge.record_purged(outcomes, self.app.clock())
                    try:
                        self.app.save(purge)
                    except IntegrityError:  # another serve's purger recorded it first: reread next tick
                        continue
                    done += len(outcomes)
                if purge.done:
                    self._open.discard(purge_id)
        finally:
            await nc.close()
        return done


def _created_since(app: EventChain, position: int, stop: int | None = None) -> Iterator[tuple[UUID, int]]:
    while True:
        page = app.recorder.select_notifications(position + 1, 1000, stop=stop, topics=[DEFERRED_TOPIC])
        if not page:
            return
        for notification in page:
            yield UUID(str(notification.originator_id)), notification.id
        position = page[-1].id


async def _purge_passed(js: Any, purge: DeferredPurge) -> dict[str, str]:
    """Deletes the pending messages at or below the consumer's ack floor: sequence → outcome."""
    floor = await ack_floor(js, purge.stream, purge.consumer)
    outcomes: dict[str, str] = {}
    for sequence, touchpoint_id in sorted(purge.pending.items()):
        if sequence > floor:
            break
        try:
            message = await js.get_msg(purge.stream, sequence)
        except NotFoundError:
            outcomes[str(sequence)] = "gone"
            continue
        if _carries(message, touchpoint_id):
            with contextlib.suppress(NotFoundError):  # deleted meanwhile by another purger
                await js.delete_msg(purge.stream, sequence)
            outcomes[str(sequence)] = "deleted"
        else:  # a recreated stream reused the sequence: not the message the erasure named
            outcomes[str(sequence)] = "gone"
    if outcomes:
        await _delete_dead_letters(js, purge, [int(s) for s in outcomes])
    return outcomes


async def _delete_dead_letters(js: Any, purge: DeferredPurge, sequences: list[int]) -> None:
    """Deletes the dead letters ingest made of those messages (it rejected them after the
    erasure), found by their id among the dead letters stored since the erasure."""
    try:
        info = await js.stream_info(purge.dead_letters)
    except NotFoundError:
        return
    if not info.state.messages:
        return
    wanted = {dead_letter_id(purge.stream, sequence) for sequence in sequences}
    since = purge.deferred_at - CLOCK_SKEW
    copies = [
        message.metadata.sequence.stream
        async for message in read_stream(js, info, since=since)
        if dict(message.headers or {}).get("Nats-Msg-Id") in wanted
    ]
    for sequence in copies:
        with contextlib.suppress(NotFoundError):
            await js.delete_msg(purge.dead_letters, sequence)


def _carries(message: Any, touchpoint_id: str) -> bool:
    if not touchpoint_id:
        return True  # named by its sequence alone (an envelope without an id)
    if dict(message.headers or {}).get("Nats-Msg-Id") == touchpoint_id:
        return True
    envelope = envelope_identity(message.data or b"")
    return envelope is not None and envelope.touchpoint_id == touchpoint_id


def pending_purges(app: EventChain) -> list[DeferredPurge]:
    """The deferred purges not done yet (``erase --pending``, ``status``)."""
    found = []
    for purge_id, _ in _created_since(app, 0):
        purge: DeferredPurge = app.repository.get(purge_id)
        if not purge.done:
            found.append(purge)
    return found
