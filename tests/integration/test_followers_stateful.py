"""Every lead gets an owner, every time: a Hypothesis state machine on a real store (SQLite
and PostgreSQL, encrypted) interleaves ingest of touchpoints for the same few customers, silence
tagging and SLA escalation on moving clocks, merges, unmerges, erasures, reps taking customers, router
ticks that another writer races between load and save, router restarts from their checkpoints,
and routers killed before their save commits. Invariants: no lead is decided twice; in the end
every live lead has an owner (or was erased, which is the recorded reason why none); a replay of
the routing fold gives the recorded owners."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from adapters.crypto import ErasedCustomerError, new_kek, parse_kek
from adapters.log_reader import log_events
from application.erasure import erase
from application.event_chain import CustomerNotFoundError, EventChain
from application.merging import merge, unmerge
from application.rules import apply_rules, join
from domain.customer import Customer, CustomerMergedError, MergeRefusedError
from domain.roster import Agent
from domain.routing import ROUTER, replay_decisions
from domain.touchpoints import is_lead_touch
from followers.router import ROUTED_EVENTS, Router
from followers.silence import SilenceTagger
from followers.sla_watcher import SlaWatcher
from tests.conftest import fresh_database
from tests.integration.test_follower_conflicts import RacedChain
from tests.integration.test_followers import RULES, TEAM, Clock
from tests.projection_support import T0, envelope

KEK = parse_kek(new_kek())
PEOPLE = 5
# What an operator's merge or unmerge may answer with a refusal (nothing is recorded).
REFUSALS = (CustomerNotFoundError, MergeRefusedError, CustomerMergedError, ErasedCustomerError)
SECOND_AGENT = Agent("a-two", "二", "t", "杭州", (), "m-boss", date(2020, 1, 1))


class KilledBeforeCommit(RuntimeError):
    """The router's process died while its save was in flight (nothing committed)."""


class RouterChain(RacedChain):
    """The router's application: other writers may race it, and its process may die mid-save."""

    name = EventChain.name
    kills = 0

    def save_tracked(self, tracking: Any, *aggregates: Any) -> Any:
        if self.kills > 0:
            self.kills -= 1
            raise KilledBeforeCommit("killed between deciding and committing")
        return super().save_tracked(tracking, *aggregates)


def phone(person: int) -> str:
    return f"1390000{person:04d}"


