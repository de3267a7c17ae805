"""Erasure takes only what is the erased customers', and never a message ingest has not
recorded yet (issue 26, SPEC §7): on a real NATS server, with the real ingest worker."""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.crypto import new_kek, parse_kek
from adapters.nats import IngestConfig, wait_until
from application.erasure import Erasure, defer_purges, erase
from application.event_chain import BatchResult, EventChain
from application.stream_purge import PurgeTarget, StreamPurge, ack_floor, purge_streams
from domain.touchpoints import AcceptedTouchpoint
from followers.deferred_purge import DeferredPurger, pending_purges
from tests.nats_support import (
    dead_letters,
    private_config,
    publish_raw,
    recorded_touchpoint_ids,
    running_worker,
    stream_messages,
)

KEK = parse_kek(new_kek())
AT = datetime.now(UTC) - timedelta(hours=1)


@dataclass(frozen=True)
class Person:
    phone: str
    name: str
    company: str


def envelope(touchpoint_id: str, person: Person, channel: str = "web_form", text: str = "") -> bytes:
    """A valid envelope of ``person`` on ``channel``, with ``text`` where the channel keeps it."""
    payload: dict[str, object]
    if channel == "douyin_dm":
        payload = {"open_id": f"dy-{person.phone}", "text": text}
    elif channel == "wecom_msg":
        payload = {"external_userid": f"wm-{person.phone}", "text": text}
    else:
        payload = {"form_id": "contact-us", "fields": {"留言": text}}
    document = {
        "touchpoint_id": touchpoint_id,
        "channel": channel,
        "occurred_at": AT.isoformat(),
        "direction": "inbound",
        "actor": None,
        "identities": [{"kind": "phone", "value": person.phone}],
        "contact": {"name": person.name, "company": person.company},
        "payload": payload,
    }
    return json.dumps(document, ensure_ascii=False).encode()


def published(envelopes: dict[str, bytes]) -> list[tuple[str, bytes, str | None]]:
    """(channel, bytes, Nats-Msg-Id) of each envelope, for ``publish_raw``."""
    return [(json.loads(body)["channel"], body, touchpoint_id) for touchpoint_id, body in envelopes.items()]


def targets(config: IngestConfig) -> list[PurgeTarget]:
    return [
        PurgeTarget(config.names.stream, consumer=config.names.durable),
        PurgeTarget(config.names.dlq_stream),
    ]


def stream_ids(url: str, config: IngestConfig) -> list[str]:
    """The Nats-Msg-Id of every message left in the ingest stream."""
    return [headers.get("Nats-Msg-Id", "") for _, _, headers in stream_messages(url, config.names.stream)]


def consumed_all(url: str, config: IngestConfig) -> bool:
    async def floor_and_last() -> tuple[int, int]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(config.names.stream)
            return await ack_floor(js, config.names.stream, config.names.durable), info.state.last_seq
        finally:
            await nc.close()

    floor, last = asyncio.run(floor_and_last())
    return floor == last


def finish_deferred(app: EventChain, url: str) -> None:
    """What `serve` does after an erasure: the purge follower runs until nothing is pending."""
    purger = DeferredPurger(app, url)
    assert wait_until(lambda: purger.tick() >= 0 and not pending_purges(app), 30)


def erased_and_purged(
    app: EventChain, url: str, config: IngestConfig, phone: str
) -> tuple[Erasure, StreamPurge]:
    erasure = erase(app, f"phone:{phone}", "PIPL request", "dpo")
    purges = purge_streams(url, targets(config), erasure.party)
    defer_purges(app, erasure, purges, config.names)
    return erasure, purges[0]


def assert_unreadable(store_url: str, erasure: Erasure, touchpoint_ids: list[str]) -> None:
    fresh = EventChain.from_url(store_url, kek=KEK)
    for customer_id in erasure.erased_ids:
        customer = fresh.get_customer(customer_id, follow_merges=False)
        assert customer.erased and customer.profile_value("name") is None
        assert {f.summary for f in customer.touchpoints.values()} <= {"[erased]"}
    gone = fresh.get_customer(erasure.customer_id, follow_merges=False)
    assert set(touchpoint_ids) <= set(gone.touchpoints)
    fresh.close()


