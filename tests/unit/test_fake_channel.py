"""Adding a channel is one msgspec Struct and its registration in ``AnyTouchpoint``: a fake
``fax`` channel, declared here, decodes strictly, names its channel, is accepted with its
identities and is summarised, with nothing else written for it."""

from __future__ import annotations

import json

import msgspec
import pytest

from domain.touchpoints import (
    CHANNELS,
    AnyTouchpoint,
    RequiredId,
    ShortText,
    Strict,
    Touchpoint,
    accept,
    channel_of,
    channels_of,
    summarise,
)


class FaxPayload(Strict, frozen=True):
    fax_id: RequiredId
    pages: int | None = None
    sender: ShortText | None = None


class Fax(Touchpoint, tag="fax", frozen=True, kw_only=True):  # the Struct…
    payload: FaxPayload


WITH_FAX = AnyTouchpoint | Fax  # …and its registration
ENVELOPE = {
    "touchpoint_id": "fax-1",
    "channel": "fax",
    "occurred_at": "2026-03-02T09:15:00+08:00",
    "direction": "inbound",
    "identities": [{"kind": "phone", "value": "13800138000"}],
    "payload": {"fax_id": "F-1", "pages": 3},
}


def test_the_registered_struct_is_a_channel_named_by_its_tag() -> None:
    assert channels_of(AnyTouchpoint) == CHANNELS
    assert channels_of(WITH_FAX) == (*CHANNELS, "fax")


def test_a_fake_channel_decodes_is_accepted_and_summarised() -> None:
    touchpoint = msgspec.json.Decoder(WITH_FAX).decode(json.dumps(ENVELOPE))

    accepted = accept(touchpoint)

    assert isinstance(touchpoint, Fax) and channel_of(touchpoint) == "fax"
    assert accepted.identity_keys == ("phone:+8613800138000",)
    assert summarise(touchpoint) == "fax 触点"


def test_the_fake_channel_is_validated_strictly() -> None:
    decoder = msgspec.json.Decoder(WITH_FAX)
    with pytest.raises(msgspec.ValidationError, match=r"missing required field `fax_id` - at `\$\.payload`"):
        decoder.decode(json.dumps({**ENVELOPE, "payload": {"pages": 3}}))
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        decoder.decode(json.dumps({**ENVELOPE, "payload": {"fax_id": "F", "colour": True}}))
