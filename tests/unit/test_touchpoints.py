from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from domain.touchpoints import (
    CHANNELS,
    AnyTouchpoint,
    EnvelopeIdentity,
    RejectedTouchpointError,
    decode_touchpoint,
    encode_touchpoint,
    envelope_identity,
)
from tests.strategies import ENVELOPES, touchpoints

VALID: dict[str, Any] = {
    "touchpoint_id": "wf-2026-000123",
    "channel": "web_form",
    "occurred_at": "2026-03-02T09:15:00+08:00",
    "direction": "inbound",
    "actor": None,
    "identities": [{"kind": "phone", "value": "13800138000"}, {"kind": "email", "value": "Li@Example.CN"}],
    "contact": {
        "name": "李雷",
        "company": "杭州某智能硬件有限公司",
        "city": "杭州",
        "industry": "智能硬件",
        "budget_cny": 500000,
    },
    "payload": {
        "form_id": "contact-us",
        "page_url": "https://example.cn/c",
        "fields": {},
        "utm": {"source": "baidu", "medium": "cpc", "campaign": "spring2026"},
    },
}


def envelope(**changes: Any) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


def rejection(raw: bytes) -> RejectedTouchpointError:
    with pytest.raises(RejectedTouchpointError) as caught:
        decode_touchpoint(raw)
    return caught.value


@given(touchpoints())
def test_every_touchpoint_type_survives_encode_and_decode(touchpoint: AnyTouchpoint) -> None:
    decoded = decode_touchpoint(encode_touchpoint(touchpoint))
    assert touchpoint == decoded.touchpoint


def test_every_channel_of_the_spec_has_an_envelope() -> None:
    assert set(CHANNELS) == set(ENVELOPES)


def test_the_spec_example_is_accepted_with_normalised_identities() -> None:
    accepted = decode_touchpoint(envelope())
    assert accepted.identity_keys == ("email:li@example.cn", "phone:+8613800138000")
    assert accepted.channel == "web_form"


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"channel": "fax"}, "$.channel", "Invalid value 'fax'"),
        ({"occurred_at": "2026-03-02T09:15:00"}, "$.occurred_at", "timezone"),
        ({"direction": "sideways"}, "$.direction", "Invalid enum value"),
        ({"payload": {"page_url": "https://x.cn"}}, "$.payload.form_id", "missing required field"),
        ({"payload": {"form_id": 7}}, "$.payload.form_id", "Expected `str`, got `int`"),
        ({"surprise": 1}, "$.surprise", "unknown field"),
        ({"identities": [{"kind": "phone", "value": "12345"}]}, "$.identities[0].value", "not a valid phone"),
        (
            {"identities": [{"kind": "uscc", "value": "91330100MA27XYZ12X"}]},
            "$.identities[0].value",
            "unified social credit code",
        ),
        ({"identities": [{"kind": "email", "value": "not-an-email"}]}, "$.identities[0].value", "email"),
        ({"identities": [{"kind": "fax", "value": "1"}]}, "$.identities[0].kind", "Invalid enum value"),
        ({"identities": []}, "$.identities", "at least one identity"),
        ({"direction": "outbound", "actor": None}, "$.actor", "required when direction is 'outbound'"),
        ({"touchpoint_id": " spaced "}, "$.touchpoint_id", "matching regex"),
        (
            {"payload": {"form_id": "f", "fields": {"k": "x" * 20_000}}},
            "$.payload.fields[...]",
            "length <= 16384",
        ),
    ],
)
def test_a_bad_envelope_is_rejected_naming_the_field_and_why(
    changes: dict[str, Any], path: str, reason: str
) -> None:
    error = rejection(envelope(**changes))
    assert path == error.path
    assert reason in error.reason


def test_junk_bytes_are_rejected_as_invalid_json() -> None:
    error = rejection(b"\xff\xfe{not json")
    assert error.path == "$"
    assert "not valid JSON" in error.reason


def test_douyin_and_wecom_payload_ids_become_identities() -> None:
    douyin = decode_touchpoint(
        envelope(channel="douyin_dm", identities=[], payload={"open_id": "dy-1", "text": "急"})
    )
    wecom = decode_touchpoint(
        envelope(channel="wecom_msg", identities=[], payload={"external_userid": "wm-1"})
    )
    assert douyin.identity_keys == ("douyin_open_id:dy-1",)
    assert wecom.identity_keys == ("wecom_external_id:wm-1",)


def test_an_inbound_400_call_links_the_callers_phone() -> None:
    call = decode_touchpoint(
        envelope(
            channel="call_400",
            identities=[{"kind": "email", "value": "a@b.cn"}],
            payload={"call_id": "c1", "caller": "+86 138-0013-8000"},
        )
    )
    assert call.identity_keys == ("email:a@b.cn", "phone:+8613800138000")


def test_patterns_are_anchored() -> None:
    # msgspec patterns are searches: an unanchored one would accept valid text plus junk.
    digest = "0" * 64
    log = {"ticket_id": "T-1", "log_uri": "s3://logs/1", "sha256": digest + "zz"}
    error = rejection(envelope(channel="engineer_log", payload=log))
    assert error.path == "$.payload.sha256"
    assert decode_touchpoint(envelope(channel="engineer_log", payload={**log, "sha256": digest}))


def test_an_envelope_is_read_for_its_owner_the_way_ingest_reads_it() -> None:
    valid = envelope_identity(json.dumps(VALID).encode())
    assert valid == EnvelopeIdentity(
        "wf-2026-000123", frozenset({"phone:+8613800138000", "email:li@example.cn"}), valid=True
    )
    late = {
        **VALID,
        "occurred_at": "yesterday",
        "identities": [{"kind": "phone", "value": "+86 138 0013 8000"}],
    }
    assert envelope_identity(json.dumps(late).encode()) == EnvelopeIdentity(
        "wf-2026-000123", frozenset({"phone:+8613800138000"}), valid=False
    )
    unreadable = [b"not json: call 13800138000", b'{"phone": "13800138000"}', b"[1, 2]", b"{" * 100]
    assert [envelope_identity(raw) for raw in unreadable] == [None] * len(unreadable)