@contextmanager
def lagging_ingest(store_url: str, url: str, config: IngestConfig) -> Iterator[Callable[[], None]]:
    """Ingest behind: a worker (on its own application, as serve in another process) that has
    fetched the waiting messages and holds them, delivered but unacknowledged, until the
    yielded ``release`` is called; then it records them and stops once all are consumed."""
    gate, held = threading.Event(), threading.Event()
    ingest = EventChain.from_url(store_url, kek=KEK)

    def slow_record(batch: Sequence[AcceptedTouchpoint]) -> BatchResult:
        held.set()
        gate.wait(60)
        return ingest.record_batch(batch)

    with running_worker(ingest, url, config, record=slow_record):
        assert held.wait(30)
        yield gate.set
        assert gate.is_set() and wait_until(lambda: consumed_all(url, config), 30)
    ingest.close()


WANG = Person("13911112222", "王伟", "华为")
OTHER_WANG = Person("13533334444", "王伟", "杭州某智能硬件有限公司")  # same name, another phone
HUAWEI_USER = Person("13655556666", "陈静", "成都某医疗设备有限公司")
REFERRED = Person("13777778888", "刘洋", "西安某自动化有限公司")
UNRELATED = Person("13899990000", "赵磊", "苏州某精密仪器有限公司")
OTHERS = {
    "b-same-name": envelope("b-same-name", OTHER_WANG, text="请王伟经理回电"),
    "c-company-in-dm": envelope("c-company-in-dm", HUAWEI_USER, "douyin_dm", "我们在用华为的设备"),
    "e-named-by-other": envelope("e-named-by-other", REFERRED, "wecom_msg", "是王伟推荐我来的"),
    "d-unrelated": envelope("d-unrelated", UNRELATED, text="想了解报价"),
}


def test_with_serve_stopped_other_customers_waiting_messages_survive_the_erasure(
    nats_server: str, sqlite_url: str
) -> None:
    config = private_config()
    app = EventChain.from_url(sqlite_url, kek=KEK)
    publish_raw(nats_server, config, [("web_form", envelope("a-1", WANG, text="华为采购"), "a-1")])
    with running_worker(app, nats_server, config):
        assert wait_until(lambda: recorded_touchpoint_ids(app) == ["a-1"], 30)
    # serve is stopped: the others wait in the stream, and so do two new messages of 王伟's, one
    # of which ingest will reject (its dead letter, made after the erasure, is purged too)
    late = json.loads(envelope("a-late", WANG))
    late["occurred_at"] = "yesterday"
    waiting = {
        **OTHERS,
        "a-2": envelope("a-2", WANG, "wecom_msg", "还是我，王伟"),
        "a-late": json.dumps(late).encode(),
    }
    publish_raw(nats_server, config, published(waiting))

    erasure, purge = erased_and_purged(app, nats_server, config, WANG.phone)

    assert [(m.sequence, m.touchpoint_id) for m in purge.deleted] == [(1, "a-1")]
    assert [m.touchpoint_id for m in purge.deferred] == ["a-2", "a-late"] and purge.quarantined == []
    assert [p.pending for p in pending_purges(app)] == [{6: "a-2", 7: "a-late"}]
    with running_worker(app, nats_server, config):
        assert wait_until(
            lambda: len(recorded_touchpoint_ids(app)) == 6 and consumed_all(nats_server, config), 30
        )
    assert Counter(recorded_touchpoint_ids(app)) == Counter({"a-1": 1, "a-2": 1, **dict.fromkeys(OTHERS, 1)})
    assert len(dead_letters(nats_server, config)) == 1
    finish_deferred(app, nats_server)
    assert sorted(stream_ids(nats_server, config)) == sorted(OTHERS)
    assert dead_letters(nats_server, config) == []
    assert_unreadable(sqlite_url, erasure, ["a-1"])
    newcomer = app.find_customer(f"phone:{WANG.phone}")  # released: a-2 started a new customer
    assert newcomer.id != erasure.customer_id and set(newcomer.touchpoints) == {"a-2"}
    other_wang = app.find_customer(f"phone:{OTHER_WANG.phone}")
    assert other_wang.profile_value("name") == "王伟" and set(other_wang.touchpoints) == {"b-same-name"}


