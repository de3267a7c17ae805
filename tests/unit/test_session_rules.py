"""The session rules of ``domain.sessions`` over arbitrary interleavings of sign-ins, requests,
sign-outs, clock moves, departures, role changes, holds and exec grants: a session that
lets a request through is never ended, never past its lifetimes, its agent is on the team
and not held, and its role is what the roster says now (not at sign-in)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.roster import Agent
from domain.sessions import (
    ENDED_BY_USER,
    EXPIRED,
    HELD,
    IDLE,
    LEFT,
    Granted,
    Refused,
    Session,
    SessionPolicy,
    Standing,
    authorise,
    ended,
    expiry_of,
    may_end,
    open_session,
    role_of,
    touched,
)

POLICY = SessionPolicy(
    idle=timedelta(minutes=30), absolute=timedelta(hours=8), touch_every=timedelta(minutes=1)
)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AGENTS = ("a-wang", "a-li", "m-zhao")

operations = st.lists(
    st.one_of(
        st.tuples(st.just("sign_in"), st.sampled_from(AGENTS)),
        st.tuples(st.just("request"), st.integers(0, 7)),
        st.tuples(st.just("sign_out"), st.integers(0, 7)),
        st.tuples(st.just("end_all"), st.sampled_from(AGENTS)),
        st.tuples(st.just("wait"), st.integers(0, 6 * 60 * 60)),  # seconds
        st.tuples(st.just("leave"), st.sampled_from(AGENTS)),
        st.tuples(st.just("rejoin"), st.sampled_from(AGENTS)),
        st.tuples(st.just("manage"), st.sampled_from(AGENTS)),  # a-li reports to this agent
        st.tuples(st.just("hold"), st.sampled_from(AGENTS)),
        st.tuples(st.just("release"), st.sampled_from(AGENTS)),
        st.tuples(st.just("grant_exec"), st.sampled_from(AGENTS)),
        st.tuples(st.just("revoke_exec"), st.sampled_from(AGENTS)),
    ),
    max_size=60,
)


@dataclass
class World:
    now: datetime = START
    agents: dict[str, Agent] = field(
        default_factory=lambda: {
            "a-wang": Agent("a-wang", "王", "east", manager="m-zhao"),
            "a-li": Agent("a-li", "李", "east", manager="m-zhao"),
            "m-zhao": Agent("m-zhao", "赵", "east"),
        }
    )
    standings: dict[str, Standing] = field(default_factory=lambda: {a: Standing() for a in AGENTS})
    sessions: list[Session] = field(default_factory=list)
    ended_for_good: set[str] = field(default_factory=set)

    def pick(self, index: int) -> Session | None:
        return self.sessions[index % len(self.sessions)] if self.sessions else None

    def put(self, session: Session) -> None:
        self.sessions = [session if s.key == session.key else s for s in self.sessions]


def run(world: World, operation: tuple[str, object]) -> Granted | Refused | None:
    """Applies one operation as the application would; the answer when it is a request."""
    name, argument = operation
    if name == "sign_in":
        assert isinstance(argument, str)
        world.sessions.append(
            open_session(f"s{len(world.sessions)}", argument, world.now, "10.0.0.1", "test")
        )
    elif name == "wait":
        assert isinstance(argument, int)
        world.now += timedelta(seconds=argument)
    elif name in ("sign_out", "request"):
        assert isinstance(argument, int)
        session = world.pick(argument)
        if session is None:
            return None
        if name == "sign_out":
            world.put(ended(session, world.now, ENDED_BY_USER))
            world.ended_for_good.add(session.key)
            return None
        access = authorise(session, world.now, POLICY, world.agents, world.standings[session.agent_id])
        if isinstance(access, Granted):
            seen = touched(session, world.now, POLICY)
            if seen is not None:
                world.put(seen)
        elif access.reason in (EXPIRED, IDLE, LEFT):
            world.put(ended(session, world.now, access.reason))
            world.ended_for_good.add(session.key)
        return access
    elif name == "end_all":
        for session in world.sessions:
            if session.agent_id == argument:
                world.put(ended(session, world.now, "ended by an administrator"))
                world.ended_for_good.add(session.key)
    else:
        assert isinstance(argument, str)
        agent, standing = world.agents[argument], world.standings[argument]
        if name in ("leave", "rejoin"):
            world.agents[argument] = replace(agent, status="left" if name == "leave" else "active")
        elif name == "manage":
            world.agents["a-li"] = replace(world.agents["a-li"], manager=argument)
        elif name in ("hold", "release"):
            world.standings[argument] = replace(standing, held=HELD if name == "hold" else None)
        else:
            world.standings[argument] = replace(standing, exec_granted=name == "grant_exec")
    return None


@given(operations, st.integers(0, 7))
def test_a_granted_request_is_within_every_rule_in_any_interleaving(
    steps: list[tuple[str, object]], last: int
) -> None:
    world = World()
    for step in [*steps, ("request", last)]:
        before = {s.key: s for s in world.sessions}
        access = run(world, step)
        if not isinstance(access, Granted):
            continue
        chosen = world.pick(int(step[1]))  # type: ignore[call-overload]
        assert chosen is not None
        session = before[chosen.key]  # as it was when asked
        standing = world.standings[session.agent_id]
        assert session.ended_at is None and session.key not in world.ended_for_good
        assert session.issued_at <= world.now < session.issued_at + POLICY.absolute
        assert world.now < session.last_seen_at + POLICY.idle
        assert world.agents[session.agent_id].status != "left" and standing.held is None
        assert role_of(world.agents, session.agent_id, standing.exec_granted) == access.role


@given(operations)
def test_a_session_that_ended_never_lets_a_request_through_again(steps: list[tuple[str, object]]) -> None:
    world = World()
    for step in steps:
        run(world, step)
    for session in world.sessions:
        if session.key in world.ended_for_good:
            standing = world.standings[session.agent_id]
            assert isinstance(authorise(session, world.now, POLICY, world.agents, standing), Refused)
            assert session.ended_at is not None


@given(operations)
def test_the_role_follows_the_roster_now_not_at_sign_in(steps: list[tuple[str, object]]) -> None:
    """A director demoted (nobody reports to them any more) loses the director role on the very
    next request, whatever happened before."""
    world = World()
    world.sessions.append(open_session("zhao", "m-zhao", world.now, "10.0.0.2", "test"))
    for step in steps:
        if step[0] not in ("wait", "leave", "rejoin", "hold", "end_all", "sign_out"):
            run(world, step)
    manages = any(a.manager == "m-zhao" and a.status != "left" for a in world.agents.values())
    access = authorise(world.sessions[0], world.now, POLICY, world.agents, world.standings["m-zhao"])
    assert isinstance(access, Granted)
    if world.standings["m-zhao"].exec_granted:
        assert "exec" == access.role
    else:
        assert ("director:m-zhao" if manages else "sales:m-zhao") == access.role


@given(st.lists(st.sampled_from(["signed out", EXPIRED, IDLE, LEFT]), min_size=1, max_size=5))
def test_a_session_ends_once_and_keeps_its_first_reason(reasons: list[str]) -> None:
    session = open_session("k", "a-wang", START, "10.0.0.1", "test")
    for minute, reason in enumerate(reasons):
        session = ended(session, START + timedelta(minutes=minute), reason)

    assert (START, reasons[0]) == (session.ended_at, session.ended_reason)


@given(st.integers(0, 24 * 60 * 60))
def test_a_session_runs_exactly_until_its_idle_or_absolute_limit(seconds: int) -> None:
    session = open_session("k", "a-wang", START, "10.0.0.1", "test")
    now = START + timedelta(seconds=seconds)
    expected = EXPIRED if seconds >= 8 * 3600 else IDLE if seconds >= 30 * 60 else None

    assert expected == expiry_of(session, now, POLICY)


def test_only_the_owner_their_director_or_exec_may_end_a_session() -> None:
    team = ("a-wang", "m-zhao")

    assert may_end("sales:a-wang", (), "a-wang", "a-wang")
    assert not may_end("sales:a-li", (), "a-li", "a-wang")
    assert may_end("director:m-zhao", team, "m-zhao", "a-wang")
    assert not may_end("director:m-zhao", team, "m-zhao", "b-sun")
    assert may_end("exec", (), "d-qian", "b-sun")
