"""The read-audit alert policy (seed 001: 200+ customers exported at 2 a.m.)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.read_audit import alert_policy
from domain.read_audit import ReadAlertPolicy, read_alerts

# 10:00 in China Standard Time
MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_a_small_read_in_working_hours_raises_nothing() -> None:
    assert read_alerts(ReadAlertPolicy(), MORNING, 3, [(MORNING - timedelta(minutes=5), 10)]) == []


def test_reads_adding_up_past_the_limit_within_the_window_raise_an_alert() -> None:
    earlier = [(MORNING - timedelta(minutes=50), 150), (MORNING - timedelta(minutes=70), 500)]
    [reason] = read_alerts(ReadAlertPolicy(max_rows=200), MORNING, 60, earlier)
    assert reason == "210 rows read within 60 min (limit 200)"  # the read 70 min ago is outside


def test_a_read_at_two_in_the_morning_local_time_is_off_hours() -> None:
    night = datetime(2026, 3, 1, 18, 5, tzinfo=UTC)  # 02:05 at UTC+8
    assert read_alerts(ReadAlertPolicy(), night, 1, []) == [
        "read at 02:05 local time, outside working hours 08-20"
    ]


def test_switched_off_checks_stay_silent() -> None:
    night = datetime(2026, 3, 1, 18, 5, tzinfo=UTC)
    assert read_alerts(ReadAlertPolicy(max_rows=0, working_hours=None), night, 10_000, []) == []


def test_the_policy_comes_from_the_environment_and_bad_values_are_one_clear_error() -> None:
    policy = alert_policy(
        {
            "EVENTCHAIN_READ_ALERT_ROWS": "50",
            "EVENTCHAIN_READ_ALERT_WINDOW_MINUTES": "15",
            "EVENTCHAIN_READ_ALERT_HOURS": "9-18",
        }
    )
    assert (policy.max_rows, policy.window, policy.working_hours) == (50, timedelta(minutes=15), (9, 18))
    assert alert_policy({"EVENTCHAIN_READ_ALERT_HOURS": "off"}).working_hours is None
    with pytest.raises(ValueError, match="EVENTCHAIN_READ_ALERT_"):
        alert_policy({"EVENTCHAIN_READ_ALERT_ROWS": "many"})
    with pytest.raises(ValueError, match="hours START-END"):
        alert_policy({"EVENTCHAIN_READ_ALERT_HOURS": "20-8"})
