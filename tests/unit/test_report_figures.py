"""CTRE and its balance index (SPEC §2.5) as the one definition computes them: the
``ec.ctre_of`` macro of projections/schema.py, over ``ec.leads`` rows with known answers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import uuid4

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.bulk import insert_rows
from projections.queries import CTRE, Window, ctre_figures
from projections.schema import TABLES, VIEWS
from projections.visibility import EXEC, load_visible_customers

T0 = datetime.fromisoformat("2026-03-02T09:00:00+08:00")
means = st.floats(min_value=0.0, max_value=500.0, allow_nan=False)


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        connection.execute(TABLES)
        connection.execute(VIEWS)
        yield connection


def ctre_of(
    connection: duckdb.DuckDBPyConnection, rows: list[tuple[float, int]], unanswered: int = 0
) -> tuple[CTRE, CTRE]:
    """Records ``leads`` leads answered in ``mean`` hours per channel (plus ``unanswered``
    leads on the last channel), then reads the ``ctre`` view and the report's figures."""
    for table in ("ec.leads", "ec.customers", "customer_360", "touchpoints"):
        connection.execute(f"DELETE FROM {table}")
    leads: list[tuple[str, str, datetime, datetime | None, bool]] = []
    for index, (mean, count) in enumerate(rows):
        for _ in range(count):
            lead_at = T0 + timedelta(days=index)
            leads.append((str(uuid4()), f"c{index}", lead_at, lead_at + timedelta(hours=mean), True))
    for _ in range(unanswered):
        leads.append((str(uuid4()), f"c{len(rows) - 1}", T0, None, False))
    insert_rows(
        connection,
        "ec.leads",
        [
            ("customer_id", "UUID"),
            ("channel", "VARCHAR"),
            ("lead_at", "TIMESTAMPTZ"),
            ("first_response_at", "TIMESTAMPTZ"),
            ("followed_up_7d", "BOOLEAN"),
        ],
        leads,
    )
    connection.execute("INSERT INTO ec.customers (customer_id) SELECT customer_id FROM ec.leads")
    connection.execute("INSERT INTO customer_360 (customer_id) SELECT customer_id FROM ec.leads")
    latest = max(lead[3] or lead[2] for lead in leads)
    connection.execute(  # the watermark: the latest event time
        "INSERT INTO touchpoints (touchpoint_id, occurred_at) VALUES ('latest', ?)", [latest]
    )
    view = connection.execute(
        "SELECT channel, ctre_hours, balance_index FROM ctre WHERE channel = '*'"
    ).fetchall()
    load_visible_customers(connection, EXEC)
    report = ctre_figures(connection, Window())
    as_view = CTRE([], *view[0][1:]) if view else CTRE([], None, None)
    return as_view, report


def test_the_seed_articles_before_figures_weigh_each_channel_by_its_lead_share(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    # Seed 000, before: web 2.1 h, Douyin 5.3 h, expo 8.9 h; with 45/30/25 % of the leads.
    view, report = ctre_of(connection, [(2.1, 45), (5.3, 30), (8.9, 25)])

    assert 4.76 == round(view.ctre_hours or 0, 2)  # the article reports 4.7 h
    assert (view.ctre_hours, view.balance_index) == pytest.approx((report.ctre_hours, report.balance_index))


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(means, st.integers(1, 20)), min_size=1, max_size=6))
def test_ctre_lies_between_the_fastest_and_slowest_channel_and_balance_is_never_negative(
    connection: duckdb.DuckDBPyConnection, rows: list[tuple[float, int]]
) -> None:
    view, report = ctre_of(connection, rows)

    assert view.ctre_hours is not None and view.balance_index is not None
    assert min(m for m, _ in rows) - 1e-6 <= view.ctre_hours <= max(m for m, _ in rows) + 1e-6
    assert view.balance_index >= 0
    assert (view.ctre_hours, view.balance_index) == pytest.approx((report.ctre_hours, report.balance_index))


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(means, st.integers(1, 20)), min_size=1, max_size=6), ignored=st.integers(1, 5))
def test_ignoring_leads_never_improves_ctre(
    connection: duckdb.DuckDBPyConnection, rows: list[tuple[float, int]], ignored: int
) -> None:
    answered, _ = ctre_of(connection, rows)
    with_ignored, _ = ctre_of(connection, rows, unanswered=ignored)

    # an unanswered lead has waited (up to the watermark) longer than any answered one took
    assert with_ignored.ctre_hours is not None and answered.ctre_hours is not None
    assert with_ignored.ctre_hours >= answered.ctre_hours - 1e-6


@settings(max_examples=20, deadline=None)
@given(mean=means, leads=st.lists(st.integers(1, 20), min_size=1, max_size=6))
def test_channels_answered_equally_fast_balance_perfectly(
    connection: duckdb.DuckDBPyConnection, mean: float, leads: list[int]
) -> None:
    view, _ = ctre_of(connection, [(mean, n) for n in leads])

    assert view.balance_index is not None and math.isclose(0.0, view.balance_index, abs_tol=1e-6)


def test_the_after_figures_are_more_balanced_than_the_before_figures(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    before, _ = ctre_of(connection, [(2.1, 45), (5.3, 30), (8.9, 25)])
    after, _ = ctre_of(connection, [(1.2, 45), (1.4, 30), (1.5, 25)])

    assert (after.balance_index or 0) < (before.balance_index or 0)
    assert (after.ctre_hours or 0) < (before.ctre_hours or 0)


def test_no_leads_means_no_ctre_rather_than_zero_hours(connection: duckdb.DuckDBPyConnection) -> None:
    for table in ("ec.leads", "ec.customers", "customer_360"):
        connection.execute(f"DELETE FROM {table}")
    load_visible_customers(connection, EXEC)

    assert [] == connection.execute("SELECT * FROM ctre").fetchall()
    assert CTRE([], None, None) == ctre_figures(connection, Window())