def test_with_serve_lagging_messages_delivered_but_not_acked_are_deferred_not_deleted(
    nats_server: str, sqlite_url: str
) -> None:
    config = private_config(batch=1)
    app = EventChain.from_url(sqlite_url, kek=KEK)
    publish_raw(nats_server, config, [("web_form", envelope("a-1", WANG), "a-1")])
    with running_worker(app, nats_server, config):
        assert wait_until(lambda: recorded_touchpoint_ids(app) == ["a-1"], 30)
    # ingest is behind: it holds the waiting messages (a resend of 王伟's own first) in flight
    resend = {"a-resend": envelope("a-resend", WANG, text="再发一次")}
    publish_raw(nats_server, config, published({**resend, **OTHERS}))
    with lagging_ingest(sqlite_url, nats_server, config) as release:
        erasure, purge = erased_and_purged(app, nats_server, config, WANG.phone)
        release()
    assert [m.touchpoint_id for m in purge.deleted] == ["a-1"]
    assert [m.touchpoint_id for m in purge.deferred] == ["a-resend"] and purge.ack_floor == 1
    assert Counter(recorded_touchpoint_ids(app)) == Counter(
        {"a-1": 1, "a-resend": 1, **dict.fromkeys(OTHERS, 1)}
    )
    finish_deferred(app, nats_server)
    assert sorted(stream_ids(nats_server, config)) == sorted(OTHERS)
    assert_unreadable(sqlite_url, erasure, ["a-1"])


def test_dead_letters_are_deleted_by_identity_quarantined_by_text_and_others_kept(
    nats_server: str, sqlite_url: str
) -> None:
    config = private_config()
    app = EventChain.from_url(sqlite_url, kek=KEK)
    late = json.loads(envelope("a-bad", WANG))
    late["occurred_at"] = "yesterday"  # invalid, but its identities still say whose it is
    other_bad = json.loads(envelope("b-bad", OTHER_WANG, text="王伟 华为"))
    other_bad["occurred_at"] = "yesterday"
    shared = json.loads(envelope("s-bad", OTHER_WANG))
    shared["identities"].append({"kind": "phone", "value": f"+86 {WANG.phone}"})
    shared["occurred_at"] = "yesterday"
    messages = [
        ("web_form", envelope("a-1", WANG), "a-1"),
        ("web_form", envelope("b-1", OTHER_WANG, text="王伟"), "b-1"),
        ("web_form", json.dumps(late).encode(), "a-bad"),
        ("web_form", json.dumps(other_bad, ensure_ascii=False).encode(), "b-bad"),
        ("web_form", json.dumps(shared).encode(), "s-bad"),
        ("web_form", "not json: 王伟 asked for a quote".encode(), None),
        ("web_form", b"not json: someone else asked", None),
    ]
    publish_raw(nats_server, config, messages)
    with running_worker(app, nats_server, config):
        assert wait_until(lambda: len(stream_messages(nats_server, config.names.dlq_stream)) == 5, 30)
        assert wait_until(lambda: consumed_all(nats_server, config), 30)
    erasure = erase(app, f"phone:{WANG.phone}", "PIPL request", "dpo")
    ingest, dead = purge_streams(nats_server, targets(config), erasure.party)

    assert [(m.touchpoint_id, m.why) for m in ingest.deleted] == [
        ("a-1", "touchpoint id"),
        ("a-bad", "identities"),
    ]
    assert [m.touchpoint_id for m in dead.deleted] == ["a-bad"]
    for purge in (ingest, dead):
        assert [(m.touchpoint_id, m.why.split(";")[0]) for m in purge.quarantined] == [
            ("s-bad", "identities shared with another customer"),
            ("", "no identity readable"),
        ]
    assert sorted(stream_ids(nats_server, config)) == ["", "", "b-1", "b-bad", "s-bad"]
    assert len(stream_messages(nats_server, config.names.dlq_stream)) == 4


