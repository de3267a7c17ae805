"""The rules in force as the views see them: projected from ``RulesRevised``, never defaulted
in SQL, and the workspace's deadlines taken from them with the SLA's own definition."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from application.event_chain import EventChain
from application.rules import apply_rules, rollback_rules
from domain.customer import Customer
from domain.sla import first_response_deadline
from projections.visibility import load_visible_customers, parse_role
from projections.workspace_queries import waiting_leads
from tests.projection_support import T0, lead_and_reply, project

RULES = """
[sla]
first_response_minutes = {minutes}
vip_first_response_minutes = 3
{hours}
"""


def _store(tmp_path: Path) -> EventChain:
    return EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")


def test_the_views_show_the_rules_in_force_and_follow_a_rollback(tmp_path: Path) -> None:
    app = _store(tmp_path)
    apply_rules(app, RULES.format(minutes=20, hours=""), "ops", "first")
    apply_rules(app, RULES.format(minutes=45, hours="") + "[silence]\ndays = 2\n", "ops", "slower")
    views = project(app, tmp_path / "views.duckdb")
    in_force = views.connection.execute(
        "SELECT rule_version, first_response_minutes, vip_first_response_minutes, silence_days"
        " FROM ec.rules_in_force"
    ).fetchall()
    assert in_force == [(2, 45, 3, 2)]

    rollback_rules(app, 1, "ops", "back")
    views.close()
    views = project(app, tmp_path / "views.duckdb")
    versions = views.connection.execute(
        "SELECT rule_version, first_response_minutes FROM ec.rules ORDER BY rule_version"
    ).fetchall()
    assert versions == [(1, 20), (2, 45), (3, 20)]
    assert views.connection.execute("SELECT rule_version FROM ec.rules_in_force").fetchall() == [(3,)]


def test_no_rules_recorded_means_no_deadline_not_a_default(tmp_path: Path) -> None:
    app = _store(tmp_path)
    app.record(lead_and_reply(1, "web_form", T0, None))
    views = project(app, tmp_path / "views.duckdb")
    assert views.connection.execute("SELECT count(*) FROM ec.rules_in_force").fetchone() == (0,)
    load_visible_customers(views.connection, parse_role("exec"), None)
    [lead] = waiting_leads(views.connection).dicts()
    assert lead["deadline_at"] is None


def test_waiting_leads_use_vip_minutes_and_working_hours_from_the_rules(tmp_path: Path) -> None:
    app = _store(tmp_path)
    hours = 'business_hours = "09:00-18:00"\ncalendar = "weekdays"'
    apply_rules(app, RULES.format(minutes=30, hours=hours), "ops", "office hours")
    late = T0.replace(hour=17, minute=50)  # a Monday, 10 minutes before closing
    app.record(lead_and_reply(1, "web_form", late, None))
    [result] = app.record(lead_and_reply(2, "web_form", late + timedelta(minutes=1), None))
    customer: Customer = app.repository.get(result.placements[0].customer_id)
    customer.change_tags(["vip"], [], late, "test", app.clock())
    app.save(customer)
    views = project(app, tmp_path / "views.duckdb")
    load_visible_customers(views.connection, parse_role("exec"), None)
    rows = waiting_leads(views.connection).dicts()

    working = app_rules_working_time(views)
    assert [r["vip"] for r in rows] == [True, False]  # the VIP's 3 minutes come first
    assert rows[0]["deadline_at"] == first_response_deadline(rows[0]["lead_at"], 3, working)
    # 10 working minutes on Monday, 20 more from Tuesday's opening.
    assert rows[1]["deadline_at"] == (late + timedelta(days=1)).replace(hour=9, minute=20)


def app_rules_working_time(views: object) -> object:
    from projections.workspace_queries import rules_in_force

    sla = rules_in_force(views.connection)  # type: ignore[attr-defined]
    assert sla is not None and sla.business_hours == "09:00-18:00"
    return sla.working_time()
