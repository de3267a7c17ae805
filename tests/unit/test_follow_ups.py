"""Follow-up plans (seed 004), pure: plans in the rules, and the book's decisions at "now"."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.follow_up_book import FollowUpBook
from domain.follow_ups import action_kind
from domain.plan_rules import ACTION_KINDS, FollowUpDecision
from domain.roster import Agent
from domain.rules import RulesError, as_dict, parse_rules

CST = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=CST)  # a Monday
EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "rules.toml").read_text()
REP, MANAGER = "a-li", "m-wang"
C = "c-1"
Event = tuple[str, str, dict[str, Any]]


def rules(text: str = EXAMPLE) -> Event:
    return ("RuleSet.RulesRevised", "rules", {"document": as_dict(parse_rules(text))})


def team() -> list[Event]:
    rep = Agent(REP, "李", "t", manager=MANAGER, hired_on=date(2020, 1, 1))
    manager = Agent(MANAGER, "王经理", "t", hired_on=date(2019, 1, 1))
    return [("Roster.AgentJoined", "roster", {"agent": a.as_dict()}) for a in (rep, manager)]


def touch(tid: str, at: datetime, direction: str = "inbound", channel: str = "wecom_msg") -> Event:
    fields = {"touchpoint_id": tid, "occurred_at": at, "direction": direction, "channel": channel}
    return ("Customer.TouchpointRecorded", C, fields)


def owned() -> Event:
    return ("Customer.LeadAssigned", C, {"agent_id": REP, "actor": "router", "rule_version": 1})


def tagged(tag: str, at: datetime) -> Event:
    return ("Customer.TagsChanged", C, {"added": [tag], "removed": [], "changed_at": at})


def book_of(events: list[Event]) -> FollowUpBook:
    book = FollowUpBook()
    for kind, originator, fields in events:
        book.feed(kind, originator, fields)
    return book


def decided(book: FollowUpBook, now: datetime) -> list[tuple[str, str, datetime]]:
    found = book.due(now)
    book.mark_recorded(found)
    return [(d.kind, d.step, d.at) for d in found]


ANSWERED = [
    rules(),
    *team(),
    owned(),
    touch("in-1", T0),
    touch("out-1", T0 + timedelta(minutes=5), "outbound"),
]
START = T0 + timedelta(minutes=5)


def test_seed_004s_plan_is_in_the_example_rules() -> None:
    plan = parse_rules(EXAMPLE).plans["first_contact"]
    assert ["发送产品手册", "发起视频演示邀约", "推送定制化ROI测算表"] == [s.action for s in plan.steps]
    assert plan.start.on == "first_response" and "静默-3个月" in plan.pause_tags


def test_the_manual_comes_due_24_hours_after_the_first_response_once() -> None:
    book = book_of(ANSWERED)
    assert [("started", "", START)] == decided(book, START + timedelta(hours=1))
    assert [] == decided(book, START + timedelta(hours=23))
    assert [("due", "manual", START + timedelta(hours=24))] == decided(book, START + timedelta(hours=25))
    assert [] == decided(book, START + timedelta(hours=26))


def test_a_dm_meets_the_manual_and_the_demo_comes_due_relative_to_it() -> None:
    book = book_of(ANSWERED)
    decided(book, START + timedelta(hours=1))
    dm_at = START + timedelta(hours=30)
    book.feed(*touch("out-2", dm_at, "outbound", "douyin_dm"))
    now = dm_at + timedelta(minutes=1)
    assert [("due", "manual", START + timedelta(hours=24)), ("met", "manual", dm_at)] == decided(book, now)
    assert [] == decided(book, dm_at + timedelta(hours=47))
    assert [("due", "demo_invite", dm_at + timedelta(hours=48))] == decided(book, dm_at + timedelta(hours=49))


def test_one_message_never_meets_two_steps_and_the_trigger_meets_none() -> None:
    book = book_of([*ANSWERED, touch("out-2", START + timedelta(hours=1), "outbound")])
    found = book.due(START + timedelta(hours=2))
    assert [("started", "", "out-1"), ("met", "manual", "out-2")] == [
        (d.kind, d.step, d.evidence) for d in found
    ]


def test_a_retracted_message_meets_nothing() -> None:
    book = book_of([*ANSWERED, touch("out-2", START + timedelta(hours=1), "outbound")])
    book.feed("Customer.TouchpointRetracted", C, {"touchpoint_id": "out-2"})
    found = book.due(START + timedelta(hours=25))
    assert [("started", ""), ("due", "manual")] == [(d.kind, d.step) for d in found]


def test_an_unmet_step_escalates_to_the_reps_manager_once_after_the_grace() -> None:
    book = book_of(ANSWERED)
    decided(book, START + timedelta(hours=25))
    escalated = book.due(START + timedelta(hours=48, minutes=1))
    assert [("escalated", "manual", MANAGER)] == [(d.kind, d.step, d.agent_id) for d in escalated]
    book.mark_recorded(escalated)
    assert [] == decided(book, START + timedelta(days=30))  # the demo waits for the manual


def test_a_quiet_tag_pauses_the_plan_and_an_inbound_touch_resumes_it_later() -> None:
    book = book_of(ANSWERED)
    decided(book, START + timedelta(hours=1))
    paused_at = START + timedelta(hours=10)
    book.feed(*tagged("静默-3个月", paused_at))
    assert [("paused", "", paused_at)] == decided(book, paused_at + timedelta(minutes=1))
    assert [] == decided(book, START + timedelta(days=20))  # nothing comes due while paused
    resumed_at = START + timedelta(days=20)
    book.feed(*touch("in-2", resumed_at))
    assert [("resumed", "", resumed_at)] == decided(book, resumed_at + timedelta(minutes=1))
    # 10 of the manual's 24 hours were spent before the pause: due 14 hours after the resume
    due_at = resumed_at + timedelta(hours=14)
    assert [] == decided(book, due_at - timedelta(minutes=1))
    assert [("due", "manual", due_at)] == decided(book, due_at)


def test_business_hours_time_a_step_on_the_slas_calendar() -> None:
    text = EXAMPLE.replace(
        'due_hours = 24\ndue_from = "start"', 'due_hours = 4\ndue_from = "start"\nclock = "business"'
    )
    text = text.replace("[sla]\n", '[sla]\nbusiness_hours = "09:00-18:00"\ncalendar = "weekdays"\n', 1)
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=CST)
    book = book_of([rules(text), *team(), owned(), touch("in-1", friday), touch("out-1", friday, "outbound")])
    decided(book, friday)
    monday_due = datetime(2026, 3, 9, 11, 0, tzinfo=CST)  # 2 h on Friday, 2 h on Monday
    assert [] == decided(book, monday_due - timedelta(minutes=1))
    assert [("due", "manual", monday_due)] == decided(book, monday_due)


def test_a_step_may_come_due_after_the_reps_first_email_like_outbound() -> None:
    text = EXAMPLE.replace(
        'due_hours = 96\ndue_from = "previous"',
        'due_hours = 72\ndue_from = "outbound"\ndue_from_channels = ["call_400"]',
    )
    call_at = START + timedelta(hours=2)
    events = [rules(text), *team(), owned(), *ANSWERED[3:], touch("call-1", call_at, "outbound", "call_400")]
    due = [
        (d.kind, d.step, d.at) for d in book_of(events).due(call_at + timedelta(hours=73)) if d.kind == "due"
    ]
    assert ("due", "roi_sheet", call_at + timedelta(hours=72)) in due


def test_a_revision_applies_to_plans_that_start_after_it() -> None:
    book = book_of(ANSWERED)
    decided(book, START + timedelta(hours=1))  # started under version 1
    book.feed(*rules(EXAMPLE.replace("due_hours = 24", "due_hours = 2")))
    assert [] == decided(book, START + timedelta(hours=3))  # still 24 h under version 1
    other = [
        ("Customer.TouchpointRecorded", "c-2", dict(touch("x", T0)[2], touchpoint_id=t)) for t in ("i2",)
    ]
    book.feed(*other[0])
    reply = dict(touch("o2", START, "outbound")[2])
    book.feed("Customer.TouchpointRecorded", "c-2", reply)
    found = book.due(START + timedelta(hours=3))
    assert {("c-2", "started", 2), ("c-2", "due", 2)} == {
        (d.customer_id, d.kind, d.rule_version) for d in found
    }


def test_action_kinds_are_read_from_workspace_touchpoint_ids() -> None:
    from application.rep_actions import LOGGABLE

    assert set(LOGGABLE) == set(ACTION_KINDS)  # what a plan may name is what a rep can log
    assert "wecom" == action_kind("web-wecom-0a1b2c3d")
    assert action_kind("wf-2026-1") is None


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (("due_hours = 24", "due_hours = 0"), "$.plans.first_contact.steps[0].due_hours"),
        (('due_from = "start"', 'due_from = "previous"'), "$.plans.first_contact.steps[0].due_from"),
        (
            ('action = "发送产品手册"', 'action = "发送产品手册"\nsurprise = 1'),
            "$.plans.first_contact.steps[0]",
        ),
        (('pause_stages = ["lost"]', 'pause_stages = ["gone"]'), "$.plans.first_contact.pause_stages[0]"),
        (
            ('met_by_actions = ["wecom", "douyin", "email"]', 'met_by_actions = ["fax"]'),
            "$.plans.first_contact.steps[2].met_by_actions[0]",
        ),
        (
            ('start = { on = "first_response" }', 'start = { on = "stage" }'),
            "$.plans.first_contact.start.stage",
        ),
        (
            ('met_by_channels = ["wecom_msg", "douyin_dm", "email"]', 'met_by_channels = ["fax"]'),
            "$.plans.first_contact.steps[2].met_by_channels[0]",
        ),
    ],
)
def test_an_invalid_plan_is_rejected_with_its_key_path(edit: tuple[str, str], path: str) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules(EXAMPLE.replace(*edit))
    assert path == raised.value.path


# --- properties ---------------------------------------------------------------------------

MINUTES = st.integers(0, 14 * 24 * 60)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """A customer's touchpoints, tags and stage moves over two weeks, after a lead at T0."""
    events = [owned(), touch("in-0", T0)]
    for number in range(draw(st.integers(0, 12))):
        at = T0 + timedelta(minutes=draw(MINUTES))
        what = draw(st.sampled_from(["in", "out", "out", "quiet", "lost", "action"]))
        if what == "in":
            events.append(touch(f"in-{number + 1}", at))
        elif what == "out":
            events.append(
                touch(f"out-{number}", at, "outbound", draw(st.sampled_from(["wecom_msg", "web_form"])))
            )
        elif what == "action":
            events.append(touch(f"web-call-{number}", at, "outbound", "call_400"))
        elif what == "quiet":
            events.append(tagged("静默-3个月", at))
        else:
            events.append(("Customer.StageChanged", C, {"stage": "lost", "changed_at": at}))
    return events


