"""The intake ledger's facts (seed 002: "marketing says 1,200, sales says 830").

Every message the ingest worker takes from the stream ends in exactly one outcome:
recorded as a new touchpoint, folded as a duplicate of a touchpoint already recorded (same
``touchpoint_id``), recorded with something held (an identity link left out, an over-merge
held for an operator), or dead-lettered with a reason. The worker records those outcomes
as an ``IntakeTally`` — one per store transaction, in the same transaction as the
touchpoints it counts (dead letters: before their copy is published) — so the ledger is a
pure function of the log: ``replay rebuild`` rebuilds it and ``replay verify`` checks it.

A tally entry names the message by its stream sequence. A batch redelivered after its commit
(the worker died before acking) is tallied again, as duplicates; the ledger counts each
sequence once, by its first tally, so a redelivery never inflates "received".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Final
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import msgspec
from eventsourcing.domain import Aggregate
from msgspec import Meta

from domain.resolution import Placement
from domain.touchpoints import (
    CHANNELS,
    AcceptedTouchpoint,
    RecordableTouchpoint,
    RejectedTouchpointError,
    Utm,
    WebForm,
)

CHINA: Final = ZoneInfo("Asia/Shanghai")

OUTCOMES: Final = ("recorded", "duplicate", "held", "dead_lettered")
# Why a message was dead-lettered, the ledger's columns (anything else is "other").
REJECT_KINDS: Final = ("schema", "limits", "identity", "dictionary", "other")


@dataclass(frozen=True, slots=True)
class IntakeEntry:
    """One message's outcome. ``day`` is the envelope's ``occurred_at`` in China time (its
    receive time when the envelope has none readable); ``reason`` is a REJECT_KINDS word for
    a dead letter, the hold's reason for a held touchpoint, "" otherwise."""

    sequence: int
    channel: str
    day: str  # YYYY-MM-DD
    outcome: str
    touchpoint_id: str = ""
    source: str = ""
    medium: str = ""
    campaign: str = ""
    reason: str = ""
    path: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The stored form: empty texts left out (a tally holds one entry per message)."""
        return {
            name: value
            for name, value in (
                ("sequence", self.sequence),
                ("channel", self.channel),
                ("day", self.day),
                ("outcome", self.outcome),
                ("touchpoint_id", self.touchpoint_id),
                ("source", self.source),
                ("medium", self.medium),
                ("campaign", self.campaign),
                ("reason", self.reason),
                ("path", self.path),
            )
            if value != ""
        }


class IntakeTally(Aggregate):
    """One per store transaction of the ingest: what became of each message it counts."""

    class Counted(Aggregate.Created):
        stream: str  # the ingest stream the sequences belong to
        counted_at: datetime
        entries: list[dict[str, Any]]  # IntakeEntry.as_dict(), one per message (empty texts left out)

    def __init__(self, stream: str, counted_at: datetime, entries: list[dict[str, Any]]) -> None:
        self.stream = stream
        self.counted_at = counted_at
        self.entries = entries

    @classmethod
    def count(
        cls, tally_id: UUID, stream: str, counted_at: datetime, entries: list[IntakeEntry]
    ) -> IntakeTally:
        for entry in entries:
            if entry.outcome not in OUTCOMES:
                raise InvalidIntakeEntryError(f"outcome: {entry.outcome!r} is not one of {OUTCOMES}")
            if entry.sequence < 1:
                raise InvalidIntakeEntryError(f"sequence: {entry.sequence} is not a stream sequence (≥ 1)")
        return cls._create(
            cls.Counted,
            id=tally_id,
            timestamp=counted_at,
            stream=stream,
            counted_at=counted_at,
            entries=[entry.as_dict() for entry in entries],
        )


# --- upstream's own count: the batch manifest --------------------------------------------

MANIFEST_NAMESPACE: Final = UUID("3f0c6b7e-2d6a-4f39-9a51-7c1f0e2b8d14")


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a channel says it sent for one campaign and day (the README's public contract):
    published as JSON on ``manifests.<channel>``. A later manifest for the same channel,
    campaign and day (a larger ``sent_at``) replaces the earlier one."""

    manifest_id: Annotated[str, Meta(min_length=1, max_length=200)]
    channel: str
    day: date  # China time, as the ledger's days
    utm: Utm | None = None
    sent: Annotated[int, Meta(ge=0, le=10**9)]
    sent_at: datetime


