"""The touchpoint envelope (SPEC §2.1): strict msgspec Structs, one per channel.

Adding a channel is one payload Struct, one envelope Struct with its ``tag`` and an entry
in ``AnyTouchpoint``. Patterns are anchored (msgspec patterns are search, not match).

Longer than 400 lines on purpose: it is the public envelope contract, every channel's Struct
beside the union and the one decoder built from it, so a reader sees the whole schema at once.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct

from domain.identities import (
    IdentityKind,
    InvalidIdentityError,
    blocked_reason,
    identity_key,
    normalise_identity,
    normalise_phone,
)

# Documented limits (README "Limits"): a touchpoint beyond them is rejected with the path.
MAX_TEXT: Final = 16_384  # characters of a free-text field (a DM, a call summary)
MAX_SHORT_TEXT: Final = 512  # characters of a name, company, city…
MAX_IDENTITIES: Final = 20  # identities listed on one touchpoint
MAX_FORM_FIELDS: Final = 200  # entries of web_form payload.fields
MAX_MEDIA: Final = 50  # entries of douyin_dm payload.media
MAX_ENVELOPE_BYTES: Final = 256 * 1024  # one JSON envelope
MAX_DEPTH: Final = 16  # nesting of JSON arrays and objects (the envelope itself needs 4)
# Control characters never belong in names or ids (a NUL also poisons PostgreSQL text);
# free text may hold tabs and line breaks.
_NO_CONTROLS: Final = r"^[^\x00-\x1f\x7f]*$"
_NO_CONTROLS_BUT_LINES: Final = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Text = Annotated[str, Meta(max_length=MAX_TEXT, pattern=_NO_CONTROLS_BUT_LINES)]
ShortText = Annotated[str, Meta(max_length=MAX_SHORT_TEXT, pattern=_NO_CONTROLS)]
RequiredId = Annotated[
    str, Meta(min_length=1, max_length=256, pattern=r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x7f])?$")
]
FieldName = Annotated[str, Meta(max_length=256, pattern=_NO_CONTROLS)]
Uri = Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")]
AwareDatetime = Annotated[datetime, Meta(tz=True)]
TouchpointId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
NonNegativeInt = Annotated[int, Meta(ge=0)]
NonNegativeNumber = Annotated[float, Meta(ge=0)]
Direction = Literal["inbound", "outbound"]


class Strict(Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


class Identity(Strict, frozen=True):
    kind: IdentityKind
    value: Annotated[str, Meta(min_length=1, max_length=256)]


class Contact(Strict, frozen=True):
    name: ShortText | None = None
    company: ShortText | None = None
    city: ShortText | None = None
    industry: ShortText | None = None
    budget_cny: NonNegativeNumber | None = None


class Utm(Strict, frozen=True):
    source: ShortText | None = None
    medium: ShortText | None = None
    campaign: ShortText | None = None


class WebFormPayload(Strict, frozen=True):
    form_id: RequiredId
    page_url: Uri | None = None
    fields: Annotated[dict[FieldName, Text], Meta(max_length=MAX_FORM_FIELDS)] = {}
    utm: Utm | None = None


class DouyinPayload(Strict, frozen=True):
    open_id: RequiredId
    nickname: ShortText | None = None
    text: Text | None = None
    media: Annotated[list[Uri], Meta(max_length=MAX_MEDIA)] = []


class ExpoScanPayload(Strict, frozen=True):
    expo_id: RequiredId
    booth: ShortText | None = None
    badge_id: ShortText | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    device_id: ShortText | None = None


class CallEntities(Strict, frozen=True):
    product: ShortText | None = None
    budget_cny: NonNegativeNumber | None = None
    decision_role: ShortText | None = None
    competitor: ShortText | None = None


class Call400Payload(Strict, frozen=True):
    call_id: RequiredId
    caller: ShortText | None = None
    agent_id: ShortText | None = None
    duration_s: NonNegativeInt | None = None
    summary: Text | None = None
    recording_uri: Uri | None = None
    entities: CallEntities | None = None


class EngineerLogPayload(Strict, frozen=True):
    ticket_id: RequiredId
    log_uri: Uri
    engineer_id: ShortText | None = None
    device_serial: ShortText | None = None
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = None
    size_bytes: NonNegativeInt | None = None
    diagnosis: Text | None = None


class WecomPayload(Strict, frozen=True):
    external_userid: RequiredId
    agent_userid: ShortText | None = None
    text: Text | None = None


class VisitPayload(Strict, frozen=True):
    """A meeting in person (上门拜访 / 客户来访), logged by the rep who was there."""

    visit_id: RequiredId
    agent_id: ShortText | None = None
    address: ShortText | None = None
    duration_min: NonNegativeInt | None = None
    summary: Text | None = None


class SmsPayload(Strict, frozen=True):
    """A text message (短信) sent or received; a rep logs the one they sent."""

    message_id: RequiredId
    agent_id: ShortText | None = None
    text: Text | None = None


class EmailPayload(Strict, frozen=True):
    """An e-mail (邮件) sent or received; a rep logs the one they sent."""

    message_id: RequiredId
    agent_id: ShortText | None = None
    subject: ShortText | None = None
    text: Text | None = None


class Touchpoint(Strict, frozen=True, tag_field="channel"):
    touchpoint_id: TouchpointId
    occurred_at: AwareDatetime
    direction: Direction
    actor: ShortText | None = None
    identities: Annotated[list[Identity], Meta(max_length=MAX_IDENTITIES)] = []
    contact: Contact | None = None


class WebForm(Touchpoint, tag="web_form", frozen=True, kw_only=True):
    payload: WebFormPayload


class DouyinDM(Touchpoint, tag="douyin_dm", frozen=True, kw_only=True):
    payload: DouyinPayload


class ExpoScan(Touchpoint, tag="expo_scan", frozen=True, kw_only=True):
    payload: ExpoScanPayload


class Call400(Touchpoint, tag="call_400", frozen=True, kw_only=True):
    payload: Call400Payload


class EngineerLog(Touchpoint, tag="engineer_log", frozen=True, kw_only=True):
    payload: EngineerLogPayload


class WecomMsg(Touchpoint, tag="wecom_msg", frozen=True, kw_only=True):
    payload: WecomPayload


class Visit(Touchpoint, tag="visit", frozen=True, kw_only=True):
    payload: VisitPayload


class Sms(Touchpoint, tag="sms", frozen=True, kw_only=True):
    payload: SmsPayload


class Email(Touchpoint, tag="email", frozen=True, kw_only=True):
    payload: EmailPayload


AnyTouchpoint = WebForm | DouyinDM | ExpoScan | Call400 | EngineerLog | WecomMsg | Visit | Sms | Email


class ImportPayload(Strict, frozen=True):
    batch_id: RequiredId
    row_number: NonNegativeInt
    source_file: ShortText | None = None
    owner: ShortText | None = None  # 负责人 as written in the sheet


class ImportRow(Touchpoint, tag="import", frozen=True, kw_only=True):
    """A customer row from a bulk import (``eventchain import``). Not part of the NATS
    envelope: channels publish contact touchpoints; imports are facts, never leads."""

    payload: ImportPayload


# What the Customer aggregate records: the public channels plus imports.
RecordableTouchpoint = AnyTouchpoint | ImportRow


def channels_of(union: Any) -> tuple[str, ...]:
    """The channel names of a union of touchpoint Structs: their tags, in declaration order."""
    return tuple(str(member.__struct_config__.tag) for member in typing.get_args(union))


# Registering a channel is adding its Struct to ``AnyTouchpoint``: its name is its tag, and the
# decoder, the lead definition (here, in the SLA book and in the views) and the rules' channel
# check follow from this tuple.
CHANNELS: Final[tuple[str, ...]] = channels_of(AnyTouchpoint)


def is_lead_touch(direction: str, channel: str) -> bool:
    """Whether a touchpoint can be a lead: inbound on a contact channel (imports are facts
    about a customer, not leads). A customer's lead is the first such touch in event time;
    the views' ``ec.leads`` apply the same rule (``projections/schema.LEAD_CHANNELS_SQL``)."""
    return direction == "inbound" and channel in CHANNELS


