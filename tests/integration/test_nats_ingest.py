"""NATS JetStream ingestion against a real nats-server (and real PostgreSQL where noted)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.local_servers import LocalNats
from adapters.nats import DELIVERIES_HEADER, PATH_HEADER, REASON_HEADER, publish_envelopes, wait_until
from application.event_chain import BatchResult, EventChain
from bench.workload import touchpoint_envelopes
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from tests.nats_support import (
    dead_letters,
    private_config,
    publish_raw,
    recorded_touchpoint_ids,
    running_worker,
    versions_are_gapless,
)

VALID = touchpoint_envelopes(6, 3, seed=11, prefix="ok")

malformed = st.one_of(
    st.binary(min_size=0, max_size=64),  # junk bytes
    st.builds(
        lambda n: json.dumps(
            {
                "touchpoint_id": "x",
                "channel": "fax",
                "occurred_at": "2026-01-01T00:00:00Z",
                "direction": "inbound",
                "identities": [],
                "payload": {},
            }
        ).encode(),
        st.integers(),
    ),  # unknown channel
    st.builds(
        lambda v: json.dumps({**json.loads(VALID[0]), "occurred_at": v}).encode(),
        st.sampled_from(["2026-03-02T09:15:00", "yesterday", 12]),
    ),  # naive / wrong timestamps
    st.builds(
        lambda v: json.dumps({**json.loads(VALID[1]), "direction": v}).encode(),
        st.one_of(st.integers(), st.just("sideways")),
    ),  # wrong types / values
    st.builds(
        lambda k: json.dumps({kk: vv for kk, vv in json.loads(VALID[2]).items() if kk != k}).encode(),
        st.sampled_from(["touchpoint_id", "channel", "payload", "identities"]),
    ),  # missing fields
    st.builds(
        lambda n: json.dumps({**json.loads(VALID[3]), "touchpoint_id": "x" * n}).encode(),
        st.integers(300, 200_000),
    ),  # huge strings
)


def envelope_pairs(raw: Sequence[bytes]) -> list[tuple[AcceptedTouchpoint, bytes]]:
    return [(decode_touchpoint(r), r) for r in raw]


def channel_of_envelope(raw: bytes) -> str:
    return str(json.loads(raw)["channel"])


def unique_valid(tag: str, count: int = 6) -> list[bytes]:
    return touchpoint_envelopes(count, 3, seed=11, prefix=tag)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(malformed, min_size=1, max_size=5))
def test_malformed_messages_go_to_the_dead_letter_stream_and_valid_ones_around_them_are_recorded(
    nats_server: str, tmp_path_factory: Any, bad: list[bytes]
) -> None:
    config = private_config()
    directory = tmp_path_factory.mktemp("dlq")
    app = EventChain.from_url(f"sqlite:///{directory / 'events.db'}")
    valid = unique_valid(config.names.durable)
    mixed: list[tuple[str, bytes, str | None]] = []
    for index, payload in enumerate(bad):  # each bad message sits between two valid ones
        mixed.append((channel_of_envelope(valid[index]), valid[index], None))
        mixed.append(("web_form", payload, None))
    mixed += [(channel_of_envelope(v), v, None) for v in valid[len(bad) :]]
    publish_raw(nats_server, config, mixed)
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(
            lambda: worker.stats.dead_lettered == len(bad) and worker.stats.recorded == len(valid), timeout=30
        )
    assert sorted(recorded_touchpoint_ids(app)) == sorted(json.loads(v)["touchpoint_id"] for v in valid)
    letters = dead_letters(nats_server, config)
    assert sorted(data for data, _ in letters) == sorted(bad)  # the original bytes
    for _, headers in letters:
        assert headers[REASON_HEADER] and headers[PATH_HEADER].startswith("$")
        assert int(headers[DELIVERIES_HEADER]) >= 1


def test_the_same_touchpoint_republished_after_the_duplicate_window_is_recorded_once(
    nats_server: str, tmp_path: Path
) -> None:
    config = private_config(duplicate_window=1.0)
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    envelopes = envelope_pairs(unique_valid("dup", 4))
    assert asyncio.run(publish_envelopes(nats_server, envelopes, config)).published == 4
    assert asyncio.run(publish_envelopes(nats_server, envelopes, config)).duplicates == 4  # inside the window
    time.sleep(1.5)
    assert asyncio.run(publish_envelopes(nats_server, envelopes, config)).published == 4  # the window passed
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(lambda: worker.stats.recorded + worker.stats.duplicates == 8, timeout=30)
    ids = recorded_touchpoint_ids(app)
    assert sorted(ids) == sorted(a.touchpoint_id for a, _ in envelopes)
    assert worker.stats.duplicates == 4


def test_a_handler_slower_than_ack_wait_does_not_write_twice(nats_server: str, tmp_path: Path) -> None:
    config = private_config(ack_wait=1.0, batch=50)
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")

    def slow_record(batch: Sequence[AcceptedTouchpoint]) -> BatchResult:
        time.sleep(3.0)  # three AckWaits
        return app.record_batch(batch)

    envelopes = envelope_pairs(unique_valid("slow", 20))
    asyncio.run(publish_envelopes(nats_server, envelopes, config))
    with running_worker(app, nats_server, config, record=slow_record) as worker:
        assert wait_until(lambda: worker.stats.recorded == 20, timeout=60)
        time.sleep(1.5)  # a redelivery, if any, would show up as a duplicate now
    assert worker.stats.duplicates == 0
    assert sorted(recorded_touchpoint_ids(app)) == sorted(a.touchpoint_id for a, _ in envelopes)


def test_the_worker_reconnects_after_nats_restarts_while_publishing(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    config = private_config()
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    first, second = envelope_pairs(unique_valid("a", 300)), envelope_pairs(unique_valid("b", 300))
    with running_worker(app, local_nats.url, config) as worker:
        asyncio.run(publish_envelopes(local_nats.url, first, config))
        local_nats.restart()  # same port, same file store
        asyncio.run(publish_envelopes(local_nats.url, second, config))
        assert wait_until(lambda: worker.stats.recorded == 600, timeout=60), worker.stats
    ids = recorded_touchpoint_ids(app)
    assert len(ids) == len(set(ids)) == 600


def test_two_workers_on_one_stream_and_one_postgresql_store_reconcile_exactly(
    nats_server: str, pg_url: str
) -> None:
    config = private_config(batch=100)
    raw = touchpoint_envelopes(3_000, 400, seed=21, prefix="two")  # shared customers: contention
    asyncio.run(publish_envelopes(nats_server, envelope_pairs(raw), config))
    one, two = EventChain.from_url(pg_url), EventChain.from_url(pg_url)
    with running_worker(one, nats_server, config) as a, running_worker(two, nats_server, config) as b:
        assert wait_until(lambda: a.stats.recorded + b.stats.recorded == 3_000, timeout=120)
    assert a.stats.batches > 0 and b.stats.batches > 0, "both workers should have taken batches"
    ids = recorded_touchpoint_ids(one)
    assert len(ids) == len(set(ids)) == 3_000
    assert versions_are_gapless(one)


def test_junk_on_a_subject_that_names_no_channel_is_dead_lettered_under_unknown(
    nats_server: str, tmp_path: Path
) -> None:
    config = private_config()
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    valid = unique_valid("unk", 2)
    publish_raw(
        nats_server, config, [(channel_of_envelope(valid[0]), valid[0], None), ("fax", b"\x00junk", None)]
    )
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(lambda: worker.stats.dead_lettered == 1 and worker.stats.recorded == 1, timeout=30)
    assert dead_letter_subjects(nats_server, config) == [f"{config.names.dlq_prefix}.unknown"]
    [(data, headers)] = dead_letters(nats_server, config)
    assert data == b"\x00junk"
    assert headers["Eventchain-Original-Subject"] == config.names.subject("fax")
    assert headers[REASON_HEADER]


async def _dead_letter_subjects(url: str, config: Any) -> list[str]:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(config.names.dlq_stream)
        return [
            (await js.get_msg(config.names.dlq_stream, sequence)).subject or ""
            for sequence in range(info.state.first_seq, info.state.last_seq + 1)
        ]
    finally:
        await nc.close()


def dead_letter_subjects(url: str, config: Any) -> list[str]:
    return asyncio.run(_dead_letter_subjects(url, config))


def test_a_valid_envelope_published_on_another_channels_subject_is_dead_lettered_naming_the_channel(
    nats_server: str, tmp_path: Path
) -> None:
    config = private_config()
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    first, second = unique_valid("mis", 2)
    wrong = next(c for c in ("web_form", "wecom_msg") if c != channel_of_envelope(second))
    publish_raw(nats_server, config, [(channel_of_envelope(first), first, None), (wrong, second, None)])
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(lambda: worker.stats.dead_lettered == 1 and worker.stats.recorded == 1, timeout=30)
    assert recorded_touchpoint_ids(app) == [json.loads(first)["touchpoint_id"]]
    [(data, headers)] = dead_letters(nats_server, config)
    assert data == second and headers[PATH_HEADER] == "$.channel"
    assert dead_letter_subjects(nats_server, config) == [f"{config.names.dlq_prefix}.{wrong}"]
