"""The pure first-response SLA: deadlines and escalation steps in event time."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

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


ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]


@settings(max_examples=80)
@given(
    customers=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=120),  # lead, minutes after LEAD_AT
            st.none() | st.integers(min_value=0, max_value=200),  # reply, minutes after the lead
            st.sampled_from(range(len(ZONES))),  # the offset the channel wrote its time in
            st.integers(min_value=0, max_value=999_999),  # microseconds
            st.booleans(),  # the reply is retracted as a mistake
        ),
        min_size=1,
        max_size=6,
    ),
    looks=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=6),
    checkpoint_after=st.integers(min_value=0, max_value=12),
)
def test_a_book_read_back_from_its_checkpoint_decides_exactly_as_the_one_that_was_never_saved(
    customers: list[tuple[int, int | None, int, int, bool]], looks: list[int], checkpoint_after: int
) -> None:
    """The watcher's checkpoint packs every clock into ints and strings; a restart that reads
    it back must escalate the same leads at the same instants, step for step."""
    events: list[tuple[str, str, dict[str, object]]] = [("RuleSet.RulesRevised", "", {"document": RULES_DOC})]
    for n, (lead_after, reply_after, zone, micros, retract) in enumerate(customers):
        lead_at = (LEAD_AT + timedelta(minutes=lead_after, microseconds=micros)).astimezone(ZONES[zone])
        touch = {"occurred_at": lead_at.isoformat(), "touchpoint_id": f"lead-{n}", "direction": "inbound"}
        events.append(("Customer.TouchpointRecorded", f"c{n}", {**touch, "channel": "web_form"}))
        assigned = {"agent_id": "a-wang", "actor": "router", "rule_version": 1}
        events.append(("Customer.LeadAssigned", f"c{n}", assigned))
        if reply_after is not None:
            reply_at = (lead_at + timedelta(minutes=reply_after)).astimezone(ZONES[(zone + 1) % len(ZONES)])
            reply = {"occurred_at": reply_at.isoformat(), "touchpoint_id": f"reply-{n}"}
            events.append(
                (
                    "Customer.TouchpointRecorded",
                    f"c{n}",
                    {**reply, "direction": "outbound", "channel": "wecom_msg"},
                )
            )
            if retract:
                events.append(("Customer.TouchpointRetracted", f"c{n}", {"touchpoint_id": f"reply-{n}"}))
    plain, restarted = SlaBook(), SlaBook()
    steps: list[tuple[str, object]] = [("feed", e) for e in events] + [("look", m) for m in sorted(looks)]
    for index, (what, arg) in enumerate(steps):
        if index == checkpoint_after:
            restarted = pickle.loads(pickle.dumps(restarted, protocol=pickle.HIGHEST_PROTOCOL))
        for book in (plain, restarted):
            if what == "feed":
                book.feed(*arg)  # type: ignore[misc]
        if what == "look":
            now = LEAD_AT + timedelta(minutes=arg)  # type: ignore[operator]
            assert plain.next_due() == restarted.next_due()
            due_plain, due_restarted = plain.due(now), restarted.due(now)
            assert due_plain == due_restarted
            for book, due in ((plain, due_plain), (restarted, due_restarted)):
                for customer_id in {e.customer_id for e in due}:
                    book.mark_escalated(customer_id, [e.step for e in due if e.customer_id == customer_id])
    assert plain.open_leads == restarted.open_leads