_decoder: Final = msgspec.json.Decoder(AnyTouchpoint)
_encoder: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class EnvelopeLimits:
    """The configurable bounds of an envelope; the event-time window is relative to the
    receive time, which the caller passes in (the domain reads no clock)."""

    max_future_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=3653)
    max_bytes: int = MAX_ENVELOPE_BYTES
    max_depth: int = MAX_DEPTH
    blocked: frozenset[str] = field(default_factory=frozenset)  # identity keys besides the built-in list


DEFAULT_LIMITS: Final = EnvelopeLimits()


@dataclass(frozen=True, slots=True)
class AcceptedTouchpoint:
    """A validated touchpoint with its normalised identity keys, ready to record.
    ``dropped``: (identity key, reason) of identities left out of resolution (blocked)."""

    touchpoint: RecordableTouchpoint
    identity_keys: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...] = ()

    @property
    def touchpoint_id(self) -> str:
        return self.touchpoint.touchpoint_id

    @property
    def channel(self) -> str:
        return channel_of(self.touchpoint)


class RejectedTouchpointError(ValueError):
    """A touchpoint that fails validation; ``path`` names the offending field."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def decode_touchpoint(
    raw: bytes | str, *, received_at: datetime | None = None, limits: EnvelopeLimits = DEFAULT_LIMITS
) -> AcceptedTouchpoint:
    """Decodes and validates one JSON envelope, or raises RejectedTouchpointError.

    ``received_at``: when the envelope reached us; ``occurred_at`` must lie within
    ``limits``' window around it. None (replays, tests of the schema) skips that check."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > limits.max_bytes:
        raise RejectedTouchpointError("$", f"envelope of {size} bytes exceeds {limits.max_bytes} bytes")
    check_depth(raw, limits.max_depth)
    try:
        touchpoint = _decoder.decode(raw)
    except msgspec.ValidationError as error:
        path, reason = _split_msgspec_error(str(error))
        raise RejectedTouchpointError(path, reason) from None
    except msgspec.DecodeError as error:
        raise RejectedTouchpointError("$", f"not valid JSON ({error})") from None
    except RecursionError:  # check_depth makes this unreachable; kept as the last guard
        raise RejectedTouchpointError("$", "nested too deeply to decode") from None
    if received_at is not None:
        check_event_time(touchpoint.occurred_at, received_at, limits)
    return accept(touchpoint, limits.blocked)


