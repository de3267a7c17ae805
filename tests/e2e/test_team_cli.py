"""``eventchain team join / update / list / leave`` through the CLI (CliRunner, SQLite)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from application.event_chain import EventChain
from application.rules import roster
from domain.routing import haversine_km
from eventchain.cli import main


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], prog_name="eventchain")


def test_an_inline_agent_joins_with_its_skills_and_updates_show_in_the_list(tmp_path: Path) -> None:
    joined = run(
        tmp_path,
        "team", "join",
        "--agent", "agent_id=a-sun", "--agent", "name=孙工", "--agent", "team=hz",
        "--agent", "city=杭州", "--agent", "skills=智能硬件,视觉质检", "--agent", "manager=m-zhao",
    )  # fmt: skip
    assert joined.exit_code == 0, joined.output
    assert "skills 智能硬件,视觉质检  manager m-zhao  active" in run(tmp_path, "team", "list").output
    assert run(tmp_path, "team", "update", "a-sun", "--set", "status=away").exit_code == 0
    listed = run(tmp_path, "team", "list").output
    assert listed.strip().endswith("away") and "a-sun" in listed


def test_bad_agents_and_unknown_ids_fail_with_one_line_and_record_nothing(tmp_path: Path) -> None:
    missing = run(tmp_path, "team", "join", "--agent", "agent_id=a-x", "--agent", "team=hz")
    assert missing.exit_code != 0 and "missing required field `name`" in missing.output
    assert "Traceback" not in missing.output
    unknown = run(tmp_path, "team", "update", "a-nobody", "--set", "status=away")
    assert unknown.exit_code != 0 and "a-nobody" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    assert run(tmp_path, "team", "list").output.strip() == ""
    assert EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}").max_notification_id() in (0, None)


def test_inline_numbers_are_stored_as_numbers_and_the_expo_router_can_use_them(tmp_path: Path) -> None:
    """Regression: ``--agent lat=30.2`` stored the text "30.2" and haversine_km raised TypeError."""
    joined = run(
        tmp_path,
        "team", "join",
        "--agent", "agent_id=a-geo", "--agent", "name=地推", "--agent", "team=expo",
        "--agent", "lat=30.2", "--agent", "lon=120.1", "--agent", "capacity=5",
    )  # fmt: skip
    assert joined.exit_code == 0, joined.output
    assert run(tmp_path, "team", "update", "a-geo", "--set", "lat=30.3").exit_code == 0

    agent = roster(EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")).agents["a-geo"]

    assert (agent.lat, agent.lon, agent.capacity) == (30.3, 120.1, 5)
    assert haversine_km(agent.lat, agent.lon, 30.3, 120.1) == 0.0
    refused = run(tmp_path, "team", "join", "--agent", "agent_id=a-bad", "--agent", "name=x",
                  "--agent", "team=t", "--agent", "lat=north")  # fmt: skip
    assert refused.exit_code != 0 and "$.lat" in refused.output and "Traceback" not in refused.output


def test_leaving_hands_every_owned_customer_over_as_an_event_with_actor_and_reason(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "examples"
    assert run(tmp_path, "team", "join", "--file", str(root / "team.toml")).exit_code == 0
    assert run(tmp_path, "rules", "apply", str(root / "rules.toml"), "--note", "v1").exit_code == 0
    assert run(tmp_path, "ingest", str(root / "touchpoints.jsonl")).exit_code == 0
    from followers.router import route_pending

    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    assert route_pending(app) > 0
    owners = {cid: app.get_customer(cid, follow_merges=False).owner_agent_id for cid in app.customer_ids()}
    leaver = max(set(owners.values()) - {None, "m-zhao"}, key=list(owners.values()).count)
    left = run(tmp_path, "team", "leave", str(leaver), "--reason", "resigned", "--actor", "hr-liu")
    assert left.exit_code == 0, left.output
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    assert all(app.get_customer(cid, follow_merges=False).owner_agent_id != leaver for cid in owners)
    handovers = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(1, 100_000)
        if n.topic.endswith("LeadAssigned")
    ]
    handovers = [e for e in handovers if e.matched_step == "handover"]
    assert len(handovers) == sum(owner == leaver for owner in owners.values())
    assert all(e.actor == "hr-liu" and "resigned" in e.reason and e.rule_version == 1 for e in handovers)
