"""Rules versions, routing, handovers, SLA escalation and what-if against real stores."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from adapters.log_reader import log_events
from application.event_chain import EventChain
from application.merging import merge
from application.rules import apply_rules, join, leave, owners, rollback_rules, ruleset
from domain.roster import Agent
from domain.rules import RulesError, diff, parse_rules
from followers.router import ROUTED_EVENTS, route_pending
from followers.sla_watcher import check_sla
from replay.rebuild import build_views
from replay.what_if import what_if
from tests.projection_support import T0, envelope, lead_and_reply

V1 = """
[sla]
first_response_minutes = 60
escalation_chain = ["manager", "director"]
[routing]
fallback_owner = "m-boss"
"""
V2 = (
    V1.replace("first_response_minutes = 60", "first_response_minutes = 30")
    + '\n[routing.city_weights]\n"成都" = 1.5\n'
)
TEAM = [
    Agent("a-one", "一", "t", "杭州", (), "m-boss", date(2020, 1, 1)),
    Agent("a-two", "二", "t", "杭州", (), "m-boss", date(2020, 1, 1)),
    Agent("m-boss", "经理", "t", "杭州", (), "d-top", date(2019, 1, 1), capacity=1),
]


def staffed(url: str) -> EventChain:
    app = EventChain.from_url(url)
    for agent in TEAM:
        join(app, agent, "ops")
    return app


def test_rule_versions_roll_back_append_only_and_leads_carry_the_version_in_force(store_url: str) -> None:
    app = staffed(store_url)
    assert apply_rules(app, V1, "ops", "first") == 1
    app.record(lead_and_reply(1, "web_form", T0, 0.2))
    route_pending(app)
    assert apply_rules(app, V2, "ops", "faster SLA") == 2
    app.record(lead_and_reply(2, "web_form", T0, 0.2))
    route_pending(app)
    assert rollback_rules(app, 1, "ops", "too strict") == 3
    app.record(lead_and_reply(3, "web_form", T0, 0.2))
    route_pending(app)
    rules = ruleset(app)
    assert rules.document(3) == rules.document(1) and rules.revisions[2].rollback_of == 1
    assert [p for p, _, _ in diff(rules.document(1), rules.document(2))] == [
        "routing.city_weights.成都",
        "sla.first_response_minutes",
    ]
    versions = {}
    for number in (1, 2, 3):
        customer = app.find_customer(f"phone:1370000{number:04d}")
        versions[number] = customer.owner_agent_id is not None and _assigned_version(app, customer.id)
    assert versions == {1: 1, 2: 2, 3: 3}
    with pytest.raises(RulesError):
        apply_rules(app, "[sla]\nfirst_response_minutes = 'soon'\n", "ops", "bad")
    assert ruleset(app).current == 3  # nothing appended


def _assigned_version(app: EventChain, customer_id: object) -> int:
    return next(
        int(f["rule_version"])
        for _, kind, c, f in log_events(app, ROUTED_EVENTS)
        if kind == "Customer.LeadAssigned" and c == str(customer_id)
    )


def test_an_agent_who_leaves_owns_nothing_afterwards_and_every_handover_is_an_event(tmp_path: Path) -> None:
    app = staffed(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(app, V1, "ops", "first")
    app.record(
        [envelope(f"l{n}", "web_form", T0 + timedelta(minutes=n), f"1390000{n:04d}") for n in range(6)]
    )
    assert route_pending(app) == 6
    mine = [c for c, agent in owners(app).items() if agent == "a-one"]
    assert mine
    boss_room = max(0, 1 - list(owners(app).values()).count("m-boss"))  # m-boss's capacity is 1
    handed = leave(app, "a-one", "resigned", "hr-liu")
    assert len(mine) == sum(handed.values())
    assert min(boss_room, len(mine)) == handed.get("m-boss", 0)  # the rest to the pool, not buried
    assert "a-one" not in owners(app).values()
    handovers = [
        f
        for _, kind, _, f in log_events(app, ROUTED_EVENTS)
        if kind == "Customer.LeadAssigned" and f["matched_step"] == "handover"
    ]
    assert len(handovers) == len(mine)
    assert all(h["actor"] == "hr-liu" and "resigned" in h["reason"] for h in handovers)


def test_a_customer_merged_away_is_not_handed_over(tmp_path: Path) -> None:
    app = staffed(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(app, V1, "ops", "first")
    app.record(
        [envelope(f"m{n}", "web_form", T0 + timedelta(minutes=n), f"1390001{n:04d}") for n in range(8)]
    )
    route_pending(app)
    mine = [c for c, agent in owners(app).items() if agent == "a-one"]
    assert len(mine) >= 2
    merge(app, mine[0], mine[1], reason="same buyer", actor="ops")
    handed = leave(app, "a-one", "resigned", "hr-liu")
    assert len(mine) - 1 == sum(handed.values())
    merged_away = app.get_customer(UUID(mine[1]), follow_merges=False)
    assert merged_away.owner_agent_id == "a-one"  # its survivor was handed over instead


def test_sla_escalates_once_per_step_on_the_clock_and_never_for_leads_answered_in_time(
    store_url: str,
) -> None:
    app = staffed(store_url)
    apply_rules(app, V1, "ops", "first")  # 60 minutes, chain manager → director
    app.record(
        [
            *lead_and_reply(1, "web_form", T0, 0.5),  # answered in time
            *lead_and_reply(2, "web_form", T0, 1.5),  # answered late: step 1 only
            *lead_and_reply(3, "web_form", T0, None),  # never answered
        ]
    )
    route_pending(app)
    assert check_sla(app, T0 + timedelta(minutes=59)) == []  # nothing is due yet
    escalations = check_sla(app, T0 + timedelta(hours=5))  # nothing else arrived: the clock moved
    by_customer: dict[str, list[tuple[int, str, str]]] = {}
    for e in escalations:
        by_customer.setdefault(e.customer_id, []).append((e.step, e.role, e.escalated_to))
        assert e.observed_at == T0 + timedelta(hours=5)
    answered_late = app.find_customer("phone:13700000002")
    never = app.find_customer("phone:13700000003")
    assert by_customer.pop(str(answered_late.id)) == [(1, "manager", "m-boss")]
    steps = by_customer.pop(str(never.id))
    assert [(step, role) for step, role, _ in steps] == [(1, "manager"), (2, "director")]
    assert by_customer == {}
    # Every target is a person on the roster, or the fallback owner with the reason why.
    director_step = next(e for e in escalations if e.customer_id == str(never.id) and e.step == 2)
    assert director_step.escalated_to == "m-boss" and "fallback owner" in director_step.reason
    position = app.max_notification_id()
    restarted = EventChain.from_url(store_url)  # a restarted watcher appends nothing new
    assert check_sla(restarted, T0 + timedelta(days=3)) == [] and restarted.max_notification_id() == position


def test_rebuilding_views_appends_nothing_and_what_if_reproduces_the_recorded_routing(tmp_path: Path) -> None:
    app = staffed(f"sqlite:///{tmp_path / 'events.db'}")
    app.record(
        [envelope(f"w{n}", "web_form", T0 + timedelta(minutes=n), f"1360000{n:04d}") for n in range(8)]
    )
    app.record([envelope("later", "douyin_dm", T0 + timedelta(hours=5), "13700000000")])  # the watermark
    apply_rules(app, V1, "ops", "first")  # the leads waited for rules: routed now
    assert route_pending(app) == 9
    check_sla(app, T0 + timedelta(hours=5))
    position = app.max_notification_id()
    built = build_views(app, tmp_path / "rebuilt.duckdb")
    assert app.max_notification_id() == position
    import duckdb

    with duckdb.connect(str(built.path), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM assignments").fetchone() == (9,)
        assert connection.execute("SELECT count(*) FROM sla_breaches").fetchone()[0] > 0  # type: ignore[index]
    same = what_if(app, parse_rules(V1), now=T0 + timedelta(hours=5))  # the watcher's clock
    assert (same.leads, same.changed, same.appear, same.vanish) == (9, [], [], [])
    lenient = what_if(
        app,
        parse_rules(V1.replace("first_response_minutes = 60", "first_response_minutes = 600")),
        now=T0 + timedelta(hours=5),
    )
    assert lenient.breaches_predicted == 0 and len(lenient.vanish) == lenient.breaches_actual > 0


def test_what_if_with_a_changed_team_mapping_reports_the_expected_changes(tmp_path: Path) -> None:
    app = staffed(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(app, V1, "ops", "first")
    app.record(
        [envelope(f"d{n}", "douyin_dm", T0 + timedelta(minutes=n), f"1350000{n:04d}") for n in range(4)]
    )
    route_pending(app)
    draft = parse_rules(V1 + '\n[routing.channel_teams]\ndouyin_dm = "nobody"\n')
    report = what_if(app, draft)
    not_with_boss = {c for c, agent in owners(app).items() if agent != "m-boss"}
    assert report.leads == 4 and not_with_boss
    assert {c for c, _, _, _ in report.changed} == not_with_boss  # everyone else would go to the fallback
    assert all(predicted == "m-boss" and step == "fallback" for _, _, predicted, step in report.changed)


def test_stage_gates_need_evidence_and_the_silence_tag_comes_and_goes(tmp_path: Path) -> None:
    from application.rules import change_stage
    from followers.silence import apply_silence

    app = staffed(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(
        app, V1 + '\n[silence]\ndays = 30\n[stages.solution]\ndirection = "outbound"\n', "ops", "gates"
    )
    app.record(lead_and_reply(1, "web_form", T0, 1.0))
    with pytest.raises(RulesError, match="needs evidence"):
        change_stage(app, "phone:13700000001", "solution", ["lead-1"], "a-one", "sent the plan")
    change_stage(app, "phone:13700000001", "solution", ["reply-1"], "a-one", "sent the plan")
    assert app.find_customer("phone:13700000001").stage == "solution"
    app.record([envelope("much-later", "douyin_dm", T0 + timedelta(days=45), "13900000001")])
    assert apply_silence(app, T0 + timedelta(days=45)) == (1, 0)
    assert "silent" in app.find_customer("phone:13700000001").tags
    app.record([envelope("back", "wecom_msg", T0 + timedelta(days=46), "13700000001")])
    assert apply_silence(app, T0 + timedelta(days=46)) == (0, 1)
    assert "silent" not in app.find_customer("phone:13700000001").tags
    assert apply_silence(app, T0 + timedelta(days=46)) == (0, 0)  # idempotent


def test_what_if_runs_deadlines_to_now_so_a_friday_lead_due_on_monday_does_not_vanish(tmp_path: Path) -> None:
    office = V1.replace(
        "first_response_minutes = 60",
        'first_response_minutes = 15\nbusiness_hours = "09:00-18:00"\ncalendar = "weekdays"',
    )
    app = staffed(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(app, office, "ops", "office hours")
    friday = T0.replace(day=6, hour=17, minute=55)  # Fri 2026-03-06 17:55, the last event
    app.record([envelope("friday", "web_form", friday, "13600000099")])
    route_pending(app)
    monday = T0.replace(day=9, hour=9, minute=11)  # the deadline was Mon 09:10
    assert check_sla(app, monday)  # the watcher escalated on Monday
    report = what_if(app, parse_rules(office), now=monday)
    assert (report.breaches_actual, report.breaches_predicted, report.vanish) == (1, 1, [])