_JSON_TOKEN: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def check_depth(raw: bytes | str, max_depth: int) -> None:
    """Rejects JSON nested deeper than ``max_depth`` before the decoder recurses into it."""
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return  # the common case, at C speed: too few brackets to nest that deep
    depth = 0
    for token in _JSON_TOKEN.finditer(data):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise RejectedTouchpointError("$", f"nested deeper than {max_depth} levels")
        elif bracket in (b"]", b"}"):
            depth -= 1


def check_event_time(occurred_at: datetime, received_at: datetime, limits: EnvelopeLimits) -> None:
    """Event time moves every metric: no single touchpoint may come from the far future or past."""
    if occurred_at > received_at + limits.max_future_skew:
        raise RejectedTouchpointError(
            "$.occurred_at",
            f"{occurred_at.isoformat()} is more than {limits.max_future_skew.total_seconds():.0f} s "
            f"after the receive time {received_at.isoformat()}",
        )
    if occurred_at < received_at - limits.max_age:
        raise RejectedTouchpointError(
            "$.occurred_at",
            f"{occurred_at.isoformat()} is more than {limits.max_age.days} days before "
            f"the receive time {received_at.isoformat()}",
        )


def accept(touchpoint: RecordableTouchpoint, blocked: frozenset[str] = frozenset()) -> AcceptedTouchpoint:
    """Applies the rules a schema cannot express and normalises the identities; blocked
    identities (placeholders, test values, the company's own numbers) are dropped."""
    if touchpoint.direction == "outbound" and not touchpoint.actor:
        raise RejectedTouchpointError("$.actor", "required when direction is 'outbound'")
    keys: list[str] = []
    for index, identity in enumerate(touchpoint.identities):
        try:
            keys.append(key_of(identity))
        except InvalidIdentityError as error:
            raise RejectedTouchpointError(f"$.identities[{index}].value", str(error)) from None
    keys.extend(_identities_from_payload(touchpoint))
    if not keys:
        raise RejectedTouchpointError(
            "$.identities", "at least one identity is needed to place the touchpoint on a customer"
        )
    dropped = tuple(
        (key, reason) for key in sorted(set(keys)) if (reason := blocked_reason(key, blocked)) is not None
    )
    kept = tuple(sorted(set(keys) - {key for key, _ in dropped}))
    if not kept:
        reasons = "; ".join(f"{key} {reason}" for key, reason in dropped)
        raise RejectedTouchpointError("$.identities", f"no usable identity: {reasons}")
    return AcceptedTouchpoint(touchpoint, kept, dropped)


def key_of(identity: Identity) -> str:
    """The identity's key as resolution uses it (``phone:+8613…``); raises InvalidIdentityError."""
    return identity_key(identity.kind, normalise_identity(identity.kind, identity.value))


class _Identified(Struct, frozen=True):
    """What can still be read of an envelope that fails validation: its id and identities."""

    touchpoint_id: str | None = None
    identities: list[Identity] = []


@dataclass(frozen=True, slots=True)
class EnvelopeIdentity:
    """Whose an envelope is, read the way ingest reads it. ``valid``: the whole envelope
    passed validation (else only its ``touchpoint_id`` and ``identities`` were read)."""

    touchpoint_id: str
    identity_keys: frozenset[str]
    valid: bool


