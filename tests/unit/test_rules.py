"""The rules document and the RuleSet aggregate: validation paths, diff, append-only rollback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.rules import RulesError, RuleSet, as_dict, diff, parse_rules, rules_from_dict

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "rules.toml").read_text(encoding="utf-8")


def test_the_example_document_carries_the_seed_weights() -> None:
    routing = parse_rules(EXAMPLE).routing
    assert routing.city_weights["成都"] == 1.5
    assert routing.industry_weights["医疗设备"] == 2.0
    assert [(b.above_cny, b.weight) for b in routing.budget_weights] == [(500000, 3.0)]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("[sla]\nfirst_response_minutes = 0\n", "$.sla.first_response_minutes"),
        ("[sla]\nescalation_chain = 'manager'\n", "$.sla.escalation_chain"),
        ("[routing]\nexpo_radius_km = -1\n", "$.routing.expo_radius_km"),
        ("[routing.channel_teams]\nfax = 'cd'\n", "$.routing.channel_teams.fax"),
        ("[stages.nowhere]\n", "$.stages.nowhere"),
        ("[sla]\nfirst_response_mins = 5\n", "$.sla"),
        ("[sla\n", "$"),
        ("[read_alerts]\nhours = '20-8'\n", "$.read_alerts.hours"),
        ("[read_alerts]\naction = 'delete'\n", "$.read_alerts.action"),
        ("[read_alerts]\nwindow_minutes = 0\n", "$.read_alerts.window_minutes"),
    ],
)
def test_an_invalid_document_is_refused_naming_the_key_path(text: str, path: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(text)
    assert caught.value.path == path


def test_rollback_appends_a_version_equal_to_the_old_one_and_keeps_history() -> None:
    rules = RuleSet.start(AT)
    v1 = parse_rules(EXAMPLE)
    v2 = parse_rules(EXAMPLE.replace("first_response_minutes = 15", "first_response_minutes = 10"))
    assert rules.revise(v1, "ops", "first", AT) == 1
    assert rules.revise(v2, "ops", "faster", AT) == 2
    assert diff(rules.document(1), rules.document(2)) == [("sla.first_response_minutes", 15, 10)]
    assert rules.rollback(1, "ops", "", AT) == 3
    assert rules.document(3) == rules.document(1)
    assert [r.rollback_of for r in rules.revisions] == [None, None, 1]
    with pytest.raises(RulesError):
        rules.rollback(9, "ops", "", AT)
    assert rules.current == 3  # a refused rollback appends nothing


minutes = st.integers(min_value=1, max_value=1440)
weights = st.dictionaries(st.sampled_from(["成都", "杭州", "北京"]), st.floats(0.1, 10), max_size=3)


@settings(max_examples=50)
@given(minutes, minutes, weights, weights)
def test_diff_lists_exactly_the_keys_that_differ(
    a_min: int, b_min: int, a_w: dict[str, float], b_w: dict[str, float]
) -> None:
    a = as_dict(rules_from_dict({"sla": {"first_response_minutes": a_min}, "routing": {"city_weights": a_w}}))
    b = as_dict(rules_from_dict({"sla": {"first_response_minutes": b_min}, "routing": {"city_weights": b_w}}))
    changed = {path for path, _, _ in diff(a, b)}
    expected = {f"routing.city_weights.{c}" for c in set(a_w) | set(b_w) if a_w.get(c) != b_w.get(c)}
    if a_min != b_min:
        expected.add("sla.first_response_minutes")
    assert changed == expected
    assert diff(a, a) == []


def test_read_alerts_in_the_rules_read_as_the_policy_they_set() -> None:
    from application.read_audit import policy_from_rules

    document = parse_rules(
        "[read_alerts]\nrows = 150\nwindow_minutes = 30\nhours = '9-18'\naction = 'freeze'\n"
    )
    assert document.read_alerts is not None
    policy = policy_from_rules(document.read_alerts)
    assert (150, 30 * 60, (9, 18), "freeze") == (
        policy.max_rows,
        policy.window.total_seconds(),
        policy.working_hours,
        policy.action,
    )
    assert parse_rules("").read_alerts is None  # the environment decides