class Followers(RuleBasedStateMachine):
    postgres_server: str | None = None  # None: a fresh SQLite store per example

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="followers-stateful-")
        server = self.postgres_server
        self.url = f"sqlite:///{self.directory}/events.db" if server is None else fresh_database(server)
        self.opened: list[EventChain] = []  # closed in teardown: PostgreSQL's connections are few
        self.app = self._open(EventChain)
        for agent in (*TEAM, SECOND_AGENT):
            join(self.app, agent, "ops")
        apply_rules(self.app, RULES, "ops", "test rules")
        self.touchpoints = 0
        self.merges: list[tuple[str, str]] = []  # (survivor, absorbed) customer ids
        self.now = T0
        self.router = self._router()
        self.sla_clock, self.silence_clock = Clock(T0), Clock(T0)
        self.sla = SlaWatcher(self._open(EventChain), clock=self.sla_clock)
        self.silence = SilenceTagger(self._open(EventChain), clock=self.silence_clock)

    def _open(self, cls: type[EventChain]) -> EventChain:
        app = cls.from_url(self.url, kek=KEK)
        self.opened.append(app)
        return app

    def _router(self) -> Router:
        return Router(self._open(RouterChain))

    @property
    def router_app(self) -> RouterChain:
        app = self.router.app
        assert isinstance(app, RouterChain)
        return app

    def teardown(self) -> None:
        try:
            for _ in range(2):  # the last tick after every other writer: nothing may be left
                self.router.tick()
            self._check_every_live_lead_has_an_owner()
            self._check_a_replay_gives_the_recorded_owners()
        finally:
            for app in self.opened:
                app.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    # --- other writers ------------------------------------------------------------------

    @rule(person=st.integers(0, PEOPLE - 1), inbound=st.booleans(), minutes=st.integers(1, 180))
    def ingest(self, person: int, inbound: bool, minutes: int) -> None:
        self.touchpoints += 1
        self.now += timedelta(minutes=minutes)
        channel, direction = ("web_form", "inbound") if inbound else ("wecom_msg", "outbound")
        self.app.record(
            [
                envelope(
                    f"tp-{self.touchpoints}",
                    channel,
                    self.now,
                    phone(person),
                    direction=direction,
                    actor=None if inbound else "a-one",
                )
            ]
        )

    @rule(days=st.integers(0, 3))
    def silence_tick(self, days: int) -> None:
        self.silence_clock.now = max(self.silence_clock.now, self.now) + timedelta(days=days)
        self.silence.tick()

    @rule(minutes=st.integers(0, 40))
    def sla_tick(self, minutes: int) -> None:
        self.sla_clock.now = max(self.sla_clock.now, self.now) + timedelta(minutes=minutes)
        self.sla.tick()

    @rule(survivor=st.integers(0, PEOPLE - 1), absorbed=st.integers(0, PEOPLE - 1))
    def merge_customers(self, survivor: int, absorbed: int) -> None:
        with contextlib.suppress(*REFUSALS):
            other = self.app.find_customer(f"phone:{phone(absorbed)}")
            kept = merge(self.app, f"phone:{phone(survivor)}", str(other.id), reason="same", actor="ops")
            self.merges.append((str(kept.id), str(other.id)))

    @rule(data=st.data())
    def unmerge_customers(self, data: st.DataObject) -> None:
        if not self.merges:
            return
        survivor, absorbed = self.merges.pop(data.draw(st.integers(0, len(self.merges) - 1)))
        with contextlib.suppress(*REFUSALS):  # e.g. an erased customer cannot be given back
            unmerge(self.app, survivor, absorbed, reason="not the same", actor="ops")

    @rule(person=st.integers(0, PEOPLE - 1))
    def erase_customer(self, person: int) -> None:
        with contextlib.suppress(CustomerNotFoundError):
            erase(self.app, f"phone:{phone(person)}", "asked to be forgotten", "ops")

    @rule(person=st.integers(0, PEOPLE - 1))
    def rep_takes(self, person: int) -> None:
        try:
            customer = self.app.find_customer(f"phone:{phone(person)}")
        except CustomerNotFoundError:
            return
        customer.assign("m-boss", self.now, 1, "handover", "taken by hand", 1.0, "rep:m-boss", self.now)
        self.app.save(customer)

    # --- the router ---------------------------------------------------------------------

    @rule()
    def router_tick(self) -> None:
        self.router.tick()

    @rule(tag=st.sampled_from(["vip", "urgent"]))
    def router_tick_raced(self, tag: str) -> None:
        """Another writer appends to the first customer the router loads, before it saves."""

        def other_writer(customer_id: UUID) -> None:
            other = self._open(EventChain)
            customer = other.get_customer(customer_id, follow_merges=False)
            customer.change_tags([tag], [], self.now, "another writer", self.now)
            other.save(customer)

        self.router_app.other_writer = other_writer
        self.router_app.races = 1
        self.router.tick()
        self.router_app.races = 0

    @rule(checkpoint=st.booleans())
    def restart_router(self, checkpoint: bool) -> None:
        if checkpoint:
            self.router.checkpoint()
        self.router = self._router()

    @rule()
    def kill_router_mid_save(self) -> None:
        self.router_app.kills = 1
        try:
            self.router.tick()
        except KilledBeforeCommit:
            self.router = self._router()  # the process died: a new one resumes from the store
        self.router_app.kills = 0

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def no_lead_is_decided_twice(self) -> None:
        decided = Counter(c for c, f in self._assigned() if f["actor"] == ROUTER)
        assert all(count == 1 for count in decided.values()), decided

    def _assigned(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c, f) for _, _, c, f in log_events(self.app, [Customer.LeadAssigned])]

    def _check_every_live_lead_has_an_owner(self) -> None:
        touched = log_events(self.app, [Customer.TouchpointRecorded])
        leads = {c for _, _, c, f in touched if is_lead_touch(f["direction"], f["channel"])}
        for customer_id in sorted(leads):
            customer = self.app.get_customer(UUID(customer_id), follow_merges=False)
            if customer.merged_into is None and not customer.erased:
                assert customer.owner_agent_id is not None, f"lead of {customer_id} has no owner"

    def _check_a_replay_gives_the_recorded_owners(self) -> None:
        replayed = replay_decisions((k, c, f) for _, k, c, f in log_events(self.app, ROUTED_EVENTS))
        decided = {d.customer_id: d.agent_id for d in replayed}
        for customer_id, fields in self._assigned():
            if fields["actor"] == ROUTER:
                assert decided[customer_id] == fields["agent_id"]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_every_lead_is_owned_once_whatever_runs_beside_the_followers(
    store: str, request: pytest.FixtureRequest
) -> None:
    machine = type("FollowersOnStore", (Followers,), {})
    if store == "postgres":
        machine.postgres_server = request.getfixturevalue("postgres_server")
    examples = 40 if store == "sqlite" else 15  # a fresh database per example on PostgreSQL
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
