"""Versioned configuration (SPEC §4): a TOML rules document, validated with key paths, and
the RuleSet aggregate whose every revision is an event (diff, rollback, replay)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from eventsourcing.domain import Aggregate
from msgspec import Meta, Struct

from domain.business_time import CalendarName, WorkingTime, YearArrangement, parse_business_hours
from domain.identity_rules import DEFAULT_LIMITS, DEFAULT_PRIORITY, IdentityRules, check_identity_rules
from domain.plan_rules import Plan, plan_errors
from domain.vocabulary import STAGES

T = TypeVar("T")
RULESET_ID: Final = uuid5(UUID("3f1e9a40-7c55-4e0e-9a7d-6b3d2c1f0a99"), "ruleset")
Minutes = Annotated[int, Meta(ge=1, le=7 * 24 * 60)]
Weight = Annotated[float, Meta(gt=0, le=100)]
MAX_WORDS: Final = 1_000  # keywords in one list
MAX_DOCUMENT_BYTES: Final = 256 * 1024
MAX_BLOCKED_IDENTITIES: Final = 10_000
Words = Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]], Meta(max_length=MAX_WORDS)]


class Strict(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class Sla(Strict, frozen=True):
    first_response_minutes: Minutes = 15
    vip_first_response_minutes: Minutes = 4
    escalation_chain: list[Annotated[str, Meta(min_length=1, max_length=64)]] = msgspec.field(
        default_factory=lambda: ["manager", "director"]
    )
    # Working time: deadlines count only these hours on the calendar's working days
    # (domain.business_time); unset and "24x7" mean every minute counts.
    business_hours: Annotated[str, Meta(pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")] | None = None
    calendar: CalendarName = "24x7"
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] = "Asia/Shanghai"

    def working_time(self) -> WorkingTime:
        if self.business_hours is None:
            return WorkingTime(calendar=self.calendar, zone=self.timezone)
        opens, closes = parse_business_hours(self.business_hours)
        return WorkingTime(opens, closes, self.calendar, self.timezone)


class Keywords(Strict, frozen=True):
    urgent: Words = msgspec.field(default_factory=lambda: ["急", "马上", "今天"])
    high_intent: Words = msgspec.field(default_factory=lambda: ["招标", "参数", "替代"])
    vip: Words = []


class BudgetWeight(Strict, frozen=True):
    above_cny: Annotated[float, Meta(ge=0)]
    weight: Weight


class Routing(Strict, frozen=True):
    channel_teams: dict[str, str] = {}  # channel → team; a channel without a team goes to every team
    city_weights: dict[str, Weight] = {}
    industry_weights: dict[str, Weight] = {}
    budget_weights: list[BudgetWeight] = []
    new_hire_days: Annotated[int, Meta(ge=0, le=3650)] = 30
    expo_radius_km: Annotated[float, Meta(gt=0, le=1000)] = 3.0
    fallback_owner: Annotated[str, Meta(min_length=1, max_length=64)] = "pool"


class Silence(Strict, frozen=True):
    days: Annotated[int, Meta(ge=1, le=3650)] = 30


class Gate(Strict, frozen=True):
    """Evidence needed to enter a stage: touchpoints of these channels/directions."""

    channels: list[str] = []  # any of them; empty = any channel
    direction: str | None = None  # "inbound" / "outbound" / None = either


class Identities(Strict, frozen=True):
    """Identities that name no person here: the company's own switchboard and 400 numbers,
    shared mailboxes (``"phone:400-800-1234"``). They are left out of identity resolution."""

    blocked: Annotated[
        list[Annotated[str, Meta(min_length=3, max_length=300)]], Meta(max_length=MAX_BLOCKED_IDENTITIES)
    ] = []
    # How many values of a kind one customer may hold, and which kinds outrank which
    # (domain/identity_rules.py); kinds without a limit are unlimited.
    limits: dict[str, Annotated[int, Meta(ge=1, le=1000)]] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_LIMITS)
    )
    priority: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_PRIORITY))

    def rules(self) -> IdentityRules:
        return IdentityRules(dict(self.limits), tuple(self.priority))


class CalendarYear(Strict, frozen=True):
    """A year's holidays and make-up working days (调休) as the State Council publishes them:
    ``[calendar.2027] holidays = [2027-02-06, …], workdays = [2027-02-20, …]``. It replaces
    the chinese-calendar package's data for that year (``[sla] calendar = "cn"``)."""

    holidays: Annotated[list[date], Meta(max_length=366)] = []
    workdays: Annotated[list[date], Meta(max_length=366)] = []


