"""Offboarding hands customers over within capacity (issue 32, seed 001)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from domain.roster import POOL, Agent, Roster

AT = datetime(2026, 3, 2, tzinfo=UTC)


def team(*agents: Agent) -> Roster:
    roster = Roster.start(AT)
    for agent in agents:
        roster.join(agent, "ops", AT)
    return roster


def agent(agent_id: str, manager: str | None, capacity: int = 200, status: str = "active") -> Agent:
    return Agent(
        agent_id, agent_id, "t", None, (), manager, date(2020, 1, 1), capacity=capacity, status=status
    )


def counts(plan: dict[UUID, str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for taker in plan.values():
        result[taker] = result.get(taker, 0) + 1
    return result


def test_a_manager_takes_no_more_than_their_capacity_and_the_rest_overflows_up_and_to_the_pool() -> None:
    roster = team(
        agent("d-top", None, capacity=120), agent("m-boss", "d-top", capacity=50), agent("a-li", "m-boss")
    )
    customers = [uuid4() for _ in range(200)]
    plan = roster.plan_handover("a-li", customers, {"m-boss": 10, "d-top": 100})
    assert {"m-boss": 40, "d-top": 20, POOL: 140} == counts(plan)
    assert set(customers) == set(plan)


def test_a_manager_who_is_away_is_passed_over() -> None:
    roster = team(agent("d-top", None), agent("m-boss", "d-top", status="away"), agent("a-li", "m-boss"))
    assert {"d-top": 3} == counts(roster.plan_handover("a-li", [uuid4() for _ in range(3)], {}))


def test_an_agent_without_a_manager_hands_everything_to_the_pool() -> None:
    roster = team(agent("a-li", None))
    assert {POOL: 2} == counts(roster.plan_handover("a-li", [uuid4(), uuid4()], {}))