_manifest_decoder: Final = msgspec.json.Decoder(Manifest)


def decode_manifest(raw: bytes) -> Manifest:
    """Strict decode of a manifest, or RejectedTouchpointError naming the field."""
    try:
        manifest = _manifest_decoder.decode(raw)
    except msgspec.ValidationError as error:
        reason, _, where = str(error).rpartition(" - at `")
        raise RejectedTouchpointError(where.rstrip("`") if reason else "$", reason or str(error)) from None
    except msgspec.DecodeError as error:
        raise RejectedTouchpointError("$", f"not valid JSON ({error})") from None
    if manifest.channel not in CHANNELS:
        raise RejectedTouchpointError("$.channel", f"unknown channel; expected one of {CHANNELS}")
    if manifest.sent_at.tzinfo is None:
        raise RejectedTouchpointError("$.sent_at", "needs an offset (e.g. +08:00)")
    return manifest


class IntakeManifest(Aggregate):
    """One per manifest received (its id: uuid5 of the manifest's id, key and ``sent_at``, so a
    redelivered manifest is recorded once and a correction is a new one)."""

    class Received(Aggregate.Created):
        manifest_id: str
        channel: str
        day: str
        source: str
        medium: str
        campaign: str
        sent: int
        sent_at: datetime

    def __init__(
        self,
        manifest_id: str,
        channel: str,
        day: str,
        source: str,
        medium: str,
        campaign: str,
        sent: int,
        sent_at: datetime,
    ) -> None:
        self.manifest_id = manifest_id
        self.channel = channel
        self.day = day
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.sent = sent
        self.sent_at = sent_at

    @classmethod
    def receive(cls, manifest: Manifest) -> IntakeManifest:
        utm = manifest.utm or Utm()
        fields = {
            "manifest_id": manifest.manifest_id,
            "channel": manifest.channel,
            "day": manifest.day.isoformat(),
            "source": utm.source or "",
            "medium": utm.medium or "",
            "campaign": utm.campaign or "",
        }
        return cls._create(
            cls.Received,
            id=uuid5(MANIFEST_NAMESPACE, "|".join([*fields.values(), manifest.sent_at.isoformat()])),
            timestamp=manifest.sent_at,
            sent=manifest.sent,
            sent_at=manifest.sent_at,
            **fields,
        )


def china_today(instant: datetime) -> date:
    try:
        return instant.astimezone(CHINA).date()
    except OverflowError:  # an envelope dated at the very edge of the calendar (9999-12-31…)
        return instant.date()


def china_day(instant: datetime) -> str:
    return china_today(instant).isoformat()


def entry_of_touchpoint(
    sequence: int, touchpoint: RecordableTouchpoint, channel: str, outcome: str, reason: str = ""
) -> IntakeEntry:
    """The entry of a message that decoded: its campaign is the web form's utm."""
    utm = touchpoint.payload.utm if isinstance(touchpoint, WebForm) else None
    return IntakeEntry(
        sequence=sequence,
        channel=channel,
        day=china_day(touchpoint.occurred_at),
        outcome=outcome,
        touchpoint_id=touchpoint.touchpoint_id,
        source=(utm.source or "") if utm else "",
        medium=(utm.medium or "") if utm else "",
        campaign=(utm.campaign or "") if utm else "",
        reason=reason,
    )