def envelope_identity(raw: bytes) -> EnvelopeIdentity | None:
    """The touchpoint id and identity keys of an envelope: ingest's decoding when the envelope
    is valid (payload identities included); otherwise its ``touchpoint_id`` and each
    ``identities`` entry that normalises. None when neither can be read."""
    try:
        accepted = decode_touchpoint(raw)
    except RejectedTouchpointError:
        pass
    else:
        return EnvelopeIdentity(accepted.touchpoint_id, frozenset(accepted.identity_keys), valid=True)
    try:
        check_depth(raw, MAX_DEPTH)
        partial = msgspec.json.decode(raw, type=_Identified)
    except (msgspec.DecodeError, RejectedTouchpointError):
        return None
    keys = set()
    for identity in partial.identities:
        try:
            keys.add(key_of(identity))
        except InvalidIdentityError:
            continue
    if not keys and partial.touchpoint_id is None:
        return None
    return EnvelopeIdentity(partial.touchpoint_id or "", frozenset(keys), valid=False)


def _identities_from_payload(touchpoint: RecordableTouchpoint) -> list[str]:
    match touchpoint:
        case DouyinDM(payload=payload):
            return [identity_key("douyin_open_id", normalise_identity("douyin_open_id", payload.open_id))]
        case WecomMsg(payload=payload) if touchpoint.direction == "inbound":
            return [
                identity_key(
                    "wecom_external_id", normalise_identity("wecom_external_id", payload.external_userid)
                )
            ]
        case Call400(payload=payload) if payload.caller and touchpoint.direction == "inbound":
            try:
                return [identity_key("phone", normalise_phone(payload.caller))]
            except InvalidIdentityError:
                return []  # an unknown caller id (e.g. a switchboard) is not an identity
        case _:
            return []


def channel_of(touchpoint: RecordableTouchpoint) -> str:
    return type(touchpoint).__struct_config__.tag  # type: ignore[return-value]


def encode_touchpoint(touchpoint: AnyTouchpoint) -> bytes:
    return _encoder.encode(touchpoint)


def payload_dict(touchpoint: RecordableTouchpoint) -> dict[str, Any]:
    return msgspec.to_builtins(touchpoint.payload)  # type: ignore[no-any-return]


def contact_dict(touchpoint: RecordableTouchpoint) -> dict[str, Any]:
    if touchpoint.contact is None:
        return {}
    return msgspec.to_builtins(touchpoint.contact)  # type: ignore[no-any-return]


def summarise(touchpoint: RecordableTouchpoint) -> str:
    """A one-line summary of the touchpoint for the chain view, in Chinese and content first:
    what the customer asked or what was said (the channel is shown beside it by its label)."""
    match touchpoint:
        case WebForm(payload=p):
            asked = "；".join(f"{name}：{value}" for name, value in p.fields.items() if value.strip())
            source = f"（来源 {p.utm.source}/{p.utm.medium}）" if p.utm and p.utm.source else ""
            return f"{asked or '表单 #' + p.form_id}{source}"
        case DouyinDM(payload=p):
            return p.text or "（图片或视频）"
        case ExpoScan(payload=p):
            booth = f" {p.booth} 展位" if p.booth else ""
            return f"展会 {p.expo_id}{booth}扫码"
        case Call400(payload=p):
            return p.summary or f"通话 {p.call_id}"
        case EngineerLog(payload=p):
            return f"工单 {p.ticket_id}：{p.diagnosis or p.log_uri}"
        case WecomMsg(payload=p):
            return p.text or "（无文字）"
        case Visit(payload=p):
            where = f"（{p.address}）" if p.address else ""
            return f"{p.summary or '拜访 ' + p.visit_id}{where}"
        case Sms(payload=p):
            return p.text or f"短信 {p.message_id}"
        case Email(payload=p):
            subject = f"《{p.subject}》" if p.subject else ""
            return f"{subject}{p.text or ''}" or f"邮件 {p.message_id}"
        case ImportRow(payload=p):
            return f"从 {p.source_file or '表格'} 第 {p.row_number} 行导入（批次 {p.batch_id}）"
    return f"{channel_of(touchpoint)} 触点"  # a channel without its own wording yet


_FIELD_IN_REASON: Final = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]*)`")


def _split_msgspec_error(message: str) -> tuple[str, str]:
    # msgspec: "Expected `str`, got `int` - at `$.payload.form_id`"
    reason, sep, where = message.rpartition(" - at `")
    if not sep:
        reason, where = message, "$"
    path = where.rstrip("`")
    if reason.endswith((repr(_NO_CONTROLS), repr(_NO_CONTROLS_BUT_LINES))):
        reason = "contains a control character (NUL, ESC…), which text may not hold"
    field = _FIELD_IN_REASON.match(reason)
    if field:
        path = f"{path}.{field.group(1)}"
    return path, reason
