"""Followers beside other writers, on real stores: another writer appends to the customer
between a follower's load and its save (the race the issue saw drop leads), and the follower
decides again with what is true now: the lead is routed once, the step escalated once, the
tag changed once, or nothing is recorded because the other writer settled it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from adapters.log_reader import log_events
from application.event_chain import EventChain
from application.merging import merge, unmerge
from domain.customer import Customer
from domain.routing import ROUTER
from followers.router import ROUTER_NAME, Router
from followers.silence import SilenceTagger
from followers.sla_watcher import SlaWatcher
from tests.integration.test_followers import Clock, staffed
from tests.projection_support import T0, envelope


class RacedChain(EventChain):
    """The follower's application: right after it loads a customer (the first ``races``
    times), another writer appends to that customer, so the follower's save conflicts."""

    name = EventChain.name  # the same tables (the library names them after the class)
    races = 0
    other_writer: Callable[[UUID], None] = staticmethod(lambda customer_id: None)

    def get_customer(self, customer_id: UUID, *, follow_merges: bool = True) -> Customer:
        customer = super().get_customer(customer_id, follow_merges=follow_merges)
        if self.races > 0:
            self.races -= 1
            self.other_writer(customer.id)
        return customer


def raced(url: str, other_writer: Callable[[UUID], None], races: int = 1) -> RacedChain:
    app = RacedChain.from_url(url)
    assert isinstance(app, RacedChain)
    app.other_writer = other_writer
    app.races = races
    return app


def touch(url: str, touchpoint_id: str, phone: str, *, direction: str = "inbound") -> Callable[[UUID], None]:
    """Another writer: ingest of the customer's next touchpoint."""

    def write(_: UUID) -> None:
        actor = "a-one" if direction == "outbound" else None
        at = T0 + timedelta(minutes=5)
        EventChain.from_url(url).record(
            [envelope(touchpoint_id, "wecom_msg", at, phone, direction=direction, actor=actor)]
        )

    return write


def tag(url: str, added: str) -> Callable[[UUID], None]:
    """Another writer: a tag (the silence tagger, a rep)."""

    def write(customer_id: UUID) -> None:
        other = EventChain.from_url(url)
        customer = other.get_customer(customer_id)
        customer.change_tags([added], [], T0, "another writer", T0)
        other.save(customer)

    return write


def hand_to(url: str, agent_id: str) -> Callable[[UUID], None]:
    """Another writer: a rep takes the customer (an assignment that is not the router's)."""

    def write(customer_id: UUID) -> None:
        other = EventChain.from_url(url)
        customer = other.get_customer(customer_id)
        customer.assign(agent_id, T0, 1, "handover", "taken by hand", 1.0, "rep:m-boss", T0)
        other.save(customer)

    return write


def events_of(app: EventChain, cls: type) -> list[tuple[str, dict[str, Any]]]:
    return [(customer, fields) for _, _, customer, fields in log_events(app, [cls])]


def lead(app: EventChain, phone: str) -> str:
    app.record([envelope(f"lead-{phone}", "web_form", T0, phone)])
    return str(app.find_customer(f"phone:{phone}").id)


def test_a_lead_whose_customer_is_written_between_load_and_save_is_routed_once(store_url: str) -> None:
    app = staffed(store_url)
    customer = lead(app, "13800000101")
    router = Router(raced(store_url, touch(store_url, "next-101", "13800000101")))
    assert router.tick() == 1
    assert router.tick() == 0
    assert Router(EventChain.from_url(store_url)).tick() == 0  # a restart decides nothing again
    assigned = events_of(app, Customer.LeadAssigned)
    assert [(c, f["agent_id"], f["actor"]) for c, f in assigned] == [(customer, "a-one", ROUTER)]
    assert app.tracked_position(ROUTER_NAME) is not None


def test_a_lead_a_rep_took_between_load_and_save_keeps_the_reps_owner(store_url: str) -> None:
    app = staffed(store_url)
    customer = lead(app, "13800000102")
    router = Router(raced(store_url, hand_to(store_url, "m-boss")))
    assert router.tick() == 0
    assert router.tick() == 0
    assigned = events_of(app, Customer.LeadAssigned)
    assert [(c, f["agent_id"], f["actor"]) for c, f in assigned] == [(customer, "m-boss", "rep:m-boss")]


def test_a_lead_whose_decision_was_lost_is_routed_on_the_next_tick(store_url: str) -> None:
    app = staffed(store_url)
    customer = lead(app, "13800000103")
    app.track(ROUTER_NAME, app.max_notification_id())  # what the old router did on a conflict
    assert Router(EventChain.from_url(store_url)).tick() == 1
    assert Router(EventChain.from_url(store_url)).tick() == 0
    assigned = events_of(app, Customer.LeadAssigned)
    assert [(c, f["agent_id"]) for c, f in assigned] == [(customer, "a-one")]


