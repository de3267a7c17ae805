"""Hostile and implausible input is rejected with a reason, never raised as a crash
(issue 15's cases, each by name)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.nats import ORIGINAL_SHA256_HEADER, ORIGINAL_SIZE_HEADER, TRUNCATED_HEADER, bounded_body
from domain.rules import RulesError, blocked_keys, parse_rules
from domain.touchpoints import (
    MAX_ENVELOPE_BYTES,
    EnvelopeLimits,
    RejectedTouchpointError,
    decode_touchpoint,
)

RECEIVED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def envelope(**changes: Any) -> dict[str, Any]:
    return {
        "touchpoint_id": "wf-1",
        "channel": "web_form",
        "occurred_at": "2026-12-03T16:00:00+08:00",
        "direction": "inbound",
        "identities": [{"kind": "phone", "value": "13905712345"}],
        "payload": {"form_id": "contact-us"},
        **changes,
    }


def rejected(raw: bytes | dict[str, Any], **kwargs: Any) -> RejectedTouchpointError:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(RejectedTouchpointError) as caught:
        decode_touchpoint(data, received_at=RECEIVED, **kwargs)
    return caught.value


def test_a_message_nested_100000_levels_deep_is_rejected_not_a_recursion_error() -> None:
    deep = b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "channel": "web_form"}'
    assert 200_000 < len(deep) < MAX_ENVELOPE_BYTES
    error = rejected(deep)
    assert ("$", "nested deeper than 16 levels") == (error.path, error.reason)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = "[" * 40 + "{" * 40
    accepted = decode_touchpoint(
        json.dumps(envelope(payload={"form_id": "f", "fields": {"note": text}})), received_at=RECEIVED
    )
    assert "wf-1" == accepted.touchpoint_id


def test_an_envelope_over_the_byte_limit_is_rejected_with_its_size() -> None:
    big = envelope(payload={"form_id": "f", "fields": {f"k{i}": "x" * 16_000 for i in range(20)}})
    error = rejected(big)
    assert "$" == error.path and f"exceeds {MAX_ENVELOPE_BYTES} bytes" in error.reason


@pytest.mark.parametrize(
    "occurred_at",
    [
        "9999-12-31T23:59:59-14:00",
        "2026-12-03T17:06:00+08:00",
        "0001-01-01T00:00:00+00:00",
        "1970-01-01T00:00:00Z",
    ],
)
def test_an_occurred_at_outside_the_window_around_the_receive_time_is_rejected(occurred_at: str) -> None:
    error = rejected(envelope(occurred_at=occurred_at))
    assert "$.occurred_at" == error.path and "the receive time" in error.reason


def test_an_occurred_at_a_little_after_the_receive_time_or_years_before_is_accepted() -> None:
    for at in (RECEIVED + timedelta(minutes=4), RECEIVED - timedelta(days=9 * 365)):
        accepted = decode_touchpoint(json.dumps(envelope(occurred_at=at.isoformat())), received_at=RECEIVED)
        assert at == accepted.touchpoint.occurred_at


def test_the_event_time_window_is_configurable() -> None:
    limits = EnvelopeLimits(max_future_skew=timedelta(days=2), max_age=timedelta(days=1))
    tomorrow = envelope(occurred_at=(RECEIVED + timedelta(days=1)).isoformat())
    assert decode_touchpoint(json.dumps(tomorrow), received_at=RECEIVED, limits=limits)
    assert "$.occurred_at" == rejected(envelope(occurred_at="2026-12-01T00:00:00Z"), limits=limits).path


def test_one_touchpoint_with_20000_emails_is_rejected() -> None:
    emails = [{"kind": "email", "value": f"u{i}@corp.cn"} for i in range(20_000)]
    assert "exceeds" in rejected(envelope(identities=emails)).reason  # the byte limit comes first
    error = rejected(envelope(identities=emails[:21]))
    assert "$.identities" == error.path and "length <= 20" in error.reason


def test_50000_form_fields_are_rejected() -> None:
    fields = {f"f{i}": "v" for i in range(50_000)}
    assert "exceeds" in rejected(envelope(payload={"form_id": "f", "fields": fields})).reason
    error = rejected(envelope(payload={"form_id": "f", "fields": dict(list(fields.items())[:201])}))
    assert "$.payload.fields" == error.path and "length <= 200" in error.reason


def test_a_name_with_a_nul_byte_is_rejected() -> None:
    error = rejected(envelope(contact={"name": "李\u0000雷"}))
    assert "$.contact.name" == error.path and "control character" in error.reason


def test_placeholder_identities_are_left_out_of_resolution_with_a_reason() -> None:
    identities = [
        {"kind": "phone", "value": "13800000000"},
        {"kind": "email", "value": "test@test.com"},
        {"kind": "phone", "value": "13905712345"},
    ]
    accepted = decode_touchpoint(json.dumps(envelope(identities=identities)), received_at=RECEIVED)
    assert ("phone:+8613905712345",) == accepted.identity_keys
    assert {"phone:+8613800000000", "email:test@test.com"} == {key for key, _ in accepted.dropped}


def test_a_touchpoint_whose_only_identity_is_a_placeholder_is_rejected_with_the_reason() -> None:
    error = rejected(envelope(identities=[{"kind": "phone", "value": "+1 234 567 8901"}]))
    assert "$.identities" == error.path and "placeholder" in error.reason


def test_identities_blocked_by_the_rules_document_are_dropped() -> None:
    document = parse_rules('[identities]\nblocked = ["phone:400-800-1234", "phone:0571-88889999"]\n')
    blocked = blocked_keys(document)
    assert {"phone:+864008001234", "phone:+8657188889999"} == set(blocked)
    switchboard = envelope(identities=[{"kind": "phone", "value": "4008001234"}])
    error = rejected(switchboard, limits=EnvelopeLimits(blocked=blocked))
    assert "blocked by the rules" in error.reason


def test_a_blocked_entry_that_is_no_identity_is_rejected_with_its_key_path() -> None:
    with pytest.raises(RulesError, match=r"identities\.blocked\[1\]"):
        parse_rules('[identities]\nblocked = ["phone:4008001234", "phone:nope"]\n')


def test_a_rules_document_of_200000_keywords_is_rejected() -> None:
    words = ", ".join(f'"w{i}"' for i in range(200_000))
    with pytest.raises(RulesError, match="exceeds"):
        parse_rules(f"[keywords]\nurgent = [{words}]\n")
    with pytest.raises(RulesError, match=r"keywords\.urgent"):
        parse_rules("[keywords]\nurgent = [" + ", ".join(f'"w{i}"' for i in range(1001)) + "]\n")


def test_a_dead_letter_copy_that_would_not_fit_keeps_a_prefix_its_size_and_sha256() -> None:
    original = b"x" * (1024 * 1024 - 10)
    headers = {"Eventchain-Reject-Reason": "r" * 1000}
    body = bounded_body(original, headers, 1024 * 1024)
    header_bytes = sum(len(name) + len(value) + 4 for name, value in headers.items())
    assert original.startswith(body) and len(body) + header_bytes + 1024 < 1024 * 1024
    assert "true" == headers[TRUNCATED_HEADER] and str(len(original)) == headers[ORIGINAL_SIZE_HEADER]
    assert 64 == len(headers[ORIGINAL_SHA256_HEADER])
    small_headers: dict[str, str] = {}
    assert b"small" == bounded_body(b"small", small_headers, 1024 * 1024) and {} == small_headers
