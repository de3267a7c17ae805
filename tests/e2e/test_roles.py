"""Three roles over one shared dataset, on every read path; reassignment moves visibility."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.cli import eventchain


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    kek = (data_dir / "demo.kek").read_text() if (data_dir / "demo.kek").exists() else None
    return eventchain(data_dir, *args, kek=kek)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("roles")
    result = run(directory, "demo", "--customers", "30")
    assert result.returncode == 0, result.stderr
    return directory


def owners(directory: Path) -> dict[str, str | None]:
    with duckdb.connect(str(directory / "analytics.duckdb"), read_only=True) as connection:
        return dict(
            connection.execute("SELECT customer_id::VARCHAR, owner_agent_id FROM customer_360").fetchall()
        )


def escalated_to(directory: Path) -> dict[str, set[str]]:
    """Agent → the customers whose first-response escalation was addressed to them."""
    with duckdb.connect(str(directory / "analytics.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT customer_id::VARCHAR, escalated_to FROM sla_breaches").fetchall()
    found: dict[str, set[str]] = {}
    for customer_id, agent in rows:
        found.setdefault(agent, set()).add(customer_id)
    return found


def exported(directory: Path, role: str) -> set[str]:
    result = run(directory, "export", "--as", role)
    assert result.returncode == 0, result.stderr
    return {row["customer_id"] for row in csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff")))}


def test_each_role_sees_exactly_its_customers_on_every_read_path(demo_dir: Path) -> None:
    owner = owners(demo_dir)
    escalated = escalated_to(demo_dir)
    hz_team = {"a-wang", "a-chen", "m-zhao", "d-qian"}  # examples/team.toml: team hz (+ reports to d-qian)
    expected = {
        "exec": set(owner),
        "director:d-qian": {c for c, o in owner.items() if o in hz_team} | escalated.get("d-qian", set()),
        "sales:a-li": {c for c, o in owner.items() if o == "a-li"} | escalated.get("a-li", set()),
    }
    # The director is escalated customers her team does not own, and can open them.
    outside = sorted(escalated.get("d-qian", set()) - {c for c, o in owner.items() if o in hz_team})
    assert outside
    opened = run(demo_dir, "customer", outside[0], "--as", "director:d-qian")
    assert opened.returncode == 0, opened.stderr
    assert (
        expected["sales:a-li"] and expected["director:d-qian"] and expected["sales:a-li"] < expected["exec"]
    )
    for role, customers in expected.items():
        assert exported(demo_dir, role) == customers, role
        listing = run(demo_dir, "customers", "--as", role)
        assert f"{len(customers)} customers visible" in listing.stderr or role == "exec", listing.stderr
        assert {row.split("\t")[0] for row in listing.stdout.splitlines()[1:]} == customers, role
        report = run(
            demo_dir, "report", "--html", str(demo_dir / f"{role.replace(':', '-')}.html"), "--as", role
        )
        assert report.returncode == 0, report.stderr
    other = next(iter(expected["director:d-qian"] - expected["sales:a-li"]))
    hidden = run(demo_dir, "customer", other, "--as", "sales:a-li")
    assert hidden.returncode == 1 and "not found" in hidden.stderr


def test_reassignment_moves_visibility_after_the_views_update(demo_dir: Path) -> None:
    before = exported(demo_dir, "sales:a-li")
    assert before
    assert run(demo_dir, "team", "leave", "a-li", "--reason", "resigned", "--actor", "hr-liu").returncode == 0
    assert exported(demo_dir, "sales:a-li") == before  # the views have not seen the handover yet
    assert run(demo_dir, "replay", "rebuild").returncode == 0
    assert exported(demo_dir, "sales:a-li") == set()
    assert before <= exported(demo_dir, "sales:m-zhao")


def test_status_json_numbers_match_the_store_and_the_views(demo_dir: Path) -> None:
    import json

    from adapters.crypto import parse_kek
    from application.event_chain import EventChain

    status = json.loads(run(demo_dir, "status", "--json").stdout)
    kek = parse_kek((demo_dir / "demo.kek").read_text())
    app = EventChain.from_url(f"sqlite:///{demo_dir / 'events.db'}", kek=kek)
    with duckdb.connect(str(demo_dir / "analytics.duckdb"), read_only=True) as connection:
        projected = connection.execute("SELECT max(notification_id) FROM ec.tracking").fetchone()
    assert status["store_position"] == app.max_notification_id()
    assert projected is not None and status["projector_position"] == projected[0]
    assert status["projector_lag"] == status["store_position"] - status["projector_position"]
    assert status["last_rule_version"] == 1
    assert status["snapshot_age_s"] is not None and status["snapshot_age_s"] >= 0
