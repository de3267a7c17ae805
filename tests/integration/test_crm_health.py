"""Seed 003's CRM health check, from recorded facts through the real projector: each indicator
on data built to sit just above and just below its threshold."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from application.event_chain import EventChain
from application.rules import apply_rules, join
from domain.customer import customer_id_for
from domain.intake import IntakeEntry, IntakeTally
from domain.roster import Agent
from tests.projection_support import T0, envelope, project

RULES = """
[crm_health]
active_share_min = 0.55
stage_updates_on_time_min = 0.7
core_fields_complete_min = 0.9
intake_success_min = 0.995
first_response_hours_max = 2.0
corrections_per_month_max = 5
"""
FULL = {"name": "李雷", "company": "杭州某医疗设备有限公司", "city": "杭州", "industry": "医疗设备"}


class Books:
    """A store with a team "east" of ``agents`` agents, filled by the scenario of one test."""

    def __init__(self, tmp_path: Path, agents: int = 2) -> None:
        self.path = tmp_path
        self.app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}", clock=lambda: T0)
        apply_rules(self.app, RULES, "ops", "seed 003 thresholds")
        for number in range(agents):
            join(self.app, Agent(agent_id=f"a{number}", name=f"销售{number}", team="east"), "ops")
        self.leads = 0

    def lead(
        self,
        owner: str = "a0",
        *,
        reply_after_hours: float | None = None,
        contact: dict[str, Any] | None = None,
        at: Any = T0,
    ) -> str:
        self.leads += 1
        number, phone = self.leads, f"1370000{self.leads:04d}"
        touchpoints = [envelope(f"lead-{number}", "web_form", at, phone, contact=contact)]
        if reply_after_hours is not None:
            touchpoints.append(
                envelope(
                    f"reply-{number}",
                    "wecom_msg",
                    at + timedelta(hours=reply_after_hours),
                    phone,
                    direction="outbound",
                    actor=owner,
                )
            )
        self.app.record(touchpoints)
        customer = self.app.get_customer(customer_id_for(f"lead-{number}"))
        customer.assign(owner, at, 1, "test", "by hand", 1.0, "ops", T0)
        self.app.save(customer)
        return f"phone:{phone}"

    def move(self, reference: str, days_after_lead: float, actor: str = "a0") -> None:
        customer = self.app.find_customer(reference)
        at = T0 + timedelta(days=days_after_lead)
        customer.change_stage("contacted", at, [], actor, "called", at)
        self.app.save(customer)

    def health(self) -> dict[tuple[str, str], tuple[float, float, str]]:
        views = project(self.app, self.path / "views.duckdb")
        try:
            rows = views.connection.execute(
                "SELECT indicator, team, value, threshold, status FROM crm_health "
                "WHERE month = DATE '2026-03-01'"
            ).fetchall()
        finally:
            views.close()
        return {
            (indicator, team): (value, threshold, status)
            for indicator, team, value, threshold, status in rows
        }


@pytest.mark.parametrize(("active", "value", "status"), [(6, 0.6, "ok"), (5, 0.5, "alert")])
def test_active_share_of_the_team(tmp_path: Path, active: int, value: float, status: str) -> None:
    books = Books(tmp_path, agents=10)
    for number in range(active):  # each active agent answers a lead that day
        books.lead(f"a{number}", reply_after_hours=1.0)
    assert (pytest.approx(value), 0.55, status) == books.health()["active_share", "east"]


@pytest.mark.parametrize(("late", "value", "status"), [(1, 0.75, "ok"), (2, 0.5, "alert")])
def test_stage_updates_on_time(tmp_path: Path, late: int, value: float, status: str) -> None:
    books = Books(tmp_path)
    for number in range(4):
        books.move(books.lead(), days_after_lead=10 if number < late else 3)  # 7 days is on time
    assert (pytest.approx(value), 0.7, status) == books.health()["stage_updates_on_time", "east"]


@pytest.mark.parametrize(
    ("complete", "partial", "value", "status"),
    [
        (9, {"name": "韩梅梅", "company": "成都某公司", "city": "成都"}, 0.975, "ok"),
        (3, {"name": "韩梅梅", "city": "成都"}, 0.875, "alert"),
    ],
)
def test_core_field_completeness(
    tmp_path: Path, complete: int, partial: dict[str, str], value: float, status: str
) -> None:
    books = Books(tmp_path)
    for _ in range(complete):
        books.lead(contact=FULL)
    books.lead(contact=partial)
    assert (pytest.approx(value), 0.9, status) == books.health()["core_fields_complete", "east"]


@pytest.mark.parametrize(("dead", "value", "status"), [(4, 0.996, "ok"), (6, 0.994, "alert")])
def test_intake_success_is_recorded_over_received(
    tmp_path: Path, dead: int, value: float, status: str
) -> None:
    books = Books(tmp_path)
    entries = [
        IntakeEntry(sequence, "web_form", "2026-03-02", "dead_lettered" if sequence <= dead else "recorded")
        for sequence in range(1, 1001)
    ]
    books.app.save(IntakeTally.count(uuid4(), "TOUCHPOINTS", T0, entries))
    assert (pytest.approx(value), 0.995, status) == books.health()["intake_success", "*"]


@pytest.mark.parametrize(("hours", "status"), [(1.9, "ok"), (2.1, "alert")])
def test_mean_first_response(tmp_path: Path, hours: float, status: str) -> None:
    books = Books(tmp_path)
    books.lead(reply_after_hours=hours - 0.5)
    books.lead(reply_after_hours=hours + 0.5)
    assert (pytest.approx(hours), 2.0, status) == books.health()["mean_first_response_hours", "east"]


@pytest.mark.parametrize(("corrections", "status"), [(5, "ok"), (6, "alert")])
def test_corrections_per_month(tmp_path: Path, corrections: int, status: str) -> None:
    books = Books(tmp_path)
    reference = books.lead(contact=FULL)
    for number in range(corrections):
        books.app.correct_profile(reference, "city", f"城市{number}", "typo", "a1")
    assert (corrections, 5.0, status) == books.health()["corrections", "east"]


def test_without_rules_the_domains_defaults_apply(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}", clock=lambda: T0)
    join(app, Agent(agent_id="a0", name="销售", team="east"), "ops")
    app.record([envelope("lead-1", "web_form", T0, "13700000001", contact=FULL)])
    views = project(app, tmp_path / "views.duckdb")
    try:
        rows = views.connection.execute("SELECT indicator, threshold FROM crm_health").fetchall()
    finally:
        views.close()
    assert [("core_fields_complete", 0.9)] == rows
