"""Recording touchpoints into a real store (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
import tempfile
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.event_chain import EventChain
from domain.customer import Customer
from domain.touchpoints import AcceptedTouchpoint, accept, decode_touchpoint
from eventchain.scenarios import seed_touchpoints
from tests.strategies import touchpoint_histories


def accepted(history: list[Any]) -> list[AcceptedTouchpoint]:
    return [accept(t) for t in history]


def live_customers(app: EventChain) -> list[Customer]:
    customers = (app.get_customer(i, follow_merges=False) for i in app.customer_ids())
    return [c for c in customers if c.merged_into is None]


def partition(app: EventChain) -> set[tuple[frozenset[str], frozenset[str]]]:
    """Customers as (touchpoint ids, identity keys): independent of generated ids."""
    return {(frozenset(c.touchpoints), frozenset(c.identity_keys)) for c in live_customers(app)}


def fresh_sqlite_app(directory: str, **kwargs: Any) -> EventChain:
    return EventChain.from_url(f"sqlite:///{directory}/events.db", **kwargs)


@settings(max_examples=25)
@given(touchpoint_histories(), st.integers(1, 6))
def test_replaying_stored_events_rebuilds_the_same_aggregate_state(
    history: list[Any], batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        writer = fresh_sqlite_app(directory, max_batch=batch_size)
        writer.record(accepted(history))
        reader = fresh_sqlite_app(directory)  # no cache: everything comes from stored events
        ids = list(reader.customer_ids())
        assert ids
        for customer_id in ids:
            in_memory = writer._load([customer_id])[customer_id]
            assert isinstance(in_memory, Customer)
            assert in_memory.state() == reader.get_customer(customer_id, follow_merges=False).state()


@settings(max_examples=25)
@given(touchpoint_histories(), st.randoms(use_true_random=False), st.integers(1, 5))
def test_the_same_touchpoints_in_any_arrival_order_give_the_same_customers(
    history: list[Any], rng: Any, batch_size: int
) -> None:
    shuffled = list(history)
    rng.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        in_order = fresh_sqlite_app(one)
        in_order.record(accepted(history))
        out_of_order = fresh_sqlite_app(other, max_batch=batch_size)
        out_of_order.record(accepted(shuffled))
        assert partition(in_order) == partition(out_of_order)


@settings(max_examples=20)
@given(touchpoint_histories(max_size=12), st.integers(1, 4))
def test_a_redelivered_touchpoint_is_recorded_once(history: list[Any], batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = fresh_sqlite_app(directory, max_batch=batch_size)
        first = app.record(accepted(history))
        again = app.record(accepted(history + history[::-1]))
        restarted = fresh_sqlite_app(directory)  # a new process, cold cache
        once_more = restarted.record(accepted(history))
        assert len(history) == sum(r.recorded for r in first)
        assert sum(r.recorded for r in again + once_more) == 0
        recorded = [t for c in live_customers(restarted) for t in c.touchpoints]
        assert sorted(t.touchpoint_id for t in history) == sorted(recorded)


def seed_accepted() -> list[AcceptedTouchpoint]:
    return [decode_touchpoint(json.dumps(e)) for e in seed_touchpoints(30)]


def test_the_seed_scenarios_record_on_both_stores(store_url: str) -> None:
    app = EventChain.from_url(store_url, max_batch=16)
    results = app.record(seed_accepted())
    li_lei = app.find_customer("phone:13800138000")
    han_meimei = app.find_customer("douyin_open_id:dy-open-hanmei")
    assert sum(r.recorded for r in results) == len(seed_accepted())
    assert len(li_lei.touchpoints) == 7
    assert {"dy-000901", "dy-000902", "wc-in-000903"} == set(han_meimei.touchpoints)
    assert han_meimei.id == app.find_customer("phone:13905712345").id


def test_a_batch_is_written_in_one_transaction(store_url: str) -> None:
    app = EventChain.from_url(store_url)
    before = app.max_notification_id()
    result = app.record_batch(seed_accepted()[:20])
    notifications = app.recorder.select_notifications(before + 1, 10_000)
    # One transaction: the batch's events are contiguous in the total order.
    ids = [n.id for n in notifications]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert result.attempts == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("writers", "customers"),
    [(3, 40), (6, 8)],  # the second: every batch of every writer touches every customer
)
def test_concurrent_writers_keep_one_customer_per_identity_and_gapless_versions(
    pg_url: str, writers: int, customers: int
) -> None:
    """No writer gives up: a lost race is retried after a jittered back-off, so writers that
    collided do not collide again in step (CI once saw 3 writers lose 8 races in a row)."""
    phones = [f"1380013{n:04d}" for n in range(customers)]
    envelopes = [
        {
            "touchpoint_id": f"w{writer}-{n}",
            "channel": "wecom_msg",
            "occurred_at": f"2026-03-02T09:{n % 60:02d}:00+08:00",
            "direction": "inbound",
            "identities": [{"kind": "phone", "value": phones[n % len(phones)]}],
            "payload": {"external_userid": f"wm-{n % len(phones)}"},
        }
        for writer in range(writers)
        for n in range(120)
    ]
    batches = [
        [decode_touchpoint(json.dumps(e)) for e in envelopes if e["touchpoint_id"].startswith(f"w{w}-")]
        for w in range(writers)
    ]
    # Each writer also re-sends a slice of another writer's touchpoints (redelivery race).
    for w in range(writers):
        batches[w] += batches[(w + 1) % writers][:30]
    errors: list[BaseException] = []

    def write(batch: list[AcceptedTouchpoint]) -> None:
        try:
            EventChain.from_url(pg_url, max_batch=25).record(batch)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reader = EventChain.from_url(pg_url)
    customers = live_customers(reader)
    assert len(phones) == len(customers)
    recorded = [t for c in customers for t in c.touchpoints]
    assert 120 * writers == len(recorded) == len(set(recorded))
    for customer in customers:
        versions = [e.originator_version for e in reader.recorder.select_events(customer.id)]
        assert versions == list(range(1, len(versions) + 1))


def test_a_batch_that_loses_a_race_with_another_writer_is_reloaded_and_retried(store_url: str) -> None:
    def touch(tid: str) -> AcceptedTouchpoint:
        return decode_touchpoint(
            json.dumps(
                {
                    "touchpoint_id": tid,
                    "channel": "wecom_msg",
                    "occurred_at": "2026-03-02T09:00:00+08:00",
                    "direction": "inbound",
                    "identities": [{"kind": "phone", "value": "13800138000"}],
                    "payload": {"external_userid": "wm-1"},
                }
            )
        )

    app = EventChain.from_url(store_url)
    rival = EventChain.from_url(store_url)
    app.record_batch([touch("t1")])  # app now caches the customer at version 2
    rival.record_batch([touch("t2")])  # the store moves to version 3 behind app's back
    result = app.record_batch([touch("t3")])
    customer = EventChain.from_url(store_url).find_customer("phone:13800138000")
    assert 2 == result.attempts
    assert {"t1", "t2", "t3"} == set(customer.touchpoints)
    assert 4 == customer.version