class CrmHealth(Strict, frozen=True):
    """Seed 003's CRM health check: the thresholds its six indicators are held to."""

    active_share_min: Annotated[float, Meta(ge=0, le=1)] = 0.60  # of the team active each day
    stage_updates_on_time_min: Annotated[float, Meta(ge=0, le=1)] = 0.80
    stage_update_days: Annotated[int, Meta(ge=1, le=365)] = 7  # "on time": within this of the last move
    core_fields_complete_min: Annotated[float, Meta(ge=0, le=1)] = 0.90
    intake_success_min: Annotated[float, Meta(ge=0, le=1)] = 0.995  # recorded ÷ received
    first_response_hours_max: Annotated[float, Meta(gt=0)] = 2.0
    corrections_per_month_max: Annotated[int, Meta(ge=0)] = 5


class ReadAlerts(Strict, frozen=True):
    """Seed 001 (a leaving rep exported 200+ customers at 2 a.m.): when a read of personal data
    alarms and what it does. ``rows``: customers' rows one actor may read within
    ``window_minutes`` (0: no count); ``hours``: the working hours, China time, as ``8-20``
    (``off``: none); ``action``: ``notify`` publishes the alert, ``freeze`` also ends the
    reader's sessions and holds their sign-ins until a director releases them. Without this
    table the ``EVENTCHAIN_READ_ALERT_*`` environment decides (docs/privacy.md)."""

    rows: Annotated[int, Meta(ge=0, le=10_000_000)] = 200
    window_minutes: Annotated[int, Meta(ge=1, le=10_080)] = 60
    hours: Annotated[str, Meta(max_length=10)] = "8-20"
    action: Annotated[str, Meta(max_length=10)] = "notify"

    def working_hours(self) -> tuple[int, int] | None:
        """``hours`` as [start, end) local hours; ValueError saying what is wrong."""
        text = self.hours.strip().lower()
        if text == "off":
            return None
        start, sep, end = text.partition("-")
        if not (sep and start.isdigit() and end.isdigit() and 0 <= int(start) < int(end) <= 24):
            raise ValueError(f"expected START-END within 0-24 such as 8-20, or off; got {self.hours!r}")
        return int(start), int(end)


# (indicator, the CrmHealth field holding its threshold, True: the value must reach it)
HEALTH_INDICATORS: Final = (
    ("active_share", "active_share_min", True),
    ("stage_updates_on_time", "stage_updates_on_time_min", True),
    ("core_fields_complete", "core_fields_complete_min", True),
    ("intake_success", "intake_success_min", True),
    ("mean_first_response_hours", "first_response_hours_max", False),
    ("corrections", "corrections_per_month_max", False),
)


def health_thresholds(health: CrmHealth) -> list[tuple[str, float, bool]]:
    """(indicator, threshold, at_least) of each indicator."""
    return [(name, float(getattr(health, field)), at_least) for name, field, at_least in HEALTH_INDICATORS]


