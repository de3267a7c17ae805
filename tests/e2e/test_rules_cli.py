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
    assert eventchain(tmp_path, "ingest", str(ROOT / "examples" / "touchpoints.jsonl")).returncode in (0, 1)
    assert (
        eventchain(
            tmp_path, "rules", "apply", str(ROOT / "examples" / "rules.toml"), "--note", "v1"
        ).returncode
        == 0
    )
    from adapters.application import EventChain
    from adapters.router import route_pending

    route_pending(EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}"))
    same = json.loads(
        eventchain(tmp_path, "replay", "what-if", "--rules", "1", "--as", "exec", "--json").stdout
    )
    assert same["changed"] == 0 and same["leads"] > 0
    left = eventchain(tmp_path, "team", "leave", "a-wang", "--reason", "resigned", "--actor", "hr-liu")
    assert left.returncode == 0 and "handed over to m-zhao" in left.stdout
    again = eventchain(tmp_path, "team", "leave", "a-wang", "--reason", "again", "--actor", "hr-liu")
    assert again.returncode == 1 and "no agent a-wang" in again.stderr
