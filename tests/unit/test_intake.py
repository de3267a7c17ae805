"""The intake ledger's facts: what became of each message, and why a dead letter was one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.event_chain import EventChain
from domain.intake import (
    DictionaryError,
    IntakeEntry,
    IntakeManifest,
    IntakeTally,
    InvalidIntakeEntryError,
    Manifest,
    check_dictionaries,
    decode_manifest,
    entry_of_reject,
    reject_kind,
)
from domain.touchpoints import EnvelopeLimits, RejectedTouchpointError, decode_touchpoint
from tests.strategies import intake_entries, manifests

AT = datetime(2026, 3, 3, 1, 15, tzinfo=UTC)
UTM = {"source": "baidu", "medium": "cpc", "campaign": "spring2026"}


def web_form(**overrides: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "touchpoint_id": "wf-1",
        "channel": "web_form",
        "occurred_at": "2026-03-02T23:30:00+08:00",
        "direction": "inbound",
        "identities": [{"kind": "phone", "value": "13800138000"}],
        "payload": {"form_id": "contact-us", "fields": {"科室": "心内科"}, "utm": UTM},
    }
    envelope.update(overrides)
    return envelope


def rejection(raw: bytes, limits: EnvelopeLimits | None = None) -> RejectedTouchpointError:
    with pytest.raises(RejectedTouchpointError) as caught:
        decode_touchpoint(raw, received_at=AT, limits=limits or EnvelopeLimits())
    return caught.value


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"\x00junk", "schema"),
        (json.dumps(web_form(direction="sideways")).encode(), "schema"),
        (json.dumps(web_form(payload={"utm": UTM})).encode(), "schema"),
        (json.dumps(web_form(identities=[{"kind": "phone", "value": "12345"}])).encode(), "identity"),
        (json.dumps(web_form(occurred_at="2036-03-02T09:00:00+08:00")).encode(), "limits"),
        (json.dumps(web_form(touchpoint_id="x" * 300_000)).encode(), "limits"),
    ],
)
def test_a_rejected_envelope_is_filed_under_the_kind_of_its_reason(raw: bytes, kind: str) -> None:
    assert kind == reject_kind(rejection(raw))


def test_a_form_field_outside_its_dictionary_names_the_field_and_the_value() -> None:
    accepted = decode_touchpoint(
        json.dumps(web_form(payload={**web_form()["payload"], "fields": {"科室": "神经外科"}}))
    )
    with pytest.raises(DictionaryError) as caught:
        check_dictionaries(accepted.touchpoint, {"科室": frozenset({"心内科", "骨科"})}, version=3)
    assert "$.payload.fields.科室" == caught.value.path
    assert "'神经外科' is not in the dictionary of 科室 (rules v3)" == caught.value.reason
    assert "dictionary" == reject_kind(caught.value)


def test_fields_without_a_dictionary_and_values_inside_one_pass() -> None:
    accepted = decode_touchpoint(json.dumps(web_form()))
    check_dictionaries(accepted.touchpoint, {"科室": frozenset({"心内科"}), "城市": frozenset({"成都"})})
    check_dictionaries(accepted.touchpoint, {})


def test_a_dead_letter_keeps_the_campaign_and_the_china_day_its_bytes_still_tell() -> None:
    raw = json.dumps(web_form(direction="sideways")).encode()
    entry = entry_of_reject(7, raw, "web_form", AT, "schema", "$.direction")
    assert (7, "2026-03-02", "spring2026", "baidu", "cpc", "wf-1", "dead_lettered", "schema") == (
        entry.sequence,
        entry.day,
        entry.campaign,
        entry.source,
        entry.medium,
        entry.touchpoint_id,
        entry.outcome,
        entry.reason,
    )


def test_junk_bytes_are_filed_on_the_day_they_were_received_under_no_campaign() -> None:
    entry = entry_of_reject(8, b"\xff\xfe[[[", "unknown", AT, "schema", "$")
    assert ("2026-03-03", "", "") == (entry.day, entry.campaign, entry.touchpoint_id)


def test_an_entry_needs_a_known_outcome_and_a_stream_sequence() -> None:
    with pytest.raises(InvalidIntakeEntryError, match=r"^outcome: "):
        IntakeTally.count(uuid4(), "TOUCHPOINTS", AT, [IntakeEntry(1, "web_form", "2026-03-02", "lost")])
    with pytest.raises(InvalidIntakeEntryError, match=r"^sequence: "):
        IntakeTally.count(uuid4(), "TOUCHPOINTS", AT, [IntakeEntry(0, "web_form", "2026-03-02", "recorded")])


@given(st.lists(intake_entries(), max_size=5))
def test_a_tally_survives_the_store(entries: list[IntakeEntry]) -> None:
    app = EventChain.from_url("sqlite:///:memory:")
    tally = IntakeTally.count(uuid4(), "TOUCHPOINTS", AT, entries)
    app.save(tally)
    stored: IntakeTally = app.repository.get(tally.id)
    assert [entry.as_dict() for entry in entries] == stored.entries
    assert ("TOUCHPOINTS", AT) == (stored.stream, stored.counted_at)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"channel": "fax"}, "$.channel"),
        ({"sent_at": "2026-03-03T00:10:00"}, "$.sent_at"),
        ({"sent": -1}, "$.sent"),
    ],
)
def test_a_manifest_names_the_field_it_gets_wrong(change: dict[str, Any], path: str) -> None:
    manifest = {"manifest_id": "m-1", "channel": "web_form", "day": "2026-03-02", "utm": UTM, "sent": 1200}
    manifest["sent_at"] = "2026-03-03T00:10:00+08:00"
    with pytest.raises(RejectedTouchpointError) as caught:
        decode_manifest(json.dumps({**manifest, **change}).encode())
    assert path == caught.value.path


@given(manifests())
def test_a_manifest_survives_the_store_and_a_correction_is_a_new_fact(manifest: Manifest) -> None:
    app = EventChain.from_url("sqlite:///:memory:")
    received = IntakeManifest.receive(manifest)
    app.save(received)
    stored: IntakeManifest = app.repository.get(received.id)
    assert (manifest.sent, manifest.day.isoformat()) == (stored.sent, stored.day)
    later = msgspec.structs.replace(manifest, sent_at=manifest.sent_at + timedelta(hours=1))
    assert IntakeManifest.receive(later).id != received.id


def test_what_a_hostile_envelope_carries_is_stored_without_control_characters_or_lone_surrogates() -> None:
    raw = b'{"touchpoint_id": "a\\u0000b\\u001f", "payload": {"utm": {"campaign": "x\\u0007y"}}}'
    entry = entry_of_reject(9, raw, "web_form", AT, "schema", "$.\x00\ud800")
    app = EventChain.from_url("sqlite:///:memory:")
    tally = IntakeTally.count(uuid4(), "TOUCHPOINTS", AT, [entry])
    app.save(tally)
    [stored] = app.repository.get(tally.id).entries
    assert ("a?b?", "x?y", "$.??") == (stored["touchpoint_id"], stored["campaign"], stored["path"])


def test_a_dead_letter_dated_at_the_edge_of_the_calendar_keeps_its_own_date() -> None:
    raw = json.dumps(web_form(occurred_at="9999-12-31T23:59:59-14:00")).encode()
    assert "9999-12-31" == entry_of_reject(10, raw, "web_form", AT, "limits", "$.occurred_at").day
