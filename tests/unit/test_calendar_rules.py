"""The holiday calendar is the operator's: a year's holidays and 调休 applied as rules win
over the chinese-calendar package, and a calendar running out within 60 days is reported."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.business_time import package_has_year
from domain.rules import RulesError, as_dict, calendar_warning, diff, parse_rules, rules_from_dict
from domain.sla import first_response_deadline

CST = ZoneInfo("Asia/Shanghai")
OFFICE = """
[sla]
first_response_minutes = 15
business_hours = "09:00-18:00"
calendar = "cn"
"""
# An EXAMPLE 2027 Spring Festival arrangement (the State Council's was not published when this
# was written): Sat 02-06 .. Sun 02-14 off, Sat 02-20 a make-up working day.
EXAMPLE_2027 = """
[calendar.2027]
holidays = [2027-01-01, 2027-02-06, 2027-02-07, 2027-02-08, 2027-02-09, 2027-02-10,
            2027-02-11, 2027-02-12, 2027-02-13, 2027-02-14]
workdays = [2027-02-20]
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def deadline(rules: str, lead_at: datetime) -> datetime:
    document = parse_rules(rules)
    return first_response_deadline(lead_at, document.sla.first_response_minutes, document.working_time())


def test_without_2027_data_a_spring_festival_lead_falls_due_on_a_holiday() -> None:
    # What issue 30 found: the package has no 2027, so 02-08 counts as a working Monday.
    assert not package_has_year(2027)
    assert at("2027-02-08T09:10") == deadline(OFFICE, at("2027-02-05T17:55"))


def test_an_applied_2027_arrangement_sets_the_spring_festival_deadlines() -> None:
    rules = OFFICE + EXAMPLE_2027
    assert at("2027-02-15T09:10") == deadline(rules, at("2027-02-05T17:55"))
    # the make-up Saturday counts, the New Year holiday does not
    assert at("2027-02-20T09:10") == deadline(rules, at("2027-02-19T17:55"))
    assert at("2027-01-04T09:15") == deadline(rules, at("2026-12-31T18:30"))


def test_a_year_the_package_has_is_still_taken_from_the_package() -> None:
    # 2026-02-14 is a make-up Saturday in the package's data; an arrangement for 2027 leaves 2026 alone.
    assert at("2026-02-14T09:10") == deadline(OFFICE + EXAMPLE_2027, at("2026-02-13T17:55"))


def test_the_arrangement_round_trips_as_a_versioned_document_and_diffs_by_year() -> None:
    document = parse_rules(OFFICE + EXAMPLE_2027)
    assert document == rules_from_dict(as_dict(document))
    changes = diff(as_dict(parse_rules(OFFICE)), as_dict(document))
    assert ["calendar.2027"] == [path for path, _, _ in changes]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("[calendar.2027]\nholidays = [2026-12-31]\n", "$.calendar.2027.holidays[0]"),
        ("[calendar.27]\nholidays = []\n", "$.calendar.27"),
        ("[calendar.2027]\nholidays = [2027-02-20]\nworkdays = [2027-02-20]\n", "$.calendar.2027.workdays"),
        ("[calendar.2027]\nholidays = ['someday']\n", "$.calendar.2027.holidays[0]"),
        ("[calendar.2027]\nvacations = []\n", "$.calendar.2027"),
    ],
)
def test_an_invalid_arrangement_is_rejected_with_its_key_path(text: str, path: str) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules(text)
    assert path == raised.value.path


def test_the_calendar_warning_names_the_first_day_not_covered_within_60_days() -> None:
    office = parse_rules(OFFICE)
    warning = calendar_warning(office, date(2026, 12, 6))
    assert warning is not None and "2027-01-01" in warning and "[calendar.2027]" in warning
    assert calendar_warning(office, date(2026, 10, 1)) is None  # 2027 is more than 60 days away
    assert calendar_warning(parse_rules(OFFICE + EXAMPLE_2027), date(2026, 12, 6)) is None
    assert calendar_warning(parse_rules("[sla]\ncalendar = 'weekdays'\n"), date(2026, 12, 6)) is None
