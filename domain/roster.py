"""The sales roster (SPEC §4): agents as events on one Roster aggregate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate

ROSTER_ID: Final = uuid5(UUID("3f1e9a40-7c55-4e0e-9a7d-6b3d2c1f0a99"), "roster")
POOL: Final = "pool"  # the owner of customers no agent has taken
AGENT_FIELDS: Final = (
    "name",
    "team",
    "city",
    "skills",
    "manager",
    "hired_on",
    "lat",
    "lon",
    "capacity",
    "status",
)


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: str
    name: str
    team: str
    city: str | None = None
    skills: tuple[str, ...] = ()
    manager: str | None = None
    hired_on: date | None = None
    lat: float | None = None
    lon: float | None = None
    capacity: int = 200
    status: str = "active"  # active / away / left

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            "team": self.team,
            "city": self.city,
            "skills": list(self.skills),
            "manager": self.manager,
            "hired_on": None if self.hired_on is None else self.hired_on.isoformat(),
            "lat": self.lat,
            "lon": self.lon,
            "capacity": self.capacity,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Agent:
        """Decoded by msgspec, like the rules: typed values from TOML or stored events as they
        are, and text from the command line (``lat=30.2``, ``capacity=5``) converted to the
        field's type; anything else raises ValueError naming the field. None means "not
        given" (the default)."""
        unknown = set(data) - {"agent_id", *AGENT_FIELDS}
        if unknown:
            raise ValueError(f"unknown agent fields: {', '.join(sorted(unknown))}")
        given = {name: value for name, value in data.items() if value is not None}
        try:
            return msgspec.convert(given, cls, strict=False)
        except msgspec.ValidationError as error:
            raise ValueError(str(error)) from None


class RosterError(ValueError):
    pass


class Roster(Aggregate):
    class Created(Aggregate.Created):
        pass

    class AgentJoined(Aggregate.Event):
        agent: dict[str, Any]
        actor: str

        def apply(self, aggregate: Roster) -> None:
            agent = Agent.from_dict(self.agent)
            aggregate.agents[agent.agent_id] = agent

    class AgentUpdated(Aggregate.Event):
        agent_id: str
        changes: dict[str, Any]
        actor: str

        def apply(self, aggregate: Roster) -> None:
            current = aggregate.agents[self.agent_id].as_dict()
            aggregate.agents[self.agent_id] = Agent.from_dict({**current, **self.changes})

    class AgentLeft(Aggregate.Event):
        agent_id: str
        handover_to: str
        reason: str
        actor: str
        left_at: datetime

        def apply(self, aggregate: Roster) -> None:
            aggregate.agents[self.agent_id] = replace(aggregate.agents[self.agent_id], status="left")

    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}

    @classmethod
    def start(cls, at: datetime) -> Roster:
        return cls._create(cls.Created, id=ROSTER_ID, timestamp=at)

    def join(self, agent: Agent, actor: str, at: datetime) -> None:
        if agent.agent_id in self.agents and self.agents[agent.agent_id].status != "left":
            raise RosterError(f"agent {agent.agent_id} is already on the team")
        self.trigger_event(self.AgentJoined, timestamp=at, agent=agent.as_dict(), actor=actor)

    def update(self, agent_id: str, changes: dict[str, Any], actor: str, at: datetime) -> None:
        self._member(agent_id)
        unknown = set(changes) - set(AGENT_FIELDS)
        if unknown:
            raise RosterError(f"unknown agent fields: {', '.join(sorted(unknown))}")
        updated = Agent.from_dict({**self.agents[agent_id].as_dict(), **changes}).as_dict()
        typed = {name: updated[name] for name in changes}  # recorded as decoded, not as typed in
        self.trigger_event(self.AgentUpdated, timestamp=at, agent_id=agent_id, changes=typed, actor=actor)

    def leave(self, agent_id: str, reason: str, actor: str, at: datetime) -> str:
        """Marks the agent gone and returns who takes their customers (manager or the pool)."""
        agent = self._member(agent_id)
        handover = agent.manager if agent.manager and self._active(agent.manager) else POOL
        self.trigger_event(
            self.AgentLeft,
            timestamp=at,
            agent_id=agent_id,
            handover_to=handover,
            reason=reason,
            actor=actor,
            left_at=at,
        )
        return handover

    def plan_handover(
        self, agent_id: str, customers: Sequence[UUID], load: Mapping[str, int]
    ) -> dict[UUID, str]:
        """Who takes each of a leaving agent's customers: their manager, then that manager's
        manager and on up the chain, each only up to their capacity (``load``: customers they
        own now); the rest go to the pool. Seed 001's offboarding, without burying one manager."""
        takers: list[str] = []
        seen = {agent_id}
        current = self._member(agent_id).manager
        while current is not None and current not in seen and current in self.agents:
            seen.add(current)
            if self._active(current):
                takers.append(current)
            current = self.agents[current].manager
        room = {taker: max(0, self.agents[taker].capacity - load.get(taker, 0)) for taker in takers}
        plan: dict[UUID, str] = {}
        for customer_id in customers:
            taker = next((t for t in takers if room[t] > 0), POOL)
            if taker != POOL:
                room[taker] -= 1
            plan[customer_id] = taker
        return plan

    def _member(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None or agent.status == "left":
            raise RosterError(f"no agent {agent_id} on the team")
        return agent

    def _active(self, agent_id: str) -> bool:
        agent = self.agents.get(agent_id)
        return agent is not None and agent.status == "active"


@dataclass
class RosterState:
    """The roster as a fold over its events (for the router, which follows the log)."""

    agents: dict[str, Agent] = field(default_factory=dict)

    def apply(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == Roster.AgentJoined.__qualname__:
            agent = Agent.from_dict(fields["agent"])
            self.agents[agent.agent_id] = agent
        elif kind == Roster.AgentUpdated.__qualname__:
            current = self.agents[fields["agent_id"]].as_dict()
            self.agents[fields["agent_id"]] = Agent.from_dict({**current, **fields["changes"]})
        elif kind == Roster.AgentLeft.__qualname__:
            self.agents[fields["agent_id"]] = replace(self.agents[fields["agent_id"]], status="left")
