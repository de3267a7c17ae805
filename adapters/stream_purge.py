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
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import phonenumbers
from nats.js.errors import NotFoundError

from domain.identities import DEFAULT_PHONE_REGION, InvalidIdentityError, clean_text, normalise_email

NOTIFICATIONS_STREAM: Final = "NOTIFICATIONS"
CUSTOMER_HEADER: Final = "Eventchain-Customer-Id"
_EMAIL_LIKE: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
MIN_NAME_LENGTH: Final = 2  # a one-character "name" would match half of all messages


@dataclass(frozen=True)
class ErasedParty:
    """What identifies the erased customers in a message: their customer ids, identity keys
    (``phone:+8613…``, as the store normalises them) and the names and companies they used."""

    customer_ids: frozenset[str]
    identity_keys: frozenset[str]
    names: frozenset[str] = field(default_factory=frozenset)
    touchpoint_ids: frozenset[str] = field(default_factory=frozenset)

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
        for match in phonenumbers.PhoneNumberMatcher(text, DEFAULT_PHONE_REGION, leniency=0):
            number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if f"phone:{number}" in self.identity_keys:
                return True
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
    )


def _texts(data: bytes) -> Iterator[str]:
    """Every string a message holds: the decoded JSON's strings (so ``\\u674e`` escapes
    count), and the raw bytes as text (for payloads that are not JSON at all)."""
    yield data.decode("utf-8", "replace")
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
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


async def purge_stream(js: Any, stream: str, party: ErasedParty) -> StreamPurge:
    """Deletes (with erase) every message of ``stream`` that mentions ``party``; a missing
    stream is reported as absent, not as an error."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return StreamPurge(stream, 0, 0, present=False)
    scanned = deleted = 0
    sequence = info.state.first_seq
    last = info.state.last_seq
    while info.state.messages and sequence <= last:
        try:  # the next message at or after this sequence (deleted ones are skipped)
            message = await js.get_msg(stream, seq=sequence, subject=">", next=True)
        except NotFoundError:
            break
        if message.seq is None or message.seq > last:
            break
        scanned += 1
        if party.mentioned_in(message.data or b"", message.headers):
            await js.delete_msg(stream, message.seq)
            deleted += 1
        sequence = message.seq + 1
    return StreamPurge(stream, scanned, deleted)


async def _purge_all(url: str, streams: list[str], party: ErasedParty) -> list[StreamPurge]:
    from adapters.nats_ingest import connect

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
