"""Invariants of the projector: batching, crashes and arrival order never change the views."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.tests.persistence import TrackingRecorderTestCase
from hypothesis import given, settings
from hypothesis import strategies as st

from application.event_chain import EventChain
from domain.touchpoints import accept
from projections.decoding import mapper_decode
from projections.projector import APPLICATION_NAME, Projector
from projections.views import DuckDBViews
from tests.projection_support import all_contents, contents, project
from tests.strategies import touchpoint_histories


class TestDuckDBTrackingRecorder(TrackingRecorderTestCase):
    """The library's own contract for tracking recorders, run against the DuckDB views."""

    def setUp(self) -> None:
        self._directory = tempfile.TemporaryDirectory()

    def tearDown(self) -> None:
        self._directory.cleanup()

    def create_recorder(self) -> DuckDBViews:
        return DuckDBViews(Path(self._directory.name) / f"views-{id(self)}-{self._testMethodName}.duckdb")


del TrackingRecorderTestCase  # only the concrete subclass is a test
assert issubclass(TestDuckDBTrackingRecorder, unittest.TestCase)


def recorded_app(directory: str, history: list[Any]) -> EventChain:
    app = EventChain.from_url(f"sqlite:///{directory}/events.db", max_batch=7)
    app.record([accept(t) for t in history])
    return app


@settings(max_examples=8)
@given(touchpoint_histories(), st.integers(2, 9), st.integers(0, 60))
def test_one_go_small_batches_and_a_crash_at_any_position_give_identical_views(
    history: list[Any], batch_size: int, crash_at: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = recorded_app(directory, history)
        whole = project(app, Path(directory) / "whole.duckdb")
        batched = project(app, Path(directory) / "batched.duckdb", batch_size=batch_size)
        fast_forwarded = DuckDBViews(Path(directory) / "fast-forward.duckdb")
        Projector(app, fast_forwarded, batch_size=batch_size, fast_forward=0).catch_up()
        # "crash": stop after crash_at notifications, drop the connection, reopen, resume
        crashed_path = Path(directory) / "crashed.duckdb"
        first = DuckDBViews(crashed_path)
        # the crashed run was fast-forwarding: it left a recomputation pending, which the resume finishes
        first_run = Projector(app, first, batch_size=batch_size, fast_forward=0)
        for _ in range(2):  # a couple of deferred batches, then the "crash"
            upto = min(crash_at, app.max_notification_id())
            start = first_run.position + 1
            if start > upto:
                break
            batch = first_run._select(start, min(batch_size, upto - start + 1))
            first_run.apply(batch, refresh=False, defer=True)
        first.close()
        resumed = project(app, crashed_path, batch_size=3)
        expected = all_contents(whole.connection)
        assert all_contents(batched.connection) == expected
        assert all_contents(fast_forwarded.connection) == expected
        assert all_contents(resumed.connection) == expected
        assert resumed.max_tracking_id(APPLICATION_NAME) == app.max_notification_id()


@settings(max_examples=8)
@given(touchpoint_histories(max_size=12))
def test_projecting_twice_changes_nothing(history: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = recorded_app(directory, history)
        views = project(app, Path(directory) / "views.duckdb")
        before = all_contents(views.connection)
        assert Projector(app, views).catch_up() == 0
        # a redelivered batch is refused by the tracking position, and rolled back whole
        notifications = app.recorder.select_notifications(1, 100)
        events = [mapper_decode(app.mapper, n) for n in notifications]
        with pytest.raises(IntegrityError):
            views.apply(events, Tracking(APPLICATION_NAME, notifications[-1].id))
        assert all_contents(views.connection) == before


def canonical_views(views: DuckDBViews) -> dict[str, list[tuple[Any, ...]]]:
    """Views with customer ids replaced by the customer's earliest touchpoint id (ids
    derive from arrival order) and arrival times left out."""
    con = views.connection
    con.execute(
        "CREATE OR REPLACE TEMP TABLE canon AS SELECT customer_id, min(touchpoint_id) AS key "
        "FROM touchpoints GROUP BY customer_id"
    )
    return {
        "customer_360": contents(
            con,
            "(SELECT * EXCLUDE (customer_id, merged_from), k.key FROM customer_360 "
            "JOIN canon k USING (customer_id))",
        ),
        "touchpoints": contents(
            con,
            "(SELECT * EXCLUDE (customer_id, recorded_at), k.key FROM touchpoints "
            "JOIN canon k USING (customer_id))",
        ),
        "lead_response": contents(
            con, "(SELECT * EXCLUDE (customer_id), k.key FROM lead_response JOIN canon k USING (customer_id))"
        ),
        **{name: contents(con, name) for name in ("ctre", "funnel", "response_heatmap")},
    }


@settings(max_examples=12)
@given(touchpoint_histories(max_size=15), st.randoms(use_true_random=False))
def test_the_same_touchpoints_in_any_arrival_order_give_the_same_views(history: list[Any], rng: Any) -> None:
    shuffled = list(history)
    rng.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        in_order = project(recorded_app(one, history), Path(one) / "views.duckdb")
        out_of_order = project(recorded_app(other, shuffled), Path(other) / "views.duckdb")
        expected = canonical_views(in_order)
        actual = canonical_views(out_of_order)
        # merges happen in a different order, so whether a customer absorbed another differs;
        # everything the customer *is* must not
        assert actual == expected


@settings(max_examples=10)
@given(touchpoint_histories())
def test_decoding_in_duckdb_and_through_the_library_mapper_give_identical_views(history: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = recorded_app(directory, history)
        fast = DuckDBViews(Path(directory) / "fast.duckdb")
        Projector(app, fast, batch_size=5, fast=True).catch_up()
        mapped = DuckDBViews(Path(directory) / "mapped.duckdb")
        Projector(app, mapped, batch_size=5, fast=False).catch_up()
        assert all_contents(fast.connection) == all_contents(mapped.connection)


@settings(max_examples=10, deadline=None)
@given(touchpoint_histories())
def test_the_views_leads_are_the_domains_leads(history: list[Any]) -> None:
    """One lead definition: ``ec.leads`` (what every figure counts) holds, for each live
    customer, the aggregate's first inbound contact touch and its first response."""
    with tempfile.TemporaryDirectory() as directory:
        app = recorded_app(directory, history)
        views = project(app, Path(directory) / "views.duckdb")
        rows = views.connection.execute(
            "SELECT CAST(customer_id AS VARCHAR), channel, lead_at, first_response_at FROM ec.leads"
        ).fetchall()
        views.close()
        expected = set()
        for customer_id in app.customer_ids():
            customer = app.get_customer(customer_id, follow_merges=False)
            lead, response = customer.first_inbound, customer.first_response
            if customer.merged_into is None and lead is not None:
                answered = None if response is None else response.occurred_at
                expected.add((str(customer.id), lead.channel, lead.occurred_at, answered))

        assert set(rows) == expected
