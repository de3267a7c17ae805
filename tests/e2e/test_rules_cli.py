"""``eventchain rules / team / replay what-if`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import eventchain

ROOT = Path(__file__).resolve().parents[2]


def test_apply_diff_rollback_history_and_a_bad_document(tmp_path: Path) -> None:
    v1 = ROOT / "examples" / "rules.toml"
    v2 = tmp_path / "v2.toml"
    v2.write_text(
        v1.read_text(encoding="utf-8").replace("first_response_minutes = 15", "first_response_minutes = 10"),
        encoding="utf-8",
    )
    assert (
        eventchain(tmp_path, "rules", "apply", str(v1), "--note", "first").stdout.strip()
        == "rules version 1 applied"
    )
    assert eventchain(tmp_path, "rules", "apply", str(v2), "--note", "faster").returncode == 0
    assert (
        eventchain(tmp_path, "rules", "diff", "1", "2").stdout.strip()
        == "sla.first_response_minutes: 15 → 10"
    )
    assert "version 3 = version 1" in eventchain(tmp_path, "rules", "rollback", "1", "--note", "undo").stdout
    assert eventchain(tmp_path, "rules", "diff", "1", "3").stdout.strip() == "no changes"
    history = eventchain(tmp_path, "rules", "history").stdout.splitlines()
    assert len(history) == 3 and "(rollback of 1)" in history[2]
    bad = tmp_path / "bad.toml"
    bad.write_text("[routing]\nexpo_radius_km = -1\n", encoding="utf-8")
    refused = eventchain(tmp_path, "rules", "apply", str(bad), "--note", "oops")
    assert refused.returncode == 1 and "$.routing.expo_radius_km" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert json.loads(eventchain(tmp_path, "status", "--json").stdout)["last_rule_version"] == 3


def test_team_join_leave_and_what_if_through_the_cli(tmp_path: Path) -> None:
    assert (
        eventchain(tmp_path, "team", "join", "--file", str(ROOT / "examples" / "team.toml")).returncode == 0
    )
    assert "a-li" in eventchain(tmp_path, "team", "list").stdout
    assert eventchain(tmp_path, "ingest", str(ROOT / "examples" / "touchpoints.jsonl")).returncode == 0
    assert (
        eventchain(
            tmp_path, "rules", "apply", str(ROOT / "examples" / "rules.toml"), "--note", "v1"
        ).returncode
        == 0
    )
    from application.event_chain import EventChain
    from followers.router import route_pending

    route_pending(EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}"))
    same = json.loads(
        eventchain(tmp_path, "replay", "what-if", "--rules", "1", "--as", "exec", "--json").stdout
    )
    assert same["changed"] == 0 and same["leads"] > 0
    left = eventchain(tmp_path, "team", "leave", "a-wang", "--reason", "resigned", "--actor", "hr-liu")
    assert left.returncode == 0 and "to m-zhao)" in left.stdout
    again = eventchain(tmp_path, "team", "leave", "a-wang", "--reason", "again", "--actor", "hr-liu")
    assert again.returncode == 1 and "no agent a-wang" in again.stderr


def test_applying_the_current_document_again_appends_nothing_and_diff_needs_versions(tmp_path: Path) -> None:
    rules = str(ROOT / "examples" / "rules.toml")
    none_yet = eventchain(tmp_path, "rules", "diff", "1", "2")
    assert 1 == none_yet.returncode and "no rules applied yet" in none_yet.stderr
    assert 0 == eventchain(tmp_path, "rules", "apply", rules, "--note", "first").returncode

    again = eventchain(tmp_path, "rules", "apply", rules, "--note", "again")

    assert (0, f"{rules} is the same as rules version 1: nothing applied") == (
        again.returncode,
        again.stdout.strip(),
    )
    assert 1 == len(eventchain(tmp_path, "rules", "history").stdout.splitlines())


def test_joining_the_same_agents_again_changes_nothing_and_other_details_are_refused(tmp_path: Path) -> None:
    team = str(ROOT / "examples" / "team.toml")
    first = eventchain(tmp_path, "team", "join", "--file", team)
    assert (0, "5 agents joined") == (first.returncode, first.stdout.strip())

    again = eventchain(tmp_path, "team", "join", "--file", team)
    assert (0, "0 agents joined; 5 agents already on the team unchanged") == (
        again.returncode,
        again.stdout.strip(),
    )
    one = eventchain(tmp_path, "team", "join", "--file", str(ROOT / "examples" / "team-new.toml"))
    assert "1 agent joined" == one.stdout.strip()
    inline = ("agent_id=a-sun", "name=孙工", "team=hz", "city=杭州")  # moved to Hangzhou
    other = eventchain(tmp_path, "team", "join", *(arg for field in inline for arg in ("--agent", field)))
    assert 1 == other.returncode
    assert (
        "a-sun is already on the team with other details" in other.stderr
        and "team update a-sun" in other.stderr
    )