class RulesDocument(Strict, frozen=True):
    sla: Sla = msgspec.field(default_factory=Sla)
    keywords: Keywords = msgspec.field(default_factory=Keywords)
    routing: Routing = msgspec.field(default_factory=Routing)
    silence: Silence = msgspec.field(default_factory=Silence)
    stages: dict[str, Gate] = {}
    identities: Identities = msgspec.field(default_factory=Identities)
    crm_health: CrmHealth = msgspec.field(default_factory=CrmHealth)
    # Form field → the values it may take (seed 002: 科室, 城市, 产品线 …); a web form whose
    # field holds another value is dead-lettered with the field and the value named.
    dictionaries: dict[
        Annotated[str, Meta(min_length=1, max_length=100)],
        Annotated[list[Annotated[str, Meta(min_length=1, max_length=200)]], Meta(max_length=5000)],
    ] = {}
    calendar: dict[str, CalendarYear] = {}  # year ("2027") → that year's arrangement
    plans: dict[str, Plan] = {}  # follow-up plans by name (domain.plan_rules)
    read_alerts: ReadAlerts | None = None  # None: the environment's (EVENTCHAIN_READ_ALERT_*)

    def working_time(self) -> WorkingTime:
        """The SLA's (and follow-up plans') working time, with the operator's arrangements."""
        arranged = tuple(
            YearArrangement(int(year), frozenset(days.holidays), frozenset(days.workdays))
            for year, days in sorted(self.calendar.items())
        )
        working = self.sla.working_time()
        return working if not arranged else replace(working, arranged=arranged)


