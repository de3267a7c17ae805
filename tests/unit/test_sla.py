"""The pure first-response SLA: deadlines and escalation steps in event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sla import SlaBook, due_steps

LEAD_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHAIN = ("manager", "director", "exec")


def test_nothing_is_due_before_the_deadline() -> None:
    assert due_steps(LEAD_AT, None, 30, CHAIN, LEAD_AT + timedelta(minutes=29)) == []


def test_each_missed_period_escalates_one_more_step_up_the_chain() -> None:
    at_deadline = due_steps(LEAD_AT, None, 30, CHAIN, LEAD_AT + timedelta(minutes=30))
    assert [(d.step, d.role) for d in at_deadline] == [(1, "manager")]
    later = due_steps(LEAD_AT, None, 30, CHAIN, LEAD_AT + timedelta(minutes=61))
    assert [(d.step, d.role) for d in later] == [(1, "manager"), (2, "director")]
    assert {d.deadline_at for d in later} == {LEAD_AT + timedelta(minutes=30)}


def test_a_response_in_time_cancels_every_step() -> None:
    answered = LEAD_AT + timedelta(minutes=30)
    assert due_steps(LEAD_AT, answered, 30, CHAIN, LEAD_AT + timedelta(days=3)) == []


def test_a_late_response_stops_the_chain_at_the_steps_already_due() -> None:
    answered = LEAD_AT + timedelta(minutes=45)
    due = due_steps(LEAD_AT, answered, 30, CHAIN, LEAD_AT + timedelta(days=3))
    assert [d.step for d in due] == [1]


def test_steps_already_recorded_are_never_due_again() -> None:
    now = LEAD_AT + timedelta(days=1)
    assert [d.step for d in due_steps(LEAD_AT, None, 30, CHAIN, now, already={1, 2})] == [3]
    assert due_steps(LEAD_AT, None, 30, CHAIN, now, already={1, 2, 3}) == []


@settings(max_examples=60)
@given(
    minutes=st.integers(min_value=1, max_value=600),
    answer_after=st.none() | st.integers(min_value=0, max_value=3000),
    first_look=st.integers(min_value=0, max_value=3000),
    second_look=st.integers(min_value=0, max_value=3000),
)
def test_watching_twice_never_repeats_a_step_and_answers_in_time_never_escalate(
    minutes: int, answer_after: int | None, first_look: int, second_look: int
) -> None:
    answered = None if answer_after is None else LEAD_AT + timedelta(minutes=answer_after)
    first_now = LEAD_AT + timedelta(minutes=first_look)
    second_now = first_now + timedelta(minutes=second_look)
    first = due_steps(LEAD_AT, answered, minutes, CHAIN, first_now)
    recorded = {d.step for d in first}
    second = due_steps(LEAD_AT, answered, minutes, CHAIN, second_now, already=recorded)
    assert recorded.isdisjoint(d.step for d in second)
    all_steps = [d.step for d in first + second]
    assert sorted(all_steps) == list(range(1, len(all_steps) + 1))  # one per step, in chain order
    if answer_after is not None and answer_after <= minutes:
        assert all_steps == []
    for due in first + second:
        assert due.due_at <= second_now
        assert answered is None or answered > due.due_at


RULES_DOC = {"sla": {"first_response_minutes": 30, "escalation_chain": list(CHAIN)}}


def booked(answer_after: int | None, vip: bool = False) -> SlaBook:
    book = SlaBook()
    book.feed("RuleSet.RulesRevised", "", {"document": RULES_DOC})
    touch = {"occurred_at": LEAD_AT.isoformat(), "touchpoint_id": "lead", "direction": "inbound"}
    book.feed("Customer.TouchpointRecorded", "c", {**touch, "channel": "web_form"})
    book.feed("Customer.LeadAssigned", "c", {"agent_id": "a-wang", "actor": "router", "rule_version": 1})
    if vip:
        book.feed("Customer.TagsChanged", "c", {"added": ["vip"], "removed": []})
    if answer_after is not None:
        reply_at = (LEAD_AT + timedelta(minutes=answer_after)).isoformat()
        reply = {"occurred_at": reply_at, "touchpoint_id": "reply", "direction": "outbound"}
        book.feed("Customer.TouchpointRecorded", "c", {**reply, "channel": "wecom_msg"})
    return book


def test_the_book_finds_nothing_before_the_deadline_and_the_first_step_at_it() -> None:
    book = booked(None)
    assert book.next_due() == LEAD_AT + timedelta(minutes=30)
    assert book.due(LEAD_AT + timedelta(minutes=29)) == []
    due = book.due(LEAD_AT + timedelta(minutes=30))
    assert [(e.step, e.role, e.escalated_to) for e in due] == [(1, "manager", "pool")]
    assert "fallback owner" in due[0].reason  # nobody on the roster: the rules' fallback, with why


@settings(max_examples=100)
@given(
    answer_after=st.none() | st.integers(min_value=0, max_value=200),
    looks=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=8),
    vip=st.booleans(),
)
def test_the_book_escalates_each_step_once_exactly_as_the_pure_rule_says(
    answer_after: int | None, looks: list[int], vip: bool
) -> None:
    book = booked(answer_after, vip)
    seen: list[int] = []
    for minutes in sorted(looks):
        due = book.due(LEAD_AT + timedelta(minutes=minutes))
        book.mark_escalated("c", [e.step for e in due])
        seen += [e.step for e in due]
    answered = None if answer_after is None else LEAD_AT + timedelta(minutes=answer_after)
    period = 4 if vip else 30
    expected = due_steps(LEAD_AT, answered, period, CHAIN, LEAD_AT + timedelta(minutes=max(looks)))
    assert seen == [d.step for d in expected]  # once each, in chain order, none the rule would not take