def run(events: list[Event], ticks: list[datetime]) -> list[FollowUpDecision]:
    book = book_of([rules(), *team(), *events])
    recorded: list[FollowUpDecision] = []
    for now in ticks:
        found = book.due(now)
        book.mark_recorded(found)
        recorded += found
    return recorded


def outcome(decisions: list[FollowUpDecision]) -> set[tuple[Any, ...]]:
    return {
        (d.kind, d.plan, d.step, d.at, d.evidence, d.agent_id, d.due_at, d.rule_version) for d in decisions
    }


@settings(max_examples=150, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_the_arrival_order_of_the_same_facts_does_not_change_the_outcome(
    events: list[Event], shuffler: random.Random
) -> None:
    now = T0 + timedelta(days=20)
    shuffled = list(events)
    shuffler.shuffle(shuffled)
    assert outcome(run(events, [now])) == outcome(run(shuffled, [now]))


@settings(max_examples=150, deadline=None)
@given(histories(), st.lists(MINUTES, max_size=6))
def test_replaying_the_recorded_decisions_decides_nothing_again(
    events: list[Event], ticks: list[int]
) -> None:
    instants = [*sorted(T0 + timedelta(minutes=m) for m in ticks), T0 + timedelta(days=20)]
    recorded = run(events, instants)
    replayed = book_of([rules(), *team(), *events, *(decision_event(d) for d in recorded)])
    assert [] == replayed.due(instants[-1])  # a restart folding the log adds nothing twice
    keys = [d.key for d in recorded]
    assert len(keys) == len(set(keys))  # each decision once, however the ticks fell


def decision_event(decision: FollowUpDecision) -> Event:
    from domain.customer import FOLLOW_UP_EVENTS

    fields = {
        "plan": decision.plan,
        "step": decision.step,
        "rule_version": decision.rule_version,
        "at": decision.at.isoformat(),
        "observed_at": decision.observed_at.isoformat(),
        "evidence": decision.evidence,
        "agent_id": decision.agent_id,
        "action": decision.action,
        "due_at": None if decision.due_at is None else decision.due_at.isoformat(),
    }
    return (f"Customer.{FOLLOW_UP_EVENTS[decision.kind].__name__}", decision.customer_id, fields)


@settings(max_examples=150, deadline=None)
@given(histories(), st.lists(MINUTES, max_size=6))
def test_how_often_the_follower_ticks_does_not_change_what_it_records(
    events: list[Event], ticks: list[int]
) -> None:
    end = T0 + timedelta(days=20)
    instants = [*sorted(T0 + timedelta(minutes=m) for m in ticks), end]
    assert outcome(run(events, [end])) == outcome(run(events, instants))


@settings(max_examples=100, deadline=None)
@given(histories(), st.integers(1, 20 * 24 * 60), st.sampled_from([1, 12, 72]))
def test_a_revision_never_moves_the_steps_of_plans_started_before_it(
    events: list[Event], revised_minutes: int, hours: int
) -> None:
    end, revised_at = T0 + timedelta(days=20), T0 + timedelta(minutes=revised_minutes)
    book = book_of([rules(), *team(), *events])
    before = book.due(revised_at)
    book.mark_recorded(before)
    book.feed(*rules(EXAMPLE.replace("due_hours = 24", f"due_hours = {hours}")))
    after = book.due(end)
    started = {d.plan for d in before if d.kind == "started"}
    unrevised = book_of([rules(), *team(), *events])
    unrevised.mark_recorded(unrevised.due(revised_at))
    expected = [d for d in unrevised.due(end) if d.plan in started]
    assert outcome(expected) == outcome([d for d in after if d.plan in started])
    assert all(d.rule_version == (1 if d.plan in started else 2) for d in after)
