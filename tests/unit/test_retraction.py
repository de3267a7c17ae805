"""A mistaken outbound touchpoint is retracted by an event (domain): the history keeps it, the
first response no longer counts it, and replaying the events gives the same state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from domain.customer import Customer
from domain.touchpoints import (
    AcceptedTouchpoint,
    Call400,
    Call400Payload,
    Identity,
    WebForm,
    WebFormPayload,
    accept,
)
from tests.strategies import retraction_reasons

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PHONE = [Identity(kind="phone", value="13800138000")]


def lead() -> AcceptedTouchpoint:
    return accept(
        WebForm(
            touchpoint_id="lead",
            occurred_at=T0,
            direction="inbound",
            identities=PHONE,
            payload=WebFormPayload(form_id="contact-us"),
        )
    )


def call(touchpoint_id: str, minutes: int) -> AcceptedTouchpoint:
    return accept(
        Call400(
            touchpoint_id=touchpoint_id,
            occurred_at=T0 + timedelta(minutes=minutes),
            direction="outbound",
            actor="a-wang",
            identities=PHONE,
            payload=Call400Payload(call_id=touchpoint_id),
        )
    )


def answered_customer() -> Customer:
    customer = Customer.start("lead", T0)
    for accepted in (lead(), call("mistake", 5), call("real", 120)):
        customer.record_touchpoint(accepted, T0)
    return customer


@given(retraction_reasons)
def test_a_retraction_is_one_event_and_replays_to_the_same_state(reason: str) -> None:
    customer = answered_customer()

    customer.retract_touchpoint("mistake", reason, "a-wang", T0 + timedelta(hours=3))

    events = customer.collect_events()
    assert "TouchpointRetracted" == type(events[-1]).__name__
    assert ("mistake", "a-wang") == (events[-1].touchpoint_id, events[-1].actor)  # type: ignore[attr-defined]
    assert "mistake" in customer.touchpoints  # the history keeps it
    assert customer.first_response is not None and "real" == customer.first_response.touchpoint_id
    replayed: Customer | None = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed is not None and customer.state() == replayed.state()


@pytest.mark.parametrize(
    ("touchpoint_id", "reason", "message"),
    [
        ("nowhere", "记错了", "is not on this customer"),
        ("lead", "记错了", "only outbound touchpoints"),
        ("mistake", "   ", "needs a reason"),
    ],
)
def test_a_retraction_is_refused_without_an_outbound_touchpoint_and_a_reason(
    touchpoint_id: str, reason: str, message: str
) -> None:
    customer = answered_customer()

    with pytest.raises(ValueError, match=message):
        customer.retract_touchpoint(touchpoint_id, reason, "a-wang", T0)


def test_a_touchpoint_is_retracted_once() -> None:
    customer = answered_customer()
    customer.retract_touchpoint("mistake", "记错了", "a-wang", T0)

    with pytest.raises(ValueError, match="already retracted"):
        customer.retract_touchpoint("mistake", "再次", "a-wang", T0)