def entry_of_placement(sequence: int, accepted: AcceptedTouchpoint, placement: Placement) -> IntakeEntry:
    """A recorded message with something held back counts as held: an over-merge or merge
    protection (the resolver's), or a blocked identity left out (the envelope's)."""
    if not placement.recorded:
        outcome, reason = "duplicate", ""
    elif placement.held or accepted.dropped:
        outcome, reason = "held", placement.held or "blocked"
    else:
        outcome, reason = "recorded", ""
    return entry_of_touchpoint(sequence, accepted.touchpoint, accepted.channel, outcome, reason)


class _Loose(msgspec.Struct):
    """What a rejected envelope may still say about where it came from (all optional)."""

    touchpoint_id: Any = None
    occurred_at: Any = None
    payload: Any = None


_loose: Final = msgspec.json.Decoder(_Loose)


def entry_of_reject(
    sequence: int, raw: bytes, channel: str, received_at: datetime, kind: str, path: str
) -> IntakeEntry:
    """The entry of a dead letter: its campaign and day as far as the broken bytes tell."""
    touchpoint_id = occurred = ""
    utm: dict[str, Any] = {}
    try:
        loose = _loose.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        loose = _Loose()
    if isinstance(loose.touchpoint_id, str):
        touchpoint_id = _text(loose.touchpoint_id, 200)
    if isinstance(loose.occurred_at, str):
        occurred = loose.occurred_at
    if isinstance(loose.payload, dict) and isinstance(loose.payload.get("utm"), dict):
        utm = loose.payload["utm"]
    day = china_day(received_at)
    try:
        parsed = datetime.fromisoformat(occurred)
        if parsed.tzinfo is not None:
            day = china_day(parsed)
    except ValueError:
        pass
    return IntakeEntry(
        sequence=sequence,
        channel=channel,
        day=day,
        outcome="dead_lettered",
        touchpoint_id=touchpoint_id,
        source=_text(utm.get("source")),
        medium=_text(utm.get("medium")),
        campaign=_text(utm.get("campaign")),
        reason=kind,
        path=_text(path, 200),
    )


def _text(value: Any, limit: int = 100) -> str:
    """Text a hostile envelope carried, safe to store: control characters and lone surrogates
    (which no store's JSON accepts) become "?"."""
    if not isinstance(value, str):
        return ""
    return _UNSAFE.sub("?", value[:limit]).encode("utf-8", "replace").decode("utf-8")


_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")


def reject_kind(error: RejectedTouchpointError) -> str:
    """The ledger's word for why a message was dead-lettered (REJECT_KINDS)."""
    if isinstance(error, DictionaryError):
        return "dictionary"
    path, reason = error.path, error.reason
    if path.startswith("$.identities") or "identity" in reason:
        return "identity"
    if "exceeds" in reason or "nested" in reason or (path == "$.occurred_at" and "receive time" in reason):
        return "limits"
    if ("delivered" in reason and "times" in reason) or "published on" in reason:
        return "other"
    if path == "$" and ":" in reason and not reason.startswith("not valid JSON"):
        return "other"  # an unexpected failure: "<ExceptionClass>: …"
    return "schema"


# --- field dictionaries (seed 002: a 科室 outside the dictionary cannot be submitted) -----


def check_dictionaries(
    touchpoint: RecordableTouchpoint, dictionaries: dict[str, frozenset[str]], version: int = 0
) -> None:
    """Raises DictionaryError naming the field and the value of a web form field whose
    dictionary (the rules' ``[dictionaries]``) does not hold its value."""
    if not dictionaries or not isinstance(touchpoint, WebForm):
        return
    for field, value in touchpoint.payload.fields.items():
        allowed = dictionaries.get(field)
        if allowed is not None and value.strip() not in allowed:
            where = f" (rules v{version})" if version else ""
            raise DictionaryError(
                f"$.payload.fields.{field}",
                f"{value!r} is not in the dictionary of {field}{where}",
            )


class DictionaryError(RejectedTouchpointError):
    """A form field whose value is outside its dictionary."""


class InvalidIntakeEntryError(ValueError):
    """A tally entry with an unknown outcome or no stream sequence."""
