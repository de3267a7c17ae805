"""A mistaken record is corrected by an event (``Customer.TouchpointRetracted``, actor and
reason): the history keeps the original, the figures follow the correction — through the
real projector, incrementally and rebuilt from position 0."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from application.event_chain import EventChain
from application.rep_actions import ActionError, retract_contact
from projections.projector import Projector
from tests.projection_support import T0, envelope, lead_and_reply, project


def lead_with_mistaken_and_real_reply(app: EventChain) -> UUID:
    """Lead at T0, a mistaken call logged 5 min later, the real reply after 2 h."""
    app.record(
        [
            *lead_and_reply(1, "web_form", T0, 2.0),
            envelope(
                "mistake",
                "call_400",
                T0 + timedelta(minutes=5),
                "13700000001",
                direction="outbound",
                actor="a-wang",
            ),
            envelope("other", "douyin_dm", T0 + timedelta(hours=10), "13900000000"),  # the watermark
        ]
    )
    return app.find_customer("phone:13700000001").id


def test_a_retracted_reply_no_longer_counts_as_the_first_response(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    customer_id = lead_with_mistaken_and_real_reply(app)
    views = project(app, tmp_path / "views.duckdb")
    before = views.connection.execute(
        "SELECT response_hours FROM lead_response WHERE customer_id = ?", [customer_id]
    ).fetchone()
    assert (pytest.approx(5 / 60),) == before

    retract_contact(app, customer_id, "mistake", "记错了客户", "a-wang")
    Projector(app, views).catch_up()

    connection = views.connection
    after = connection.execute(
        "SELECT response_hours FROM lead_response WHERE customer_id = ?", [customer_id]
    ).fetchone()
    assert (pytest.approx(2.0),) == after
    web = connection.execute(
        "SELECT responded, mean_response_hours FROM ctre WHERE channel = 'web_form'"
    ).fetchone()
    assert (1, pytest.approx(2.0)) == web
    kept = connection.execute(
        "SELECT t.touchpoint_id, r.actor, r.reason FROM touchpoints t "
        "JOIN ec.retractions r USING (touchpoint_id)"
    ).fetchall()
    assert [("mistake", "a-wang", "记错了客户")] == kept
    customer = app.get_customer(customer_id)
    assert "mistake" in customer.touchpoints and customer.first_response is not None
    assert "reply-1" == customer.first_response.touchpoint_id


def test_figures_rebuilt_from_the_log_equal_the_incremental_ones_after_a_retraction(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    customer_id = lead_with_mistaken_and_real_reply(app)
    incremental = project(app, tmp_path / "incremental.duckdb")
    retract_contact(app, customer_id, "mistake", "并未联系", "a-wang")
    Projector(app, incremental).catch_up()

    rebuilt = project(app, tmp_path / "rebuilt.duckdb")

    query = "SELECT customer_id, first_response_at, followed_up_7d FROM ec.leads ORDER BY ALL"
    assert rebuilt.connection.execute(query).fetchall() == incremental.connection.execute(query).fetchall()


def test_a_retraction_needs_a_reason_and_an_outbound_touchpoint(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    customer_id = lead_with_mistaken_and_real_reply(app)

    with pytest.raises(ActionError, match="更正原因"):
        retract_contact(app, customer_id, "mistake", "  ", "a-wang")
    with pytest.raises(ActionError, match="只能更正我方"):
        retract_contact(app, customer_id, "lead-1", "不是线索", "a-wang")
    retract_contact(app, customer_id, "mistake", "记错了", "a-wang")
    with pytest.raises(ActionError, match="已经更正"):
        retract_contact(app, customer_id, "mistake", "再次", "a-wang")


def test_a_recorded_first_response_makes_a_lead_contacted_until_it_is_retracted(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record(
        [
            envelope("only-lead", "web_form", T0, "13700000009"),
            envelope(
                "only-call",
                "call_400",
                T0 + timedelta(minutes=5),
                "13700000009",
                direction="outbound",
                actor="a-li",
            ),
        ]
    )
    customer_id = app.find_customer("phone:13700000009").id
    views = project(app, tmp_path / "views.duckdb")
    stage = "SELECT stage FROM customer_360 WHERE customer_id = ?"
    assert ("contacted",) == views.connection.execute(stage, [customer_id]).fetchone()

    retract_contact(app, customer_id, "only-call", "并未接通", "a-li")
    Projector(app, views).catch_up()

    assert ("lead",) == views.connection.execute(stage, [customer_id]).fetchone()
