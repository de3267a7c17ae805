"""Purging an erased customer's messages from the NATS streams (SPEC §7).

Raw envelopes (``TOUCHPOINTS``), dead letters (``TOUCHPOINTS_DLQ``) and notifications
(``NOTIFICATIONS``, when it exists) are copies of personal data outside the event store.
Erasure deletes every message that mentions an erased customer, matched the way ingest
matches identities, not by raw substrings: a phone written ``+86 139 1234 5678``, in
full-width digits or inside a hostile payload is parsed and normalised to E.164, an email
is lower-cased, and the names and companies of the erased profiles count too. A
notification is matched by its ``Eventchain-Customer-Id`` header.

JetStream's message delete overwrites the message's bytes in the stream's block files
(``no_erase`` is left false), so the deleted copy is not left on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import phonenumbers
from nats.js import api
from nats.js.errors import NotFoundError

from domain.identities import DEFAULT_PHONE_REGION, InvalidIdentityError, clean_text, normalise_email

NOTIFICATIONS_STREAM: Final = "NOTIFICATIONS"
CUSTOMER_HEADER: Final = "Eventchain-Customer-Id"
_EMAIL_LIKE: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_NOT_DIGIT: Final = re.compile(r"\D")
MIN_NAME_LENGTH: Final = 2  # a one-character "name" would match half of all messages


@dataclass(frozen=True)
class ErasedParty:
    """What identifies the erased customers in a message: their customer ids, identity keys
    (``phone:+8613…``, as the store normalises them) and the names and companies they used."""

    customer_ids: frozenset[str]
    identity_keys: frozenset[str]
    names: frozenset[str] = field(default_factory=frozenset)
    touchpoint_ids: frozenset[str] = field(default_factory=frozenset)
    # national numbers of the erased phones: every spelling of a phone holds these digits
    phone_digits: frozenset[str] = field(default_factory=frozenset)

    def mentioned_in(self, data: bytes, headers: dict[str, str] | None = None) -> bool:
        if headers and (
            headers.get(CUSTOMER_HEADER, "").strip().lower() in self.customer_ids
            or headers.get("Nats-Msg-Id", "") in self.touchpoint_ids
        ):
            return True
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


def erased_party(
    customer_ids: list[str], identity_keys: list[str], names: list[str], touchpoint_ids: list[str]
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


@dataclass(frozen=True, slots=True)
class StreamPurge:
    stream: str
    scanned: int
    deleted: int
    present: bool = True


async def purge_stream(js: Any, stream: str, party: ErasedParty, batch: int = 1000) -> StreamPurge:
    """Deletes (with erase) every message of ``stream`` that mentions ``party``; a missing
    stream is reported as absent, not as an error. Reads through an ephemeral consumer that
    never acks (batches, not one request per message) and is removed afterwards."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return StreamPurge(stream, 0, 0, present=False)
    last = info.state.last_seq
    if not info.state.messages:
        return StreamPurge(stream, 0, 0)
    config = api.ConsumerConfig(
        ack_policy=api.AckPolicy.NONE,
        deliver_policy=api.DeliverPolicy.ALL,
        filter_subjects=list(info.config.subjects or [">"]),
        inactive_threshold=60.0,
        mem_storage=True,
    )
    reader = await js.pull_subscribe("", stream=stream, config=config)
    scanned, matches = 0, []
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
                scanned += 1
                if party.mentioned_in(message.data or b"", message.headers):
                    matches.append(sequence)
    finally:
        await reader.unsubscribe()
        with contextlib.suppress(NotFoundError):  # gone already (inactive threshold)
            await js.delete_consumer(stream, config.name)
    for sequence in matches:
        await js.delete_msg(stream, sequence)
    return StreamPurge(stream, scanned, len(matches))


async def _purge_all(url: str, streams: list[str], party: ErasedParty) -> list[StreamPurge]:
    from adapters.nats import connect

    nc = await connect(url, name="eventchain-erase")
    try:
        js = nc.jetstream()
        return [await purge_stream(js, stream, party) for stream in streams]
    finally:
        await nc.close()


def purge_streams(url: str, streams: list[str], party: ErasedParty) -> list[StreamPurge]:
    """Purges the erased party's messages from each stream (raw ingest, dead letters,
    notifications), one pass per stream."""
    return asyncio.run(_purge_all(url, streams, party))