class RulesError(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# Tables keyed by the operator's names (a year, a plan): their errors name the key.
KEYED_TABLES: Final[dict[str, type[Struct]]] = {"calendar": CalendarYear, "plans": Plan}


def parse_rules(text: str) -> RulesDocument:
    """Parses and validates a TOML rules document; errors name the key path."""
    size = len(text.encode())
    if size > MAX_DOCUMENT_BYTES:
        raise RulesError("$", f"document of {size} bytes exceeds {MAX_DOCUMENT_BYTES} bytes")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError("$", f"not valid TOML ({error})") from None
    return rules_from_dict(raw)


def rules_from_dict(raw: dict[str, Any]) -> RulesDocument:
    for table, value_type in KEYED_TABLES.items():  # msgspec names a table's key "[...]": name it
        entries = raw.get(table)
        if isinstance(entries, dict):
            for key, value in entries.items():
                _convert(value, value_type, f"$.{table}.{key}")
    document = _convert(raw, RulesDocument, "$")
    from domain.touchpoints import CHANNELS

    for channel in document.routing.channel_teams:
        if channel not in CHANNELS:
            raise RulesError(
                f"$.routing.channel_teams.{channel}", f"unknown channel; expected one of {CHANNELS}"
            )
    if document.sla.business_hours is not None:
        try:
            parse_business_hours(document.sla.business_hours)
        except ValueError as error:
            raise RulesError("$.sla.business_hours", str(error)) from None
    try:
        ZoneInfo(document.sla.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise RulesError("$.sla.timezone", f"unknown time zone {document.sla.timezone!r}") from None
    for stage, gate in document.stages.items():
        if stage not in STAGES:
            raise RulesError(f"$.stages.{stage}", f"unknown stage; expected one of {STAGES}")
        if gate.direction not in (None, "inbound", "outbound"):
            raise RulesError(f"$.stages.{stage}.direction", "expected 'inbound' or 'outbound'")
    check_calendar(document)
    if document.read_alerts is not None:
        try:
            document.read_alerts.working_hours()
        except ValueError as error:
            raise RulesError("$.read_alerts.hours", str(error)) from None
        if document.read_alerts.action not in ("notify", "freeze"):
            raise RulesError("$.read_alerts.action", "expected 'notify' or 'freeze'")
    for name, plan in document.plans.items():
        for path, reason in plan_errors(name, plan, CHANNELS):
            raise RulesError(path, reason)
    blocked_keys(document)
    problem = check_identity_rules(document.identities.limits, document.identities.priority)
    if problem is not None:
        raise RulesError("$.identities", problem)
    return document


CALENDAR_NOTICE_DAYS: Final = 60  # status and /metrics warn this long before the calendar ends


def calendar_warning(document: RulesDocument, today: date, days: int = CALENDAR_NOTICE_DAYS) -> str | None:
    """Why the calendar in force cannot be trusted for the next ``days`` days, or None: from the
    first day it does not know, deadlines would count Chinese holidays as working days."""
    gap = document.working_time().calendar_gap(today, days)
    if gap is None:
        return None
    return (
        f"the holiday calendar in force ends before {gap} (within {days} days): apply {gap.year}'s "
        f"holidays and 调休 as [calendar.{gap.year}] in the rules (docs/routing.md)"
    )


def _convert(value: Any, value_type: type[T], prefix: str) -> T:
    try:
        return msgspec.convert(value, value_type)
    except msgspec.ValidationError as error:
        reason, _, where = str(error).rpartition(" - at `")
        path = prefix + where.rstrip("`").removeprefix("$") if reason else prefix
        raise RulesError(path, reason or str(error)) from None


def check_calendar(document: RulesDocument) -> None:
    for year, days in document.calendar.items():
        path = f"$.calendar.{year}"
        if not (year.isdigit() and len(year) == 4):
            raise RulesError(path, "expected a year, e.g. [calendar.2027]")
        for key, listed in (("holidays", days.holidays), ("workdays", days.workdays)):
            for index, day in enumerate(listed):
                if day.year != int(year):
                    raise RulesError(f"{path}.{key}[{index}]", f"{day} is not in {year}")
        both = sorted(set(days.holidays) & set(days.workdays))
        if both:
            raise RulesError(f"{path}.workdays", f"{both[0]} is also a holiday")


def blocked_keys(document: RulesDocument) -> frozenset[str]:
    """The normalised keys of ``[identities] blocked``; a value that is no identity is an error."""
    from domain.identities import InvalidIdentityError, parse_identity_key

    keys = set()
    for index, text in enumerate(document.identities.blocked):
        try:
            keys.add(parse_identity_key(text))
        except InvalidIdentityError as error:
            raise RulesError(f"$.identities.blocked[{index}]", str(error)) from None
    return frozenset(keys)


def field_dictionaries(document: RulesDocument) -> dict[str, frozenset[str]]:
    return {
        field: frozenset(value.strip() for value in values) for field, values in document.dictionaries.items()
    }


def as_dict(document: RulesDocument) -> dict[str, Any]:
    return msgspec.to_builtins(document)  # type: ignore[no-any-return]


def diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Changed keys as (dotted path, old value, new value); nested tables are walked."""
    changes: list[tuple[str, Any, Any]] = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            changes += diff(before, after, path + ".")
        elif before != after:
            changes.append((path, before, after))
    return changes


class RuleSet(Aggregate):
    """One aggregate; version N of the rules is its N-th revision (append-only history)."""

    class Created(Aggregate.Created):
        pass

    class RulesRevised(Aggregate.Event):
        number: int
        document: dict[str, Any]
        author: str
        note: str
        revised_at: datetime
        rollback_of: int | None

        def apply(self, aggregate: RuleSet) -> None:
            aggregate.revisions.append(self)

    def __init__(self) -> None:
        self.revisions: list[RuleSet.RulesRevised] = []

    @classmethod
    def start(cls, at: datetime) -> RuleSet:
        return cls._create(cls.Created, id=RULESET_ID, timestamp=at)

    @property
    def current(self) -> int:
        return len(self.revisions)

    def document(self, number: int) -> dict[str, Any]:
        if not 1 <= number <= len(self.revisions):
            raise RulesError("version", f"no version {number} (versions 1..{len(self.revisions)})")
        return self.revisions[number - 1].document

    def revise(
        self, document: RulesDocument, author: str, note: str, at: datetime, rollback_of: int | None = None
    ) -> int:
        self.trigger_event(
            self.RulesRevised,
            timestamp=at,
            number=len(self.revisions) + 1,
            document=as_dict(document),
            author=author,
            note=note,
            revised_at=at,
            rollback_of=rollback_of,
        )
        return len(self.revisions)

    def rollback(self, number: int, author: str, note: str, at: datetime) -> int:
        """Appends a new version equal to version ``number``."""
        return self.revise(
            rules_from_dict(self.document(number)),
            author,
            note or f"rollback to {number}",
            at,
            rollback_of=number,
        )