# --- the property: customers sharing names, companies and mentions; one erased, ingest behind

NAMES = ("王伟", "张伟", "李娜")
COMPANIES = ("华为", "小米", "海尔")
CHANNELS = ("web_form", "douyin_dm", "wecom_msg")


@st.composite
def crowds(draw: st.DrawFn) -> tuple[list[Person], list[tuple[int, str, str]], int, int]:
    """Customers (unique phones; names and companies from small pools), their touchpoints
    (customer index, channel, text mentioning others), which customer is erased, and how many
    touchpoints were recorded before the erasure (the rest wait: ingest is behind)."""
    count = draw(st.integers(2, 5))
    people = [
        Person(
            f"139{index:04d}{draw(st.integers(1000, 9999))}",
            draw(st.sampled_from(NAMES)),
            draw(st.sampled_from(COMPANIES)),
        )
        for index in range(count)
    ]
    mention = st.sampled_from([*NAMES, *COMPANIES, "推荐", "设备"])
    touches = draw(
        st.lists(
            st.tuples(
                st.integers(0, count - 1),
                st.sampled_from(CHANNELS),
                st.lists(mention, max_size=3).map("".join),
            ),
            min_size=count,
            max_size=12,
        )
    )
    touches = [(i, "web_form", "") for i in range(count)] + touches  # everyone has a first touch
    return people, touches, draw(st.integers(0, count - 1)), draw(st.integers(count, len(touches)))


@contextmanager
def fresh_store() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'events.db'}"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(crowd=crowds(), serve_running=st.booleans())
def test_erasing_one_of_a_crowd_while_ingest_is_behind_takes_only_theirs(
    nats_server: str, crowd: tuple[list[Person], list[tuple[int, str, str]], int, int], serve_running: bool
) -> None:
    people, touches, erased, recorded_first = crowd
    config = private_config()
    ids = [f"t{n}-p{person}" for n, (person, _, _) in enumerate(touches)]
    bodies = [
        (channel, envelope(ids[n], people[p], channel, text)) for n, (p, channel, text) in enumerate(touches)
    ]
    with fresh_store() as store_url:
        app = EventChain.from_url(store_url, kek=KEK)
        first = [(channel, body, ids[n]) for n, (channel, body) in enumerate(bodies[:recorded_first])]
        publish_raw(nats_server, config, first)
        with running_worker(app, nats_server, config):
            assert wait_until(lambda: len(recorded_touchpoint_ids(app)) == recorded_first, 30)
        rest = [(channel, body, ids[n]) for n, (channel, body) in enumerate(bodies) if n >= recorded_first]
        publish_raw(nats_server, config, rest)  # waiting: ingest is behind (stopped, or lagging)
        if serve_running and rest:
            with lagging_ingest(store_url, nats_server, config) as release:
                erasure, purge = erased_and_purged(app, nats_server, config, people[erased].phone)
                release()
        else:
            erasure, purge = erased_and_purged(app, nats_server, config, people[erased].phone)
            with running_worker(app, nats_server, config):
                assert wait_until(lambda: consumed_all(nats_server, config), 30)
        finish_deferred(app, nats_server)

        theirs = [ids[n] for n, (p, _, _) in enumerate(touches) if p == erased]
        others = [i for i in ids if i not in theirs]
        assert Counter(recorded_touchpoint_ids(app)) == Counter(ids)  # every touchpoint once
        assert sorted(stream_ids(nats_server, config)) == sorted(others)  # their raw copies remain
        assert {m.touchpoint_id for m in purge.deleted} == {
            i for i in theirs if ids.index(i) < recorded_first
        }
        assert {m.touchpoint_id for m in purge.deferred} == {
            i for i in theirs if ids.index(i) >= recorded_first
        }
        assert_unreadable(store_url, erasure, [i for i in theirs if ids.index(i) < recorded_first])
        for n, (p, _, _) in enumerate(touches):
            if p != erased:
                owner = app.find_customer(f"phone:{people[p].phone}")
                assert ids[n] in owner.touchpoints and owner.profile_value("name") == people[p].name
        app.close()
