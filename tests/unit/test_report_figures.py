"""CTRE and its balance index (SPEC §2.5) as the report computes them from channel means."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from adapters.report.queries import CTRE, ChannelCTRE

means = st.floats(min_value=0.0, max_value=500.0, allow_nan=False)


def channels(rows: list[tuple[float, int]]) -> list[ChannelCTRE]:
    total = sum(leads for _, leads in rows)
    return [ChannelCTRE(f"c{i}", leads, leads, mean, leads / total) for i, (mean, leads) in enumerate(rows)]


def test_the_seed_articles_before_figures_weigh_each_channel_by_its_lead_share() -> None:
    # Seed 000, before: web 2.1 h, Douyin 5.3 h, expo 8.9 h; with 45/30/25 % of the leads.
    ctre = CTRE.of(channels([(2.1, 45), (5.3, 30), (8.9, 25)]))

    assert 4.76 == round(ctre.ctre_hours or 0, 2)  # the article reports 4.7 h


@given(st.lists(st.tuples(means, st.integers(1, 1000)), min_size=1, max_size=8))
def test_ctre_lies_between_the_fastest_and_slowest_channel_and_balance_is_never_negative(
    rows: list[tuple[float, int]],
) -> None:
    ctre = CTRE.of(channels(rows))

    assert ctre.ctre_hours is not None and ctre.balance_index is not None
    assert min(m for m, _ in rows) - 1e-9 <= ctre.ctre_hours <= max(m for m, _ in rows) + 1e-9
    assert ctre.balance_index >= 0


@given(means, st.lists(st.integers(1, 1000), min_size=1, max_size=8))
def test_channels_answered_equally_fast_balance_perfectly(mean: float, leads: list[int]) -> None:
    ctre = CTRE.of(channels([(mean, n) for n in leads]))

    assert ctre.balance_index is not None and math.isclose(0.0, ctre.balance_index, abs_tol=1e-9)


def test_the_after_figures_are_more_balanced_than_the_before_figures() -> None:
    before = CTRE.of(channels([(2.1, 45), (5.3, 30), (8.9, 25)]))
    after = CTRE.of(channels([(1.2, 45), (1.4, 30), (1.5, 25)]))

    assert (after.balance_index or 0) < (before.balance_index or 0)
    assert (after.ctre_hours or 0) < (before.ctre_hours or 0)


def test_no_leads_means_no_ctre_rather_than_zero_hours() -> None:
    assert CTRE([], None, None) == CTRE.of([])