def test_an_escalation_raced_by_another_writer_is_recorded_once(store_url: str) -> None:
    app = staffed(store_url)
    customer = lead(app, "13800000104")
    Router(app).tick()
    clock = Clock(T0 + timedelta(minutes=16))
    watcher = SlaWatcher(raced(store_url, tag(store_url, "urgent")), clock=clock)
    assert [e.step for e in watcher.escalate()] == [1]
    assert watcher.escalate() == []
    steps = [(c, int(f["step"])) for c, f in events_of(app, Customer.FirstResponseOverdue)]
    assert steps == [(customer, 1)]


def test_an_escalation_answered_between_load_and_save_is_not_recorded(store_url: str) -> None:
    app = staffed(store_url)
    lead(app, "13800000105")
    Router(app).tick()
    clock = Clock(T0 + timedelta(minutes=16))
    answer = touch(store_url, "reply-105", "13800000105", direction="outbound")
    watcher = SlaWatcher(raced(store_url, answer), clock=clock)
    assert watcher.escalate() == []
    clock.now = T0 + timedelta(days=1)
    assert watcher.escalate() == []
    assert events_of(app, Customer.FirstResponseOverdue) == []


def test_a_silence_tag_raced_by_another_writer_is_recorded_once(store_url: str) -> None:
    app = staffed(store_url)
    customer = lead(app, "13800000106")
    tagger = SilenceTagger(raced(store_url, tag(store_url, "vip")), clock=Clock(T0 + timedelta(days=3)))
    assert tagger.apply() == (1, 0)
    assert tagger.apply() == (0, 0)
    silent = [c for c, f in events_of(app, Customer.TagsChanged) if "silent" in f["added"]]
    assert silent == [customer]


def test_a_customer_touched_between_load_and_save_is_not_tagged_silent(store_url: str) -> None:
    app = staffed(store_url)
    lead(app, "13800000107")

    def touched_now(_: UUID) -> None:  # ingest of a touchpoint that is fresh at the tagger's "now"
        EventChain.from_url(store_url).record(
            [envelope("late-107", "wecom_msg", T0 + timedelta(days=3), "13800000107")]
        )

    tagger = SilenceTagger(raced(store_url, touched_now), clock=Clock(T0 + timedelta(days=3)))
    assert tagger.apply() == (0, 0)
    assert [f for _, f in events_of(app, Customer.TagsChanged) if "silent" in f["added"]] == []


def test_a_lead_merged_away_before_routing_is_routed_when_it_is_unmerged(store_url: str) -> None:
    app = staffed(store_url)
    survivor, absorbed = lead(app, "13800000108"), lead(app, "13800000109")
    merge(app, survivor, absorbed, reason="looked the same", actor="ops")
    router = Router(EventChain.from_url(store_url))
    assert router.tick() == 1  # the survivor; the absorbed lead is left alone while merged
    router.checkpoint()
    unmerge(app, survivor, absorbed, reason="two people", actor="ops")
    assert Router(EventChain.from_url(store_url)).tick() == 1  # resumed from the checkpoint
    decided = Counter(c for c, f in events_of(app, Customer.LeadAssigned) if f["actor"] == ROUTER)
    assert decided == Counter({survivor: 1, absorbed: 1})


def test_two_routers_running_at_once_split_brain_own_every_lead_once(store_url: str) -> None:
    """The lease (advisory lock, flock) keeps one router active; it is not what makes routing
    exactly once. Two routers that both believe they are active (a network partition that
    dropped the lock's session while the process ran on) tick side by side while leads
    arrive: the store's tracking record and the customers' versions let each lead be owned
    once, and neither router gives up on a lead the other's conflict touched."""
    app = staffed(store_url)
    routers = [Router(EventChain.from_url(store_url)), Router(EventChain.from_url(store_url))]
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(router: Router) -> None:
        while not stop.is_set():
            try:
                router.tick()
            except BaseException as error:  # surfaced below
                errors.append(error)
                return

    threads = [threading.Thread(target=run, args=(r,), daemon=True) for r in routers]
    for thread in threads:
        thread.start()
    phones = [f"1390000{n:04d}" for n in range(60)]
    for batch in range(0, len(phones), 5):
        app.record([envelope(f"lead-{p}", "web_form", T0, p) for p in phones[batch : batch + 5]])
    for router in routers:  # both have seen the whole log before the check
        while router.position < app.max_notification_id() and not errors:
            threading.Event().wait(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    for router in routers:
        router.tick()  # a last tick each: nothing left to decide
    owned = Counter(customer for customer, _ in events_of(app, Customer.LeadAssigned))
    customers = {str(app.find_customer(f"phone:{p}").id) for p in phones}
    assert set(owned) == customers and set(owned.values()) == {1}
