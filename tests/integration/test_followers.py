"""The router and the SLA watcher as running followers on real stores, on an injected clock:
a lone lead escalates on time with nothing else arriving, each step once, and neither a
restart nor a rebuild decides again."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from adapters.log_reader import log_events
from adapters.nats import wait_until
from application.event_chain import EventChain
from application.rep_actions import retract_contact
from application.rules import apply_rules, join
from domain.customer import Customer
from domain.roster import Agent
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from followers.loop import Follower, run_follower
from followers.router import Router
from followers.silence import SilenceTagger
from followers.sla_watcher import SlaWatcher
from replay.rebuild import build_views
from tests.projection_support import T0, envelope

RULES = """
[sla]
first_response_minutes = 15
vip_first_response_minutes = 4
escalation_chain = ["manager", "director"]
[keywords]
vip = ["VIP"]
[routing]
fallback_owner = "m-boss"
[silence]
days = 2
"""
TEAM = [
    Agent("a-one", "一", "t", "杭州", (), "m-boss", date(2020, 1, 1)),
    Agent("m-boss", "经理", "t", "杭州", (), "d-top", date(2019, 1, 1), capacity=0),
    Agent("d-top", "总监", "t", "杭州", (), None, date(2018, 1, 1), capacity=0),
]


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def staffed(url: str, rules: str = RULES) -> EventChain:
    app = EventChain.from_url(url)
    for agent in TEAM:
        join(app, agent, "ops")
    apply_rules(app, rules, "ops", "test rules")
    return app


def douyin(touchpoint_id: str, at: datetime, phone: str, text: str) -> AcceptedTouchpoint:
    return decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": touchpoint_id,
                "channel": "douyin_dm",
                "occurred_at": at.isoformat(),
                "direction": "inbound",
                "identities": [{"kind": "phone", "value": phone}],
                "payload": {"open_id": f"dy-{phone}", "text": text},
            },
            ensure_ascii=False,
        ).encode()
    )


def escalations(app: EventChain) -> list[tuple[str, int, dict[str, Any]]]:
    return [(c, int(f["step"]), f) for _, _, c, f in log_events(app, [Customer.FirstResponseOverdue])]


@contextmanager
def running(*followers: Follower) -> Iterator[None]:
    stop = threading.Event()
    threads = [threading.Thread(target=run_follower, args=(f, stop, 0.05), daemon=True) for f in followers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def eventually(predicate: Callable[[], bool]) -> bool:
    return wait_until(predicate, timeout=15, interval=0.05)


def test_a_lone_unanswered_lead_escalates_on_the_clock_once_per_step(store_url: str, tmp_path: Path) -> None:
    app = staffed(store_url)
    clock = Clock(T0)
    watcher = SlaWatcher(EventChain.from_url(store_url), clock=clock)
    with running(Router(EventChain.from_url(store_url))):
        app.record([envelope("lone", "web_form", T0, "13800000001")])
        lone = str(app.find_customer("phone:13800000001").id)
        assert eventually(lambda: app.find_customer("phone:13800000001").owner_agent_id == "a-one")
    clock.now = T0 + timedelta(minutes=14, seconds=59)
    assert watcher.escalate() == []  # not due yet
    with running(watcher):
        clock.now = T0 + timedelta(minutes=15, seconds=1)  # nothing else arrives: only the clock moves
        assert eventually(lambda: len(escalations(app)) == 1)
        clock.now = T0 + timedelta(minutes=31)
        assert eventually(lambda: len(escalations(app)) == 2)
        clock.now = T0 + timedelta(days=3)
    recorded = escalations(app)
    assert [(c, step) for c, step, _ in recorded] == [(lone, 1), (lone, 2)]
    first, second = recorded[0][2], recorded[1][2]
    assert (first["escalated_to"], first["role"]) == ("m-boss", "manager")
    assert (second["escalated_to"], second["role"]) == ("d-top", "director")
    assert first["observed_at"] == (T0 + timedelta(minutes=15, seconds=1)).isoformat()
    assert first["due_at"] == (T0 + timedelta(minutes=15)).isoformat()

    position = app.max_notification_id()
    restarted = SlaWatcher(EventChain.from_url(store_url), clock=Clock(T0 + timedelta(days=30)))
    assert restarted.escalate() == []  # a restart folds the recorded steps and decides nothing again
    built = build_views(app, tmp_path / "rebuilt.duckdb")
    assert app.max_notification_id() == position  # a rebuild reads the decisions, appends nothing
    with duckdb.connect(str(built.path), read_only=True) as connection:
        rows = connection.execute("SELECT step, escalated_to FROM sla_breaches ORDER BY step").fetchall()
    assert rows == [(1, "m-boss"), (2, "d-top")]


def test_a_vip_lead_escalates_after_four_minutes_and_an_answer_in_time_stops_the_clock(
    store_url: str,
) -> None:
    app = staffed(store_url)
    app.record(
        [
            douyin("vip", T0, "13800000002", "VIP客户，想了解参数"),
            envelope("answered", "web_form", T0, "13800000003"),
            envelope(
                "reply",
                "wecom_msg",
                T0 + timedelta(minutes=10),
                "13800000003",
                direction="outbound",
                actor="a-one",
            ),
        ]
    )
    Router(app).tick()
    watcher = SlaWatcher(EventChain.from_url(store_url), clock=Clock(T0 + timedelta(minutes=3)))
    assert watcher.escalate() == []
    watcher.clock = Clock(T0 + timedelta(minutes=4))
    due = watcher.escalate()
    vip = str(app.find_customer("phone:13800000002").id)
    assert [(e.customer_id, e.step) for e in due] == [(vip, 1)]
    watcher.clock = Clock(T0 + timedelta(days=2))
    later = watcher.escalate()
    assert [(e.customer_id, e.step) for e in later] == [(vip, 2)]  # the answered lead never escalates


def test_a_reply_retracted_as_a_mistake_reopens_the_deadline_and_a_restart_agrees(store_url: str) -> None:
    """A call logged on the wrong customer answered nothing: once it is retracted the lead is
    waiting again, and the steps its deadline passed fall due on the next tick."""
    app = staffed(store_url)
    app.record(
        [
            envelope("lead", "web_form", T0, "13800000004"),
            envelope(
                "mistake",
                "call_400",
                T0 + timedelta(minutes=5),
                "13800000004",
                direction="outbound",
                actor="a-one",
            ),
        ]
    )
    Router(app).tick()
    customer = app.find_customer("phone:13800000004")
    clock = Clock(T0 + timedelta(minutes=20))
    watcher = SlaWatcher(EventChain.from_url(store_url), clock=clock)
    assert watcher.escalate() == []  # answered in 5 minutes, as far as anyone knew
    watcher.checkpoint()  # what a restart reads back: the book that counted the mistake

    retract_contact(app, customer.id, "mistake", "记错了客户", "a-one")
    due = watcher.escalate()
    assert [(e.customer_id, e.step, e.due_at) for e in due] == [
        (str(customer.id), 1, T0 + timedelta(minutes=15))
    ]
    restarted = SlaWatcher(EventChain.from_url(store_url), clock=Clock(T0 + timedelta(minutes=31)))
    assert [(e.customer_id, e.step) for e in restarted.escalate()] == [(str(customer.id), 2)]
    assert [step for _, step, _ in escalations(app)] == [1, 2]


def test_business_hours_pause_the_deadline_over_a_weekend_and_count_a_make_up_saturday(
    store_url: str,
) -> None:
    rules = RULES.replace("[keywords]", 'business_hours = "09:00-18:00"\ncalendar = "cn"\n[keywords]')
    app = staffed(store_url, rules)
    friday_evening = datetime.fromisoformat("2026-03-06T17:50:00+08:00")  # an ordinary weekend follows
    before_holiday = datetime.fromisoformat("2026-02-13T17:55:00+08:00")  # Saturday 02-14 is 调休
    app.record(
        [
            envelope("weekend", "web_form", friday_evening, "13800000004"),
            envelope("make-up", "web_form", before_holiday, "13800000005"),
        ]
    )
    Router(app).tick()
    weekend = str(app.find_customer("phone:13800000004").id)
    make_up = str(app.find_customer("phone:13800000005").id)
    watcher = SlaWatcher(
        EventChain.from_url(store_url), clock=Clock(datetime.fromisoformat("2026-02-14T09:09+08:00"))
    )
    assert watcher.escalate() == []
    watcher.clock = Clock(datetime.fromisoformat("2026-02-14T09:10+08:00"))  # 5 + 10 working minutes
    assert [(e.customer_id, e.step) for e in watcher.escalate()] == [(make_up, 1)]
    watcher.clock = Clock(datetime.fromisoformat("2026-03-08T23:00+08:00"))  # Sunday night: paused
    assert all(e.customer_id != weekend for e in watcher.escalate())
    watcher.clock = Clock(datetime.fromisoformat("2026-03-09T09:05+08:00"))  # Monday 09:05
    due = [e for e in watcher.escalate() if e.customer_id == weekend]
    assert [(e.step, e.deadline_at) for e in due] == [(1, datetime.fromisoformat("2026-03-09T09:05+08:00"))]


def test_the_silence_tagger_tags_on_the_clock_and_the_view_reads_the_tag(tmp_path: Path) -> None:
    from tests.projection_support import project

    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = staffed(url)
    app.record([envelope("quiet", "web_form", T0, "13800000006")])
    tagger = SilenceTagger(EventChain.from_url(url), clock=Clock(T0 + timedelta(days=1)))
    assert tagger.apply() == (0, 0)
    tagger.clock = Clock(T0 + timedelta(days=2))  # [silence] days = 2, nothing else arrived
    assert tagger.apply() == (1, 0)
    views = project(app, tmp_path / "views.duckdb")
    silent = views.connection.execute("SELECT count(*) FROM silent_customers").fetchone()
    views.close()
    assert silent == (1,)
    app.record([envelope("back", "wecom_msg", T0 + timedelta(days=2, hours=1), "13800000006")])
    tagger.clock = Clock(T0 + timedelta(days=2, hours=2))
    assert tagger.apply() == (0, 1)
    assert tagger.apply() == (0, 0)
