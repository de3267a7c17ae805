"""Purging an erased customer's messages from the NATS streams (SPEC §7, docs/privacy.md).

Raw envelopes (``TOUCHPOINTS``), dead letters (``TOUCHPOINTS_DLQ``) and notifications
(``NOTIFICATIONS``, when it exists) are copies of personal data outside the event store.
Erasure takes only what is the erased customers', matched exactly, never by free text:

- a message whose ``Nats-Msg-Id`` (or a dead letter's original id, or the envelope's
  ``touchpoint_id``) is one of their recorded touchpoints, or whose
  ``Eventchain-Customer-Id`` header is theirs, is theirs;
- otherwise its identities are read the way ingest reads them
  (``domain.touchpoints.envelope_identity``): all of them theirs → theirs; some theirs and
  some another's → quarantined (someone else's input too: a person decides); none theirs →
  not theirs, whatever names its text holds;
- a message whose identities cannot be read at all is quarantined if its text mentions them
  (a phone in any spelling, an email, a name or company): listed, never deleted silently.

A message of theirs that the ingest consumer has not acknowledged yet (above its ack floor)
is not deleted: it is deferred, recorded first (it starts a new customer: its identities
were released), then purged by ``followers.deferred_purge``. Notifications are matched by
their customer-id header only.

JetStream's message delete overwrites the message's bytes in the stream's block files
(``no_erase`` is left false), so the deleted copy is not left on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec
import phonenumbers
from nats.js import api
from nats.js.errors import NotFoundError

from adapters.nats import ORIGINAL_MSG_ID_HEADER, SEQUENCE_HEADER, connect
from domain.identities import DEFAULT_PHONE_REGION, InvalidIdentityError, clean_text, normalise_email
from domain.touchpoints import envelope_identity

NOTIFICATIONS_STREAM: Final = "NOTIFICATIONS"
CUSTOMER_HEADER: Final = "Eventchain-Customer-Id"
_EMAIL_LIKE: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_NOT_DIGIT: Final = re.compile(r"\D")
MIN_NAME_LENGTH: Final = 2  # a one-character "name" would match half of all messages


@dataclass(frozen=True)
class ErasedParty:
    """What identifies the erased customers: their customer ids, identity keys
    (``phone:+8613…``, as the store normalises them), recorded touchpoint ids, and the
    names and companies they used (for quarantine and derived files only)."""

    customer_ids: frozenset[str]
    identity_keys: frozenset[str]
    names: frozenset[str] = field(default_factory=frozenset)
    touchpoint_ids: frozenset[str] = field(default_factory=frozenset)
    # national numbers of the erased phones: every spelling of a phone holds these digits
    phone_digits: frozenset[str] = field(default_factory=frozenset)
    # identity key → the customer id it resolves to in the store (None: nobody's)
    owner_of: Callable[[str], str | None] = field(default=lambda _: None, compare=False)

    def claim(self, data: bytes, headers: dict[str, str] | None = None, *, text: bool = True) -> Claim | None:
        """Whether a message is theirs, and why; None when it is not. ``text=False``: headers
        only (notifications, whose bodies name other customers)."""
        headers = headers or {}
        if headers.get(CUSTOMER_HEADER, "").strip().lower() in self.customer_ids:
            return Claim(THEIRS, "customer-id header")
        for name in ("Nats-Msg-Id", ORIGINAL_MSG_ID_HEADER):
            if headers.get(name, "") in self.touchpoint_ids:
                return Claim(THEIRS, "touchpoint id")
        if not text:
            return None
        envelope = envelope_identity(data)
        if envelope is not None and envelope.touchpoint_id in self.touchpoint_ids:
            return Claim(THEIRS, "touchpoint id")
        if envelope is not None and envelope.identity_keys:
            theirs = envelope.identity_keys & self.identity_keys
            if not theirs:
                return None
            if any(self._another_customers(key) for key in envelope.identity_keys - theirs):
                return Claim(QUARANTINED, "identities shared with another customer")
            return Claim(THEIRS, "identities")  # theirs, or held by nobody yet
        if self.mentioned_in(data):
            return Claim(QUARANTINED, "no identity readable; its text mentions them")
        return None

    def _another_customers(self, key: str) -> bool:
        owner = self.owner_of(key)
        return owner is not None and owner.lower() not in self.customer_ids

    def mentioned_in(self, data: bytes) -> bool:
        """Free text: any string of ``data`` names them (a phone in any spelling, an email, a
        name, a company, an id). Only for quarantine and for our own derived files."""
        texts = list(_texts(data))
        return any(t in self.touchpoint_ids for t in texts) or any(map(self._mentioned_in_text, texts))

    def _mentioned_in_text(self, raw: str) -> bool:
        text = clean_text(raw)
        if any(name in text for name in self.names) or any(i in text for i in self.customer_ids):
            return True
        values = {key.partition(":")[2] for key in self.identity_keys}
        if any(value in text for value in values if not value.startswith("+")):
            return True  # emails, open ids, USCCs as written
        digits = _NOT_DIGIT.sub("", text)
        if not any(d in digits for d in self.phone_digits):  # the matcher is the costly part
            return self._mentions_email(text)
        for match in phonenumbers.PhoneNumberMatcher(text, DEFAULT_PHONE_REGION, leniency=0):
            number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if f"phone:{number}" in self.identity_keys:
                return True
        return self._mentions_email(text)

    def _mentions_email(self, text: str) -> bool:
        if "@" not in text:
            return False
        for candidate in _EMAIL_LIKE.findall(text):
            try:
                if f"email:{normalise_email(candidate)}" in self.identity_keys:
                    return True
            except InvalidIdentityError:
                continue
        return False


THEIRS: Final = "theirs"
QUARANTINED: Final = "quarantined"


@dataclass(frozen=True, slots=True)
class Claim:
    verdict: str  # THEIRS or QUARANTINED
    why: str


def erased_party(
    customer_ids: list[str],
    identity_keys: list[str],
    names: list[str],
    touchpoint_ids: list[str],
    owner_of: Callable[[str], str | None] | None = None,
) -> ErasedParty:
    cleaned = {clean_text(n) for n in names if n}
    return ErasedParty(
        frozenset(c.lower() for c in customer_ids),
        frozenset(identity_keys),
        frozenset(n for n in cleaned if len(n) >= MIN_NAME_LENGTH and n != "(unknown)"),
        frozenset(touchpoint_ids),
        frozenset(
            str(phonenumbers.parse(key.partition(":")[2]).national_number)
            for key in identity_keys
            if key.startswith("phone:")
        ),
        functools.cache(owner_of) if owner_of else lambda _: None,
    )


def _texts(data: bytes) -> Iterator[str]:
    """Every string a message holds: the decoded JSON's strings (so ``\\u674e`` escapes
    count), or the raw bytes as text for payloads that are not JSON at all."""
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
        yield data.decode("utf-8", "replace")
        return
    yield from _strings(document)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


class PurgedMessage(msgspec.Struct, frozen=True):
    sequence: int  # in its stream
    touchpoint_id: str  # Nats-Msg-Id (a dead letter's original one), or the envelope's; "" if none
    why: str


class StreamPurge(msgspec.Struct, frozen=True):
    """One stream's part of an erasure: what is deleted now, what waits until ingest has
    recorded it (deferred), and what a person must decide (quarantined)."""

    stream: str
    present: bool = True
    scanned: int = 0
    ack_floor: int | None = None  # the ingest consumer's, for the ingest stream
    deleted: list[PurgedMessage] = []
    deferred: list[PurgedMessage] = []
    quarantined: list[PurgedMessage] = []


@dataclass(frozen=True, slots=True)
class PurgeTarget:
    stream: str
    consumer: str | None = None  # the durable whose ack floor bounds what may be deleted
    headers_only: bool = False  # match by headers alone (notifications)


async def plan_stream(js: Any, target: PurgeTarget, party: ErasedParty, batch: int = 1000) -> StreamPurge:
    """What erasing ``party`` takes from one stream, deleting nothing; a missing stream is
    reported as absent."""
    try:
        info = await js.stream_info(target.stream)
    except NotFoundError:
        return StreamPurge(target.stream, present=False)
    floor = await ack_floor(js, target.stream, target.consumer) if target.consumer else None
    if not info.state.messages:
        return StreamPurge(target.stream, ack_floor=floor)
    scanned = 0
    found: dict[str, list[PurgedMessage]] = {"deleted": [], "deferred": [], "quarantined": []}
    async for message in read_stream(js, info, batch=batch):
        scanned += 1
        headers = dict(message.headers or {})
        data = message.data or b""
        claim = party.claim(data, headers, text=not target.headers_only)
        if claim is None:
            continue
        sequence = message.metadata.sequence.stream
        item = PurgedMessage(sequence, _touchpoint_id(data, headers), claim.why)
        if claim.verdict == QUARANTINED:
            found["quarantined"].append(item)
        elif floor is not None and sequence > floor:
            found["deferred"].append(item)
        else:
            found["deleted"].append(item)
    return StreamPurge(target.stream, True, scanned, floor, **found)


async def read_stream(
    js: Any, info: Any, *, since: datetime | None = None, batch: int = 1000
) -> AsyncIterator[Any]:
    """The messages of a stream (``info``: its ``stream_info``) up to its last sequence then,
    or only those stored since an instant. Reads through an ephemeral consumer that never
    acks (batches, not one request per message) and is removed afterwards."""
    stream, last = info.config.name, info.state.last_seq
    config = api.ConsumerConfig(
        ack_policy=api.AckPolicy.NONE,
        deliver_policy=api.DeliverPolicy.BY_START_TIME if since else api.DeliverPolicy.ALL,
        opt_start_time=since,
        filter_subjects=list(info.config.subjects or [">"]),
        inactive_threshold=60.0,
        mem_storage=True,
    )
    reader = await js.pull_subscribe("", stream=stream, config=config)
    try:
        sequence = 0
        while sequence < last:
            try:
                messages = await reader.fetch(batch, timeout=2)
            except TimeoutError:
                break  # nothing more to deliver (the rest was deleted meanwhile)
            for message in messages:
                sequence = message.metadata.sequence.stream
                if sequence > last:
                    break
                yield message
    finally:
        await reader.unsubscribe()
        with contextlib.suppress(NotFoundError):  # gone already (inactive threshold)
            await js.delete_consumer(stream, config.name)


async def ack_floor(js: Any, stream: str, consumer: str) -> int:
    """The highest stream sequence below which the consumer has acknowledged everything
    (0 when it does not exist yet: nothing has been consumed)."""
    try:
        info = await js.consumer_info(stream, consumer)
    except NotFoundError:
        return 0
    return int(info.ack_floor.stream_seq or 0)


def _touchpoint_id(data: bytes, headers: dict[str, str]) -> str:
    if headers.get(ORIGINAL_MSG_ID_HEADER):
        return headers[ORIGINAL_MSG_ID_HEADER]
    if headers.get("Nats-Msg-Id") and SEQUENCE_HEADER not in headers:  # a dead letter's is its own
        return headers["Nats-Msg-Id"]
    envelope = envelope_identity(data)
    return envelope.touchpoint_id if envelope is not None else ""


async def _delete(js: Any, plan: StreamPurge) -> None:
    for item in plan.deleted:
        with contextlib.suppress(NotFoundError):  # expired or purged meanwhile
            await js.delete_msg(plan.stream, item.sequence)


async def _purge_all(
    url: str, targets: list[PurgeTarget], party: ErasedParty, dry_run: bool
) -> list[StreamPurge]:
    nc = await connect(url, name="eventchain-erase", forever=False)
    try:
        js = nc.jetstream()
        plans = [await plan_stream(js, target, party) for target in targets]
        if not dry_run:
            for plan in plans:
                await _delete(js, plan)
        return plans
    finally:
        await nc.close()


def purge_streams(
    url: str, targets: list[PurgeTarget], party: ErasedParty, *, dry_run: bool = False
) -> list[StreamPurge]:
    """Purges the erased party's messages from each stream (raw ingest, dead letters,
    notifications), one pass per stream; ``dry_run`` only says what it would do."""
    return asyncio.run(_purge_all(url, targets, party, dry_run))
