"""The director board's intake and CRM health panel (issue 31) over real HTTP: the panel shows
the ledger's rows and the health rows of the director's team (and the company's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from application.rules import roster
from tests.web_support import RunningWorkspace, start_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    yield from start_workspace(tmp_path_factory.mktemp("web-intake"))


def test_the_board_shows_the_intake_and_health_panel(workspace: RunningWorkspace) -> None:
    director = workspace.sign_in("m-zhao")

    page = director.get("/board", headers={"accept": "text/html"})

    assert 200 == page.status_code
    assert 'id="intake-panel"' in page.text and "线索接收对账" in page.text and "CRM 健康度" in page.text


def test_a_director_sees_the_health_of_their_own_team_only(workspace: RunningWorkspace) -> None:
    team = roster(workspace.app).agents["m-zhao"].team
    director = workspace.sign_in("m-zhao")
    executive = workspace.sign_in("d-qian")

    mine = director.get("/api/board").json()["intake_health"]
    everyone = executive.get("/api/board").json()["intake_health"]

    assert mine["health"] and {row["team"] for row in mine["health"]} <= {team, "*"}
    assert {row["team"] for row in everyone["health"]} - {team, "*"}, "exec sees the other teams"
    assert isinstance(mine["intake"], list)
