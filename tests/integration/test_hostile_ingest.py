"""Hostile input against a real nats-server and the real worker (issue 15): the worker
never stops, every valid touchpoint is recorded once, every invalid one is dead-lettered
with a reason."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.nats import (
    EXCEPTION_HEADER,
    ORIGINAL_SHA256_HEADER,
    ORIGINAL_SIZE_HEADER,
    PATH_HEADER,
    REASON_HEADER,
    TRUNCATED_HEADER,
    wait_until,
)
from application.event_chain import BatchResult, EventChain
from application.rules import apply_rules
from bench.workload import touchpoint_envelopes
from domain.touchpoints import AcceptedTouchpoint, RejectedTouchpointError
from eventchain.ingest_worker import IngestWorker
from tests.nats_support import (
    dead_letters,
    private_config,
    publish_raw,
    recorded_touchpoint_ids,
    running_worker,
)

MAX_PAYLOAD = 1024 * 1024  # nats-server's default, which the suite's server keeps


def valid_envelopes(tag: str, count: int) -> list[bytes]:
    return touchpoint_envelopes(count, 4, seed=5, prefix=tag)


def channel_of(raw: bytes) -> str:
    return str(json.loads(raw)["channel"])


def with_changes(raw: bytes, **changes: Any) -> bytes:
    return json.dumps({**json.loads(raw), **changes}).encode()


def deep(levels: int) -> bytes:
    return b'{"x": ' + b"[" * levels + b"]" * levels + b', "channel": "web_form"}'


def near_max_payload(size: int) -> bytes:
    return b'{"touchpoint_id": "' + b"x" * (size - 22) + b'"}'


def run_worker_over(
    nats_server: str,
    directory: Path,
    messages: list[tuple[str, bytes]],
    valid: Sequence[bytes],
    **kwargs: Any,
) -> tuple[EventChain, list[tuple[bytes, dict[str, str]]], Any]:
    config = private_config()
    app = EventChain.from_url(f"sqlite:///{directory / 'events.db'}")
    publish_raw(nats_server, config, [(channel, data, None) for channel, data in messages])
    invalid = len(messages) - len(valid)
    with running_worker(app, nats_server, config, **kwargs) as worker:
        assert wait_until(
            lambda: worker.stats.recorded == len(valid) and worker.stats.dead_lettered == invalid, timeout=60
        )
    return app, dead_letters(nats_server, config), worker


def test_a_message_nested_100000_levels_deep_is_dead_lettered_and_the_worker_keeps_going(
    nats_server: str, tmp_path: Path
) -> None:
    valid = valid_envelopes("deep", 3)
    messages = [("web_form", deep(100_000)), *((channel_of(v), v) for v in valid)]
    app, letters, _ = run_worker_over(nats_server, tmp_path, messages, valid)
    assert sorted(json.loads(v)["touchpoint_id"] for v in valid) == sorted(recorded_touchpoint_ids(app))
    [(data, headers)] = letters
    assert deep(100_000) == data and "nested deeper" in headers[REASON_HEADER]


def test_an_invalid_message_just_under_the_max_payload_is_dead_lettered_as_a_prefix_with_size_and_sha256(
    nats_server: str, tmp_path: Path
) -> None:
    huge = near_max_payload(MAX_PAYLOAD - 200)
    valid = valid_envelopes("huge", 2)
    messages = [("web_form", huge), *((channel_of(v), v) for v in valid)]
    _, letters, _ = run_worker_over(nats_server, tmp_path, messages, valid)
    [(data, headers)] = letters
    assert huge.startswith(data) and len(data) < len(huge)
    assert "true" == headers[TRUNCATED_HEADER] and str(len(huge)) == headers[ORIGINAL_SIZE_HEADER]
    assert hashlib.sha256(huge).hexdigest() == headers[ORIGINAL_SHA256_HEADER]


def test_a_message_that_fails_while_recording_is_dead_lettered_with_its_exception_and_its_batch_recorded(
    nats_server: str, tmp_path: Path
) -> None:
    valid = valid_envelopes("poison", 6)
    poison_id = json.loads(valid[2])["touchpoint_id"]
    app_holder: list[EventChain] = []

    def record_refusing_the_poison(batch: Sequence[AcceptedTouchpoint]) -> BatchResult:
        if any(t.touchpoint_id == poison_id for t in batch):
            raise LookupError(f"cannot resolve {poison_id}")  # a bug that only this message trips
        return app_holder[0].record_batch(batch)

    config = private_config()
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app_holder.append(app)
    publish_raw(nats_server, config, [(channel_of(v), v, None) for v in valid])
    with running_worker(app, nats_server, config, record=record_refusing_the_poison) as worker:
        assert wait_until(lambda: worker.stats.recorded == 5 and worker.stats.dead_lettered == 1, timeout=60)
    assert sorted(json.loads(v)["touchpoint_id"] for v in valid if v != valid[2]) == sorted(
        recorded_touchpoint_ids(app)
    )
    [(data, headers)] = dead_letters(nats_server, config)
    assert valid[2] == data and "LookupError" == headers[EXCEPTION_HEADER]


def test_a_touchpoint_from_the_company_s_own_400_number_is_dead_lettered_once_the_rules_block_it(
    nats_server: str, tmp_path: Path
) -> None:
    form = {
        "channel": "web_form",
        "occurred_at": "2026-03-02T09:15:00+08:00",
        "direction": "inbound",
        "payload": {"form_id": "contact-us"},
    }
    person = [{"kind": "phone", "value": "13905712345"}]
    valid = json.dumps({**form, "touchpoint_id": "own-ok", "identities": person}).encode()
    own_line = [{"kind": "phone", "value": "400-800-1234"}]
    switchboard = json.dumps({**form, "touchpoint_id": "own-400", "identities": own_line}).encode()
    config = private_config()
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(app, '[identities]\nblocked = ["phone:4008001234"]\n', "ops", "our own 400 line")
    publish_raw(nats_server, config, [("web_form", valid, None), ("web_form", switchboard, None)])
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(lambda: worker.stats.recorded == 1 and worker.stats.dead_lettered == 1, timeout=60)
    [(_, headers)] = dead_letters(nats_server, config)
    assert "blocked by the rules" in headers[REASON_HEADER]


ABSURD_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]
ABSURD_TIMES += ["2126-01-01T00:00:00Z"]


def emails(count: int) -> list[dict[str, str]]:
    return [{"kind": "email", "value": f"u{i}@corp.cn"} for i in range(count)]


def hostile(valid: bytes) -> st.SearchStrategy[tuple[str, bytes]]:
    """(channel of the subject, bytes): each one invalid for a different reason."""
    channel = channel_of(valid)
    other = "douyin_dm" if channel != "douyin_dm" else "web_form"
    return st.one_of(
        st.integers(17, 100_000).map(lambda n: ("web_form", deep(n))),
        st.integers(MAX_PAYLOAD - 4000, MAX_PAYLOAD - 200).map(lambda n: ("web_form", near_max_payload(n))),
        st.binary(min_size=1, max_size=200).map(lambda b: ("web_form", b"\xff\xfe" + b)),  # invalid UTF-8
        st.integers(21, 3000).map(lambda n: (channel, with_changes(valid, identities=emails(n)))),
        st.sampled_from(ABSURD_TIMES).map(lambda at: (channel, with_changes(valid, occurred_at=at))),
        st.just((other, valid)),  # the right envelope on the wrong subject
        st.text(max_size=30).map(lambda name: (channel, with_changes(valid, contact={"name": f"\0{name}"}))),
    )


@settings(max_examples=6, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_hostile_messages_interleaved_with_valid_ones_never_stop_the_worker(
    nats_server: str, tmp_path_factory: Any, data: st.DataObject
) -> None:
    directory = tmp_path_factory.mktemp("hostile")
    valid = valid_envelopes(f"fz{directory.name[-6:]}", 8)
    bad = data.draw(st.lists(hostile(valid[0]), min_size=1, max_size=6))
    messages: list[tuple[str, bytes]] = []
    for index, envelope in enumerate(valid):
        messages.append((channel_of(envelope), envelope))
        if index < len(bad):
            messages.append(bad[index])
    app, letters, _ = run_worker_over(nats_server, directory, messages, valid)
    ids = recorded_touchpoint_ids(app)
    assert sorted(json.loads(v)["touchpoint_id"] for v in valid) == sorted(ids)  # each exactly once
    assert len(bad) == len(letters)
    for _, headers in letters:
        assert headers[REASON_HEADER] and headers[PATH_HEADER].startswith("$")


def test_a_message_delivered_more_often_than_the_poison_bound_is_rejected_without_decoding(
    tmp_path: Path,
) -> None:
    config = private_config(poison_deliveries=5)
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    worker = IngestWorker(app, "nats://127.0.0.1:1", config)
    [valid] = valid_envelopes("redelivered", 1)
    message = SimpleNamespace(  # what a JetStream message carries after the worker died on it 6 times
        data=valid, subject=config.names.subject(channel_of(valid)), metadata=SimpleNamespace(num_delivered=6)
    )
    with pytest.raises(RejectedTouchpointError, match="delivered 6 times without being recorded"):
        worker.decode(message)
    message.metadata.num_delivered = 5
    assert json.loads(valid)["touchpoint_id"] == worker.decode(message).touchpoint_id
