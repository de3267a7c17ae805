"""The follow-up follower on a real store and the service's clock: seed 004's plan comes due,
is met by what the rep does, pauses and resumes, escalates once; restarts and a second
follower add nothing twice; the views read the decisions."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.log_reader import log_events
from adapters.nats import wait_until
from application.event_chain import EventChain
from application.rules import apply_rules
from domain.customer import FOLLOW_UP_EVENTS, Customer
from domain.follow_ups import decision_from_event
from domain.plan_rules import FollowUpDecision
from domain.rules import parse_rules
from domain.touchpoints import accept
from followers.follow_ups import FollowUpFollower, check_follow_ups
from followers.router import route_pending
from replay.rebuild import build_views
from replay.what_if import what_if
from tests.integration.test_follower_conflicts import raced
from tests.integration.test_followers import RULES, Clock, eventually, running, staffed
from tests.integration.test_notifications import messages, notifying, private_names
from tests.projection_support import T0, contents, envelope, project
from tests.strategies import follow_up_decisions, touchpoint_histories
from tests.unit.test_follow_ups import EXAMPLE

PHONE = "13800000077"
# Seed 004's story, as the follower records it: the manual sent late, the demo invite never.
SEED_STORY = [
    ("started", ""),
    ("due", "manual"),
    ("met", "manual"),
    ("due", "demo_invite"),
    ("paused", ""),
    ("resumed", ""),
    ("escalated", "demo_invite"),
]
PLAN = EXAMPLE[EXAMPLE.index("[plans.first_contact]") :]


def decisions(app: EventChain) -> list[tuple[str, str, dict[str, Any]]]:
    kinds = {cls.__qualname__: kind for kind, cls in FOLLOW_UP_EVENTS.items()}
    return [(kinds[k], f["step"], f) for _, k, _, f in log_events(app, FOLLOW_UP_EVENTS.values())]


def out(touchpoint_id: str, channel: str, minutes: float) -> Any:
    return envelope(
        touchpoint_id, channel, T0 + timedelta(minutes=minutes), PHONE, direction="outbound", actor="a-one"
    )


def test_seed_004s_plan_runs_on_the_clock_once_across_restarts(store_url: str, tmp_path: Path) -> None:
    app = staffed(store_url, RULES + PLAN)
    app.record([envelope("lead", "wecom_msg", T0, PHONE)])
    route_pending(app)
    app.record([out("answer", "wecom_msg", 5)])  # the first response starts the plan
    started = T0 + timedelta(minutes=5)
    clock = Clock(started + timedelta(minutes=1))
    follower = FollowUpFollower(EventChain.from_url(store_url), clock=clock)
    with running(follower, FollowUpFollower(EventChain.from_url(store_url), clock=clock)):
        assert eventually(lambda: ["started"] == [k for k, _, _ in decisions(app)])
        clock.now = started + timedelta(hours=24, seconds=1)  # only the clock moves
        assert eventually(lambda: ("due", "manual") in [(k, s) for k, s, _ in decisions(app)])
        clock.now = T0 + timedelta(minutes=5 + 25 * 60 + 1)
        app.record([out("manual", "douyin_dm", 5 + 25 * 60)])  # the manual goes out by DM, late
        assert eventually(lambda: ("met", "manual") in [(k, s) for k, s, _ in decisions(app)])
        clock.now = T0 + timedelta(minutes=5 + 25 * 60 + 48 * 60 + 1)  # the demo: 48 h after the DM
        assert eventually(lambda: ("due", "demo_invite") in [(k, s) for k, s, _ in decisions(app)])
        customer = app.find_customer(f"phone:{PHONE}")
        customer.change_tags(["静默-3个月"], [], clock.now, "客户暂不考虑", app.clock())
        app.save(customer)
        assert eventually(lambda: "paused" in [k for k, _, _ in decisions(app)])
        clock.now += timedelta(days=10)  # paused: nothing escalates
        app.record([envelope("back", "wecom_msg", clock.now, PHONE)])
        assert eventually(lambda: "resumed" in [k for k, _, _ in decisions(app)])
        clock.now += timedelta(days=3)  # the demo, still unmet, escalates once
        assert eventually(lambda: "escalated" in [k for k, _, _ in decisions(app)])
    recorded = decisions(app)
    assert SEED_STORY == [(k, s) for k, s, _ in recorded]
    due, met, escalated = recorded[1][2], recorded[2][2], recorded[6][2]
    assert (due["agent_id"], due["action"]) == ("a-one", "发送产品手册")
    assert (due["at"], met["evidence"]) == ((started + timedelta(hours=24)).isoformat(), "manual")
    assert escalated["agent_id"] == "m-boss"

    position = app.max_notification_id()
    restarted = FollowUpFollower(EventChain.from_url(store_url), clock=Clock(clock.now + timedelta(days=60)))
    assert [] == restarted.decide()  # a restart folds the decisions and decides nothing again
    built = build_views(app, tmp_path / "rebuilt.duckdb")
    assert app.max_notification_id() == position
    with duckdb.connect(str(built.path), read_only=True) as connection:
        rows = connection.execute("SELECT step, status, evidence FROM follow_ups ORDER BY due_at").fetchall()
        rate = connection.execute(
            "SELECT agent_id, plan, steps, met_on_time FROM follow_up_execution"
        ).fetchall()
    assert [("manual", "met_late", "manual"), ("demo_invite", "overdue", None)] == rows
    assert [("a-one", "first_contact", 2, 0)] == rate


def test_a_revision_leaves_started_plans_on_their_version(store_url: str) -> None:
    app = staffed(store_url, RULES + PLAN)
    app.record([envelope("lead", "wecom_msg", T0, PHONE)])
    route_pending(app)
    app.record([out("answer", "wecom_msg", 5)])
    clock = Clock(T0 + timedelta(minutes=6))
    follower = FollowUpFollower(app, clock=clock)
    follower.decide()
    apply_rules(app, RULES + PLAN.replace("due_hours = 24", "due_hours = 1"), "ops", "faster manual")
    clock.now = T0 + timedelta(hours=3)
    assert [] == follower.decide()  # still 24 h: the plan started under version 1
    assert [("started", 1)] == [(k, int(f["rule_version"])) for k, _, f in decisions(app)]


@settings(max_examples=25, deadline=None)
@given(st.lists(follow_up_decisions(), min_size=1, max_size=6))
def test_every_follow_up_decision_survives_the_store_and_is_recorded_once(
    recorded: list[FollowUpDecision],
) -> None:
    with tempfile.TemporaryDirectory(
        dir="/tmp/wt30-pt" if Path("/tmp/wt30-pt").is_dir() else None
    ) as scratch:
        app = EventChain.from_url(f"sqlite:///{scratch}/events.db")
        app.record([envelope("lead", "wecom_msg", T0, PHONE)])
        customer = app.find_customer(f"phone:{PHONE}")
        decided = [replace(d, customer_id=str(customer.id)) for d in recorded]
        kept = [d for d in decided if customer.record_follow_up(d, app.clock())]
        assert not any(customer.record_follow_up(d, app.clock()) for d in decided)  # once
        app.save(customer)
        assert {d.key for d in decided} == app.get_customer(customer.id).follow_ups
        events = log_events(app, FOLLOW_UP_EVENTS.values())
        assert kept == [decision_from_event(k.rpartition(".")[2], str(o), f) for _, k, o, f in events]


@pytest.mark.nats
def test_a_step_come_due_is_notified_to_the_rep_once_and_its_escalation_to_the_manager(
    nats_server: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = staffed(url, RULES + PLAN)
    app.record([envelope("lead", "wecom_msg", T0, PHONE)])
    route_pending(app)
    app.record([out("answer", "wecom_msg", 5)])
    check_follow_ups(app, T0 + timedelta(minutes=6))
    check_follow_ups(app, T0 + timedelta(hours=49))  # due, then unmet past the grace
    names = private_names()
    with notifying(app, nats_server, names) as notifier:
        assert wait_until(lambda: notifier.stats.published == 3, timeout=15)  # assigned, due, escalated
    with notifying(EventChain.from_url(url), nats_server, names) as again:  # a restart sends none again
        assert wait_until(lambda: again.stats.position >= app.max_notification_id(), timeout=15)
    found = [(subject, body) for subject, _, body in messages(nats_server, names)]
    assert [f"{names.prefix}.follow_up.a-one", f"{names.prefix}.follow_up_escalated.m-boss"] == [
        subject for subject, _ in found[1:]
    ]
    due = found[1][1]
    assert (due["plan"], due["step"], due["action"]) == ("first_contact", "manual", "发送产品手册")
    assert due["due_at"] == (T0 + timedelta(minutes=5, hours=24)).isoformat()
    assert 3 == len(found)


def test_what_if_under_the_rules_in_force_predicts_exactly_what_happened_and_a_draft_differs(
    tmp_path: Path,
) -> None:
    app = staffed(f"sqlite:///{tmp_path / 'events.db'}", RULES + PLAN)
    for number in range(4):  # four leads, answered; the manual goes out for two of them
        phone = f"1390000000{number}"
        lead_at = T0 + timedelta(hours=number)
        app.record([envelope(f"lead{number}", "wecom_msg", lead_at, phone)])
        route_pending(app)
        answered_at = lead_at + timedelta(minutes=5)
        app.record(
            [envelope(f"answer{number}", "wecom_msg", answered_at, phone, direction="outbound", actor="a")]
        )
        check_follow_ups(app, lead_at + timedelta(minutes=6))
        if number % 2:
            sent = lead_at + timedelta(hours=2 + 20 * number)  # 22 h: in time; 62 h: late
            check_follow_ups(app, sent - timedelta(minutes=1))
            app.record(
                [envelope(f"manual{number}", "douyin_dm", sent, phone, direction="outbound", actor="a")]
            )
    now = T0 + timedelta(days=5)
    for tick in range(7, 5 * 24, 7):  # the follower ticked now and then
        check_follow_ups(app, max(T0 + timedelta(hours=tick), sent))
    check_follow_ups(app, now)
    rules = parse_rules(RULES + PLAN)
    same = what_if(app, rules, now=now).plans
    assert [] == same.changed
    assert (same.due_actual, same.met_in_time_actual) == (same.due_predicted, same.met_in_time_predicted)
    assert same.met_in_time_actual == 1  # the manual sent after 22 h; the one after 62 h was late
    draft = what_if(app, parse_rules(RULES + PLAN.replace("due_hours = 24", "due_hours = 12")), now=now).plans
    assert draft.changed and draft.met_in_time_predicted < same.met_in_time_actual


def answered_lead(app: EventChain) -> str:
    app.record([envelope("lead", "wecom_msg", T0, PHONE)])
    route_pending(app)
    app.record([out("answer", "wecom_msg", 5)])
    return str(app.find_customer(f"phone:{PHONE}").id)


def test_the_follower_resumes_from_its_checkpoint_and_decides_nothing_twice(store_url: str) -> None:
    app = staffed(store_url, RULES + PLAN)
    answered_lead(app)
    clock = Clock(T0 + timedelta(minutes=6))
    follower = FollowUpFollower(EventChain.from_url(store_url), clock=clock)
    assert ["started"] == [d.kind for d in follower.decide()]
    follower.tick()  # reads its own decision back
    follower.checkpoint()
    clock.now = T0 + timedelta(hours=25)
    restarted = FollowUpFollower(EventChain.from_url(store_url), clock=clock)
    assert restarted.resumed.note == "checkpoint"
    assert [("due", "manual")] == [(d.kind, d.step) for d in restarted.decide()]
    assert [("started", ""), ("due", "manual")] == [(k, s) for k, s, _ in decisions(app)]


def test_a_step_raced_by_another_writer_is_decided_again_and_recorded_once(store_url: str) -> None:
    app = staffed(store_url, RULES + PLAN)
    answered_lead(app)
    check_follow_ups(app, T0 + timedelta(minutes=6))
    sent = T0 + timedelta(hours=2)
    # between the follower's load and its save, the rep's manual goes out (another writer)
    racing = raced(store_url, touch_at(store_url, "manual", sent))
    follower = FollowUpFollower(racing, clock=Clock(T0 + timedelta(hours=25)))
    recorded = follower.decide()
    assert [("met", "manual")] == [(d.kind, d.step) for d in recorded]  # decided with the DM, not "due"
    assert [] == FollowUpFollower(app, clock=Clock(T0 + timedelta(hours=26))).decide()
    assert [("started", ""), ("met", "manual")] == [(k, s) for k, s, _ in decisions(app)]


def touch_at(url: str, touchpoint_id: str, at: Any) -> Callable[[UUID], None]:
    def write(_: UUID) -> None:
        EventChain.from_url(url).record(
            [envelope(touchpoint_id, "douyin_dm", at, PHONE, direction="outbound", actor="a-one")]
        )

    return write


@settings(max_examples=6, deadline=None)
@given(touchpoint_histories(max_size=15), st.integers(2, 9), st.lists(st.integers(0, 400), max_size=3))
def test_the_follow_up_views_read_every_recorded_decision_in_any_batching(
    history: list[Any], batch_size: int, days: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = staffed(f"sqlite:///{directory}/events.db", RULES + PLAN)
        app.record([accept(t) for t in history])
        route_pending(app)
        latest = max(t.occurred_at for t in history)
        for day in sorted(days):  # the follower looked now and then, and once at the end
            check_follow_ups(app, latest - timedelta(days=200) + timedelta(days=day))
        check_follow_ups(app, latest + timedelta(days=30))
        whole = project(app, Path(directory) / "whole.duckdb")
        batched = project(app, Path(directory) / "batched.duckdb", batch_size=batch_size)
        for relation in ("follow_ups", "follow_up_execution"):
            assert contents(whole.connection, relation) == contents(batched.connection, relation)
        rows = whole.connection.execute("SELECT CAST(customer_id AS VARCHAR), plan, step FROM follow_ups")
        recorded = [(c, f) for _, _, c, f in log_events(app, [Customer.StepCameDue, Customer.StepMet])]
        live = {c for c, _ in recorded if app.get_customer(UUID(c), follow_merges=False).merged_into is None}
        expected = {(c, f["plan"], f["step"]) for c, f in recorded if c in live}
        assert expected == set(rows.fetchall())  # one row per step decided, of live customers
