"""Working time for SLA deadlines (rules ``[sla] business_hours``, ``calendar``, ``timezone``).

A deadline of N minutes counts only working minutes: the hours of ``business_hours`` on the
calendar's working days, in the rules' time zone. The ``cn`` calendar knows Chinese public
holidays and make-up working days (调休): a year the operator arranged in the rules
(``[calendar.2027] holidays = [...], workdays = [...]``, a ``YearArrangement``) is taken from
there, whole; any other year from the maintained ``chinese-calendar`` package where it has the
year, else Monday to Friday — which is why ``calendar_gap`` tells ``status`` and /metrics
when the calendar in force stops covering the weeks ahead. Without business hours and with the
``24x7`` calendar, working time is wall time. Pure: no clock, every instant comes in as data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

import chinese_calendar

CalendarName = Literal["24x7", "weekdays", "cn"]
CALENDARS: Final[tuple[CalendarName, ...]] = ("24x7", "weekdays", "cn")
# The longest stretch of non-working days a calendar may have (Spring Festival plus weekends
# is 9 days); a deadline search that finds no working minute in this many days stops.
MAX_IDLE_DAYS: Final = 31


def _every_day(_: date) -> bool:
    return True


def _weekday(day: date) -> bool:
    return day.weekday() < 5


@functools.lru_cache(maxsize=4096)
def _chinese_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package has no schedule for yet
        return _weekday(day)


WORKDAYS: Final[dict[CalendarName, Callable[[date], bool]]] = {
    "24x7": _every_day,
    "weekdays": _weekday,
    "cn": _chinese_workday,
}


@functools.lru_cache(maxsize=64)
def package_has_year(year: int) -> bool:
    """Whether the installed chinese-calendar knows ``year``'s holidays and 调休."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class YearArrangement:
    """One year's holidays and make-up working days, as the operator applied them: a day in
    ``holidays`` is off, one in ``workdays`` is on (a weekend 调休), any other is Monday–Friday."""

    year: int
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() < 5


@dataclass(frozen=True, slots=True)
class WorkingTime:
    opens: time = time(0, 0)
    closes: time | None = None  # None: until midnight (the whole day)
    calendar: CalendarName = "24x7"
    zone: str = "Asia/Shanghai"
    # The operator's arrangements (``cn`` only), by year: they win over the package's data.
    arranged: tuple[YearArrangement, ...] = ()

    def is_workday(self, day: date) -> bool:
        if self.calendar == "cn":
            for arrangement in self.arranged:
                if arrangement.year == day.year:
                    return arrangement.is_workday(day)
        return WORKDAYS[self.calendar](day)

    def covered(self, day: date) -> bool:
        """Whether the calendar knows ``day``'s holidays (only ``cn`` has any to know)."""
        if self.calendar != "cn":
            return True
        return any(a.year == day.year for a in self.arranged) or package_has_year(day.year)

    def calendar_gap(self, today: date, days: int) -> date | None:
        """The first day of ``today`` .. ``today + days`` the calendar does not cover, if any."""
        for year in range(today.year, (today + timedelta(days=days)).year + 1):
            first = max(today, date(year, 1, 1))
            if not self.covered(first):
                return first
        return None

    @property
    def always(self) -> bool:
        return self.calendar == "24x7" and self.opens == time(0, 0) and self.closes is None

    def add(self, start: datetime, minutes: float) -> datetime:
        """The instant ``minutes`` working minutes after ``start`` (aware datetimes)."""
        if self.always:
            return start + timedelta(minutes=minutes)
        zone = ZoneInfo(self.zone)
        local = start.astimezone(zone)
        remaining = timedelta(minutes=minutes)
        idle_days = 0
        day = local.date()
        while True:
            window = self._window(day, zone)
            if window is not None:
                opens, closes = window
                begin = max(opens, local)
                if begin < closes or (begin == closes and not remaining):  # ends at closing
                    available = closes - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= available
                idle_days = 0
            else:
                idle_days += 1
                if idle_days > MAX_IDLE_DAYS:
                    raise ValueError(f"calendar {self.calendar} has no working time for {MAX_IDLE_DAYS} days")
            day += timedelta(days=1)

    def _window(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
        if not self.is_workday(day):
            return None
        opens = datetime.combine(day, self.opens, zone)
        closes = (
            datetime.combine(day + timedelta(days=1), time(0, 0), zone)
            if self.closes is None
            else datetime.combine(day, self.closes, zone)
        )
        return opens, closes


def parse_business_hours(text: str) -> tuple[time, time]:
    """``"09:00-18:00"`` → (09:00, 18:00); raises ValueError saying why not."""
    opens_text, sep, closes_text = text.partition("-")
    try:
        if not sep:
            raise ValueError
        opens, closes = time.fromisoformat(opens_text.strip()), time.fromisoformat(closes_text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM, e.g. 09:00-18:00") from None
    if opens >= closes:
        raise ValueError(f"{text!r}: the opening time must be before the closing time")
    return opens, closes
