"""Routing steps on hand-made rosters and leads; determinism as a property."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.roster import Agent
from domain.routing import Lead, RoutingFold, decide, haversine_km, score, tags_for
from domain.rules import RulesError, diff, parse_rules, rules_from_dict

AT = datetime.fromisoformat("2026-03-02T09:00:00+08:00")
RULES = parse_rules("""
[keywords]
urgent = ["急"]
high_intent = ["招标"]
vip = ["董事长"]
[routing]
new_hire_days = 30
expo_radius_km = 3
fallback_owner = "pool"
[routing.channel_teams]
expo_scan = "cd"
[routing.city_weights]
"成都" = 1.5
[routing.industry_weights]
"医疗设备" = 2.0
[[routing.budget_weights]]
above_cny = 500000
weight = 3.0
""")
VETERAN = Agent("a-old", "老王", "cd", "成都", ("医疗设备",), "m", date(2020, 1, 1), 30.57, 104.06)
NEWBIE = Agent("a-new", "小李", "cd", "成都", ("医疗设备",), "m", date(2026, 2, 25), 30.60, 104.10)
FAR = Agent("a-far", "远", "cd", "北京", ("新能源",), "m", date(2020, 1, 1), 39.9, 116.4)


def lead(**overrides: object) -> Lead:
    base = Lead("c-1", "tp-1", "web_form", AT, "想了解一下", "成都", "医疗设备", None, None, None, False)
    return replace(base, **overrides)  # type: ignore[arg-type]


def agents(*members: Agent) -> dict[str, Agent]:
    return {a.agent_id: a for a in members}


def test_an_expo_scan_with_gps_goes_to_the_nearest_agent_within_the_radius() -> None:
    near = lead(channel="expo_scan", lat=30.5728, lon=104.0668)
    decision = decide(near, RULES, 1, agents(VETERAN, NEWBIE, FAR), {}, {})
    assert (decision.agent_id, decision.matched_step) == ("a-old", "expo_nearest")
    assert haversine_km(30.5728, 104.0668, VETERAN.lat or 0, VETERAN.lon or 0) < 3
    outside = lead(channel="expo_scan", lat=31.5, lon=104.0668)  # > 100 km away: normal steps
    assert decide(outside, RULES, 1, agents(VETERAN, FAR), {}, {}).matched_step != "expo_nearest"


def test_city_then_skill_narrow_the_round_robin() -> None:
    hangzhou = Agent("a-hz", "杭", "x", "杭州", ("智能硬件",), None, date(2020, 1, 1))
    decision = decide(lead(city="杭州", industry="智能硬件"), RULES, 1, agents(hangzhou, FAR), {}, {})
    assert (decision.agent_id, decision.matched_step) == ("a-hz", "city+skill_round_robin")
    by_skill = decide(lead(city="上海", industry="新能源"), RULES, 1, agents(hangzhou, FAR), {}, {})
    assert (by_skill.agent_id, by_skill.matched_step) == ("a-far", "skill_round_robin")


def test_round_robin_takes_turns_among_equal_agents() -> None:
    fold = RoutingFold(rules_override=RULES)
    fold.rule_versions.append({})  # rules "exist" in the log
    fold.roster.agents.update(agents(VETERAN, replace(NEWBIE, hired_on=date(2020, 1, 1))))
    picks = []
    for number in range(4):
        decisions = fold.feed("Customer.TouchpointRecorded", f"c-{number}", _touchpoint(f"t-{number}"))
        picks.append(decisions[0].agent_id)
    assert picks == ["a-new", "a-old", "a-new", "a-old"]


def test_new_hires_get_only_fresh_leads_without_history() -> None:
    fresh = decide(lead(), RULES, 1, agents(NEWBIE), {}, {})
    assert fresh.agent_id == "a-new"
    known = decide(
        lead(has_history=True), RULES, 1, agents(NEWBIE, VETERAN), {}, {"*|city 成都|skill 医疗设备": 0}
    )
    assert known.agent_id == "a-old" and "no new hires" in known.reason
    assert decide(lead(has_history=True), RULES, 1, agents(NEWBIE), {}, {}).agent_id == "pool"


def test_nobody_under_capacity_means_the_fallback_owner() -> None:
    full = replace(VETERAN, capacity=1)
    decision = decide(lead(), RULES, 1, agents(full), {"a-old": 1}, {})
    assert (decision.agent_id, decision.matched_step) == ("pool", "fallback")


def test_keywords_tag_the_lead_and_weights_set_its_priority() -> None:
    hot = lead(text="董事长说今天急需招标参数", budget_cny=800_000)
    assert tags_for(hot, RULES) == ("urgent", "high_intent", "vip")
    assert score(lead(budget_cny=800_000), RULES, ()) == pytest.approx(1.5 * 2.0 * 3.0)
    assert score(hot, RULES, tags_for(hot, RULES)) == pytest.approx(9.0 * 2.0 * 1.5)
    decision = decide(hot, RULES, 7, agents(VETERAN), {}, {})
    assert decision.rule_version == 7 and "tags urgent, high_intent, vip" in decision.reason


def test_invalid_rules_name_the_key_path() -> None:
    with pytest.raises(RulesError) as error:
        parse_rules("[sla]\nfirst_response_minutes = -5\n")
    assert error.value.path == "$.sla.first_response_minutes"
    with pytest.raises(RulesError, match=r"\$.routing.channel_teams.fax"):
        parse_rules('[routing.channel_teams]\nfax = "x"\n')
    with pytest.raises(RulesError, match="unknown field"):
        parse_rules("[sla]\nfirst_reponse_minutes = 5\n")


def test_diff_lists_exactly_the_changed_keys() -> None:
    one = rules_from_dict({"sla": {"first_response_minutes": 15}})
    two = rules_from_dict({"sla": {"first_response_minutes": 10}, "routing": {"city_weights": {"成都": 1.5}}})
    from domain.rules import as_dict

    assert diff(as_dict(one), as_dict(two)) == [
        ("routing.city_weights.成都", None, 1.5),
        ("sla.first_response_minutes", 15, 10),
    ]


def _touchpoint(
    touchpoint_id: str, channel: str = "web_form", minutes: int = 0, city: str = "成都"
) -> dict[str, object]:
    return {
        "touchpoint_id": touchpoint_id,
        "channel": channel,
        "direction": "inbound",
        "occurred_at": (AT + timedelta(minutes=minutes)).isoformat(),
        "summary": "询价",
        "payload": {},
        "contact": {"city": city, "industry": "医疗设备"},
    }


histories = st.lists(
    st.tuples(
        st.integers(0, 8),
        st.sampled_from(["web_form", "douyin_dm", "expo_scan"]),
        st.sampled_from(["成都", "杭州", "北京"]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=100)
@given(histories)
def test_the_same_leads_roster_and_rules_always_give_the_same_assignments(
    history: list[tuple[int, str, str]],
) -> None:
    def run() -> list[tuple[str, str, str]]:
        fold = RoutingFold()
        for agent in (VETERAN, NEWBIE, FAR):
            fold.feed("Roster.AgentJoined", "", {"agent": agent.as_dict()})
        fold.feed("RuleSet.RulesRevised", "", {"document": _as_doc()})
        out = []
        for index, (customer, channel, city) in enumerate(history):
            for d in fold.feed(
                "Customer.TouchpointRecorded",
                f"c-{customer}",
                _touchpoint(f"t-{index}", channel, index, city),
            ):
                out.append((d.customer_id, d.agent_id, d.matched_step))
        return out

    first = run()
    assert first == run()
    assert len(first) == len({c for c, _, _ in first})  # one routing decision per lead


def _as_doc() -> dict[str, object]:
    from domain.rules import as_dict

    return as_dict(RULES)


def test_replaying_the_log_reproduces_decisions_and_a_draft_changes_only_what_it_should() -> None:
    from domain.routing import replay_decisions

    events: list[tuple[str, str, dict[str, object]]] = [
        ("Roster.AgentJoined", "", {"agent": a.as_dict()}) for a in (VETERAN, FAR)
    ]
    events.append(("RuleSet.RulesRevised", "", {"document": _as_doc()}))
    events += [
        ("Customer.TouchpointRecorded", f"c-{i}", _touchpoint(f"t-{i}", "web_form", i, "北京"))
        for i in range(4)
    ]
    recorded = replay_decisions(events)
    assert recorded == replay_decisions(events)
    assert {(d.rule_version, d.agent_id) for d in recorded} == {(1, "a-far")}  # city match wins
    draft = rules_from_dict({**_as_doc(), "routing": {**_as_doc()["routing"], "fallback_owner": "x"}})  # type: ignore[dict-item]
    what_if = replay_decisions(events, rules=draft)
    assert [d.agent_id for d in what_if] == [d.agent_id for d in recorded]  # fallback unused
    assert {d.rule_version for d in what_if} == {0}  # 0 marks a draft, never a stored version


@given(
    lat=st.floats(-90, 90, allow_nan=False),
    lon=st.floats(-180, 180, allow_nan=False),
    capacity=st.integers(0, 10_000),
)
def test_an_agent_typed_in_as_text_equals_the_agent_given_typed_values(
    lat: float, lon: float, capacity: int
) -> None:
    base = {"agent_id": "a-x", "name": "x", "team": "t", "hired_on": "2026-01-05"}
    typed = Agent.from_dict({**base, "lat": lat, "lon": lon, "capacity": capacity})
    text = Agent.from_dict({**base, "lat": repr(lat), "lon": repr(lon), "capacity": str(capacity)})

    assert typed == text == Agent.from_dict(typed.as_dict())
    assert isinstance(text.lat, float) and isinstance(text.capacity, int)


def test_an_agent_with_an_unknown_field_or_a_wrong_type_is_refused_naming_it() -> None:
    base = {"agent_id": "a-x", "name": "x", "team": "t"}
    with pytest.raises(ValueError, match="unknown agent fields: colour"):
        Agent.from_dict({**base, "colour": "red"})
    with pytest.raises(ValueError, match=r"\$\.capacity"):
        Agent.from_dict({**base, "capacity": "many"})
