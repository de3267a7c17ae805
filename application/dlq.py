"""Dead-letter tooling (SPEC §9): list, inspect, re-drive and drop what ingest rejected.

Dead letters live in ``TOUCHPOINTS_DLQ`` (``eventchain.ingest_worker.IngestWorker.dead_letter``
writes them: the original bytes, the reason and path, the delivery count, the original
subject, sequence and ``Nats-Msg-Id``). A retry re-publishes the original bytes — or the
operator's fixed version of them — to the original subject with the original
``Nats-Msg-Id``, waits for the stream's ack, then deletes the dead letter; a drop deletes it.
Every retry and drop appends a ``DeadLetterAction`` to the store (``audit dlq``).

A retry inside the ingest stream's duplicate window of the first publication is dropped by
JetStream as a duplicate of the message that was rejected: the dead letter is kept and the
caller is told when to try again (``DuplicateWithinWindowError``).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import msgspec
from eventsourcing.utils import get_topic
from nats.js import api
from nats.js.errors import NotFoundError

from adapters.nats import (
    DELIVERIES_HEADER,
    EXCEPTION_HEADER,
    ORIGINAL_MSG_ID_HEADER,
    ORIGINAL_SIZE_HEADER,
    PATH_HEADER,
    REASON_HEADER,
    SEQUENCE_HEADER,
    SUBJECT_HEADER,
    TRUNCATED_HEADER,
    NatsNames,
)
from application.event_chain import EventChain
from application.read_audit import events_of_topic
from domain.dead_letters import DeadLetterAction

ACTION_TOPIC = get_topic(DeadLetterAction.Created)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sequence: int  # in the dead-letter stream
    subject: str  # dlq.touchpoints.<channel>
    channel: str
    stored_at: datetime
    reason: str
    path: str
    deliveries: int
    original_subject: str
    original_sequence: int
    msg_id: str  # the publisher's Nats-Msg-Id, or the envelope's touchpoint_id; "" if neither
    exception: str
    truncated: bool
    original_size: int
    data: bytes = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """The listing's fields (everything but the bytes)."""
        return {
            "sequence": self.sequence,
            "stored_at": self.stored_at,
            "channel": self.channel,
            "msg_id": self.msg_id,
            "deliveries": self.deliveries,
            "path": self.path,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters a command acts on; every given criterion must hold."""

    channel: str | None = None
    reason: str | None = None  # a case-insensitive substring of the reason or the path
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        needle = (self.reason or "").casefold()
        return (
            (self.channel is None or letter.channel == self.channel)
            and (not needle or needle in letter.reason.casefold() or needle in letter.path.casefold())
            and (self.since is None or letter.stored_at >= self.since)
            and (self.until is None or letter.stored_at < self.until)
        )

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.channel, self.reason, self.since, self.until))


class DeadLetterNotFoundError(LookupError):
    def __init__(self, stream: str, sequence: int) -> None:
        super().__init__(f"no dead letter {sequence} in {stream} (eventchain dlq list)")


class TruncatedDeadLetterError(ValueError):
    """A dead letter keeps only a prefix of a message bigger than the server's max payload."""


class DuplicateWithinWindowError(RuntimeError):
    """JetStream dropped the re-published copy: its Nats-Msg-Id is inside the duplicate window."""


def _letter(
    sequence: int, subject: str, stored_at: datetime, headers: dict[str, str], data: bytes
) -> DeadLetter:
    def number(name: str) -> int:
        try:
            return int(headers.get(name, "0"))
        except ValueError:
            return 0

    return DeadLetter(
        sequence=sequence,
        subject=subject,
        channel=subject.rpartition(".")[2],
        stored_at=stored_at,
        reason=headers.get(REASON_HEADER, ""),
        path=headers.get(PATH_HEADER, ""),
        deliveries=number(DELIVERIES_HEADER),
        original_subject=headers.get(SUBJECT_HEADER, ""),
        original_sequence=number(SEQUENCE_HEADER),
        msg_id=headers.get(ORIGINAL_MSG_ID_HEADER) or _touchpoint_id(data),
        exception=headers.get(EXCEPTION_HEADER, ""),
        truncated=headers.get(TRUNCATED_HEADER) == "true",
        original_size=number(ORIGINAL_SIZE_HEADER) or len(data),
        data=data,
    )


def _touchpoint_id(data: bytes) -> str:
    """Publishers send the touchpoint_id as Nats-Msg-Id (SPEC §2.1): the fallback for dead
    letters written before the original id was kept in a header."""
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return ""
    value = document.get("touchpoint_id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else ""


async def list_dead_letters(js: Any, names: NatsNames, only: DeadLetterFilter) -> list[DeadLetter]:
    """The dead letters matching ``only``, oldest first. Reads through an ephemeral consumer
    that never acks (the stream is left as it was) and is removed afterwards."""
    try:
        info = await js.stream_info(names.dlq_stream)
    except NotFoundError:
        return []
    last = info.state.last_seq
    if not info.state.messages:
        return []
    subject = f"{names.dlq_prefix}.{only.channel}" if only.channel else f"{names.dlq_prefix}.>"
    config = api.ConsumerConfig(
        ack_policy=api.AckPolicy.NONE,
        deliver_policy=api.DeliverPolicy.ALL,
        filter_subject=subject,
        inactive_threshold=60.0,
        mem_storage=True,
    )
    reader = await js.pull_subscribe(subject, stream=names.dlq_stream, config=config)
    found: list[DeadLetter] = []
    try:
        sequence = 0
        while sequence < last:
            try:
                messages = await reader.fetch(500, timeout=1)
            except TimeoutError:
                break  # nothing more on this subject
            for message in messages:
                metadata = message.metadata
                sequence = metadata.sequence.stream
                if sequence > last:
                    break
                letter = _letter(
                    sequence, message.subject, metadata.timestamp, dict(message.headers or {}), message.data
                )
                if only.matches(letter):
                    found.append(letter)
    finally:
        with contextlib.suppress(Exception):
            await reader.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(names.dlq_stream, config.name)
    return found


async def get_dead_letter(js: Any, names: NatsNames, sequence: int) -> DeadLetter:
    try:
        raw = await js.get_msg(names.dlq_stream, sequence)
    except NotFoundError:
        raise DeadLetterNotFoundError(names.dlq_stream, sequence) from None
    if not raw.subject or not raw.subject.startswith(names.dlq_prefix + "."):
        raise DeadLetterNotFoundError(names.dlq_stream, sequence)
    stored_at = _stored_at(raw.time)
    return _letter(sequence, raw.subject, stored_at, dict(raw.headers or {}), raw.data or b"")


def _stored_at(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value or "")
    if not text:
        return datetime.fromtimestamp(0, UTC)
    # the server's RFC 3339 with nanoseconds: Python's parser takes at most microseconds
    head, dot, tail = text.rstrip("Z").partition(".")
    fraction = tail[:6] if dot else ""
    return datetime.fromisoformat(f"{head}.{fraction or '0'}+00:00")


@dataclass(frozen=True, slots=True)
class Retried:
    letter: DeadLetter
    republished_as: int  # the ingest stream's sequence of the re-driven copy
    subject: str
    fixed: bool


async def retry_dead_letter(
    js: Any,
    names: NatsNames,
    letter: DeadLetter,
    duplicate_window: float,
    fixed_body: bytes | None = None,
    subject: str | None = None,
) -> Retried:
    """Re-publishes the dead letter's bytes (or ``fixed_body``, on ``subject`` when the fix
    names another channel) to its original subject with its original Nats-Msg-Id, then
    deletes the dead letter. Refuses a truncated copy without a
    fix, and keeps the dead letter when JetStream drops the copy as a duplicate."""
    if letter.truncated and fixed_body is None:
        raise TruncatedDeadLetterError(
            f"dead letter {letter.sequence}: holds {len(letter.data)} of the original "
            f"{letter.original_size} bytes (the message exceeded the server's max payload); "
            "give the whole envelope with --fix FILE"
        )
    subject = subject or _retry_subject(names, letter)
    headers = {"Nats-Msg-Id": letter.msg_id} if letter.msg_id else None
    ack = await js.publish(subject, letter.data if fixed_body is None else fixed_body, headers=headers)
    if ack.duplicate:
        again = letter.stored_at + timedelta(seconds=duplicate_window)
        raise DuplicateWithinWindowError(
            f"dead letter {letter.sequence}: {names.stream} still holds Nats-Msg-Id {letter.msg_id!r} "
            f"in its {duplicate_window:g} s duplicate window, so the copy was dropped; "
            f"retry after {again.isoformat(timespec='seconds')}"
        )
    with contextlib.suppress(NotFoundError):  # dropped meanwhile by another operator
        await js.delete_msg(names.dlq_stream, letter.sequence)
    return Retried(letter, ack.seq, subject, fixed_body is not None)


def _retry_subject(names: NatsNames, letter: DeadLetter) -> str:
    """The subject it was published on, when it is one of the ingest stream's; otherwise the
    channel's subject (a message published on a wrong subject goes where its channel says)."""
    prefix = names.subject_prefix + "."
    if letter.original_subject.startswith(prefix) and letter.channel != "unknown":
        return letter.original_subject
    return names.subject(letter.channel)


async def drop_dead_letter(js: Any, names: NatsNames, letter: DeadLetter) -> None:
    """Deletes the dead letter and its raw original in the ingest stream (rejected and
    terminated: ingest is done with it, and a retry re-publishes from the dead letter), so a
    drop decided for privacy (an erasure's quarantine) leaves no copy behind."""
    try:
        await js.delete_msg(names.dlq_stream, letter.sequence)
    except NotFoundError:
        raise DeadLetterNotFoundError(names.dlq_stream, letter.sequence) from None
    if letter.original_sequence < 1:
        return
    with contextlib.suppress(NotFoundError):  # expired with the stream's max_age, or purged
        original = await js.get_msg(names.stream, letter.original_sequence)
        if original.subject == letter.original_subject:  # not a recreated stream's message
            await js.delete_msg(names.stream, letter.original_sequence)


def record_action(
    app: EventChain,
    names: NatsNames,
    letter: DeadLetter,
    *,
    actor: str,
    action: str,
    note: str = "",
    fixed_body: bytes | None = None,
    republished_as: int = 0,
) -> None:
    app.save(
        DeadLetterAction.record(
            uuid4(),
            actor=actor,
            action=action,
            stream=names.dlq_stream,
            sequence=letter.sequence,
            channel=letter.channel,
            reason=letter.reason,
            msg_id=letter.msg_id,
            acted_at=app.clock(),
            fix_sha256=hashlib.sha256(fixed_body).hexdigest() if fixed_body is not None else "",
            republished_as=republished_as,
            note=note,
        )
    )


def list_actions(app: EventChain, since: datetime | None = None) -> Iterator[DeadLetterAction.Created]:
    """Every recorded retry and drop, in log order, optionally from ``since`` on."""
    for event in events_of_topic(app, ACTION_TOPIC):
        assert isinstance(event, DeadLetterAction.Created)
        if since is None or event.acted_at >= since:
            yield event
