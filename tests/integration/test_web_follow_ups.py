"""Follow-up plans in the web workspace over real HTTP: a rep's due steps on the desk with the
suggested action, the plan's progress on the customer page, the execution rate and the
calendar warning on the director's board — each through the role's visibility."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from followers.follow_ups import check_follow_ups
from projections.service import project_pending
from tests.web_support import RunningWorkspace, start_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    for running in start_workspace(tmp_path_factory.mktemp("web-follow-ups")):
        # the demo's answered leads start seed 004's plan (examples/rules.toml); a day later
        # their manual steps are due, two days later overdue and escalated
        latest = max(c.chain[-1].occurred_at for c in _customers(running))
        assert check_follow_ups(running.app, latest + timedelta(days=1, hours=1))
        project_pending(running.app, running.settings)
        yield running


def _customers(running: RunningWorkspace) -> list:  # type: ignore[type-arg]
    from uuid import UUID

    return [running.app.get_customer(UUID(c)) for c in running.owners()]


def test_a_reps_desk_lists_only_their_due_steps_with_the_suggested_action(
    workspace: RunningWorkspace,
) -> None:
    rep = workspace.sign_in("a-wang")
    steps = rep.get("/api/desk").json()["follow_ups"]
    owners = workspace.owners()
    assert steps, "a-wang answered demo leads: their manual steps are due"
    assert {owners[s["customer_id"]] for s in steps} == {"a-wang"}
    assert {(s["step"], s["action"]) for s in steps} == {("manual", "发送产品手册")}
    page = rep.get("/desk", headers={"accept": "text/html"}).text
    assert 'id="follow-ups"' in page and "发送产品手册" in page


def test_the_customer_page_shows_the_plans_progress(workspace: RunningWorkspace) -> None:
    rep = workspace.sign_in("a-wang")
    [first, *_] = rep.get("/api/desk").json()["follow_ups"]
    page = rep.get(f"/customers/{first['customer_id']}", headers={"accept": "text/html"}).text
    assert 'id="plan-progress"' in page and "first_contact" in page


def test_the_board_shows_the_execution_rate_of_the_visible_reps_and_the_calendar(
    workspace: RunningWorkspace,
) -> None:
    director = workspace.sign_in("m-zhao")
    board = director.get("/api/board").json()
    rates = {(r["agent_id"], r["plan"]): r for r in board["follow_up_rates"]}
    assert ("a-wang", "first_contact") in rates
    wang = rates[("a-wang", "first_contact")]
    assert wang["steps"] == wang["met_on_time"] + wang["open"] + (
        wang["steps"] - wang["met_on_time"] - wang["open"]
    )
    assert 0 <= wang["execution_rate"] <= 1
    assert "calendar_warning" in board  # the demo's rules use the 24x7 calendar: nothing to warn
    assert 'id="follow-up-rates"' in director.get("/board", headers={"accept": "text/html"}).text
