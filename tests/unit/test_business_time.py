"""Working time for SLA deadlines: business hours, weekends, Chinese holidays and 调休."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.business_time import WORKDAYS, WorkingTime, parse_business_hours
from domain.rules import RulesError, parse_rules

CST = ZoneInfo("Asia/Shanghai")
OFFICE = WorkingTime(time(9), time(18), "cn", "Asia/Shanghai")
WEEKDAYS = WorkingTime(time(9), time(18), "weekdays", "Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def test_without_business_hours_every_minute_counts() -> None:
    start = datetime(2026, 3, 7, 23, 50, tzinfo=UTC)  # a Saturday night
    assert WorkingTime().add(start, 15) == start + timedelta(minutes=15)


def test_a_friday_evening_lead_is_due_on_monday_morning() -> None:
    # Friday 2026-03-06 17:50: 10 minutes left on Friday, 5 more from Monday 09:00.
    assert WEEKDAYS.add(at("2026-03-06T17:50"), 15) == at("2026-03-09T09:05")


def test_a_lead_before_opening_starts_counting_at_opening() -> None:
    assert WEEKDAYS.add(at("2026-03-03T07:30"), 15) == at("2026-03-03T09:15")


def test_a_make_up_working_saturday_counts_on_the_chinese_calendar() -> None:
    # 2026-02-14 is a Saturday and a working day (调休 before the Spring Festival).
    assert OFFICE.add(at("2026-02-13T17:55"), 15) == at("2026-02-14T09:10")
    assert WEEKDAYS.add(at("2026-02-13T17:55"), 15) == at("2026-02-16T09:10")  # no 调休 there


def test_the_spring_festival_holiday_is_skipped_on_the_chinese_calendar() -> None:
    # 2026-02-15 (Sunday) to 2026-02-23 are holidays; Monday 2026-02-16 is no working day.
    assert OFFICE.add(at("2026-02-14T17:50"), 15) == at("2026-02-24T09:05")


def test_the_result_is_in_the_start_time_zone() -> None:
    start = at("2026-03-06T17:50").astimezone(UTC)
    due = WEEKDAYS.add(start, 15)
    assert due.tzinfo == UTC and due == at("2026-03-09T09:05")


@pytest.mark.parametrize("text", ["9-18", "18:00-09:00", "09:00", "09:00-25:00"])
def test_malformed_business_hours_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|before the closing"):
        parse_business_hours(text)


def test_rules_refuse_bad_business_hours_and_unknown_time_zones_with_the_key_path() -> None:
    with pytest.raises(RulesError, match=r"\$\.sla\.business_hours"):
        parse_rules('[sla]\nbusiness_hours = "18:00-09:00"\n')
    with pytest.raises(RulesError, match=r"\$\.sla\.timezone"):
        parse_rules('[sla]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(RulesError, match=r"\$\.sla\.calendar"):
        parse_rules('[sla]\ncalendar = "lunar"\n')
    office = parse_rules('[sla]\nbusiness_hours = "09:00-18:00"\ncalendar = "cn"\n').sla.working_time()
    assert office == OFFICE


starts = st.datetimes(
    min_value=datetime(2025, 12, 20), max_value=datetime(2026, 12, 20), timezones=st.just(CST)
)
spans = st.integers(min_value=0, max_value=3 * 540)


@settings(max_examples=200)
@given(start=starts, first=spans, second=spans, calendar=st.sampled_from(["24x7", "weekdays", "cn"]))
def test_working_time_adds_up_and_never_ends_outside_working_hours(
    start: datetime, first: int, second: int, calendar: str
) -> None:
    working = WorkingTime(time(9), time(18), calendar, "Asia/Shanghai")  # type: ignore[arg-type]
    once = working.add(start, first + second)
    assert once == working.add(working.add(start, first), second)
    assert once >= start + timedelta(minutes=first + second)  # working time never runs faster
    assert working.add(start, first) <= once
    if first + second > 0:  # a deadline falls inside working hours, on a working day
        local = once.astimezone(CST)
        assert time(9) < local.time() <= time(18)
        assert WORKDAYS[working.calendar](local.date())
