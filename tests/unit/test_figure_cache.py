"""The workspace's figure cache: once per snapshot, stale-while-revalidate within bounds,
single flight, and current figures for an agent who has just acted. Time is a variable."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventchain.web.figure_cache import FigureCache


class World:
    """A snapshot that moves when told, a clock that moves when told, and figures that say
    which snapshot they were computed from."""

    def __init__(self) -> None:
        self.snapshot = 0
        self.now = 0.0
        self.cache = FigureCache(lambda: self.snapshot, lambda: self.now, refresh_every=2, max_stale=30)

    def figures(self) -> Callable[[], int]:
        return lambda: self.snapshot

    def get(self, fresh: bool = False) -> int:
        value: int = self.cache.get("desk", self.figures(), fresh=fresh)
        self.cache.settle()
        return value


def test_figures_are_computed_once_per_snapshot() -> None:
    world = World()
    assert [world.get(), world.get(), world.get()] == [0, 0, 0]
    assert world.cache.computations == 1


def test_a_moved_snapshot_is_served_stale_then_refreshed_in_the_background() -> None:
    world = World()
    world.get()
    world.snapshot, world.now = 1, 5.0
    assert world.get() == 0  # served at once, as of the old snapshot; recomputed meanwhile
    assert world.get() == 1
    assert world.cache.computations == 2


def test_one_key_is_recomputed_at_most_every_refresh_interval() -> None:
    world = World()
    world.get()
    served = []
    for step in range(1, 30):  # the projector republishes every 0.1 s for 2.9 s
        world.snapshot, world.now = step, step * 0.1
        served.append(world.get())
    assert world.cache.computations == 1 + 1  # one refresh, at 2.0 s
    assert served[:20] == [0] * 20 and served[20:] == [20] * 9


def test_a_costly_figure_is_refreshed_less_often() -> None:
    world = World()

    def costly() -> int:
        world.now += 0.5  # takes half a second of the clock: refreshed at most every 5 s
        return world.snapshot

    cache = world.cache
    cache.get("board", costly)
    for step in range(1, 12):
        world.snapshot, world.now = step, world.now + 0.5
        cache.get("board", costly)
        cache.settle()
    assert cache.computations == 2  # at start, and once 5 s later


def test_a_very_costly_figure_is_still_refreshed_before_it_grows_too_old() -> None:
    world = World()

    def very_costly() -> int:
        world.now += 6.0  # 10 × its cost is 60 s, past max_stale (30 s)
        return world.snapshot

    cache = world.cache
    cache.get("board", very_costly)  # computed from 0 to 6 s
    world.snapshot, world.now = 1, 15.0  # 15 s after its start: half of max_stale
    assert cache.get("board", very_costly) == 0  # served stale, refreshed in the background
    cache.settle()
    assert cache.computations == 2


def test_past_max_stale_a_request_waits_for_current_figures() -> None:
    world = World()
    world.get()
    world.snapshot, world.now = 1, 31.0
    assert world.get() == 1


def test_an_agent_who_just_acted_gets_the_current_snapshot() -> None:
    world = World()
    world.get()
    world.snapshot, world.now = 1, 0.5
    assert world.get(fresh=True) == 1


def test_concurrent_first_views_compute_once() -> None:
    release = threading.Event()
    calls: list[int] = []
    cache = FigureCache(lambda: 0)

    def slow() -> str:
        calls.append(1)
        release.wait(10)
        return "figures"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    while not calls:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == ["figures"] * 8 and calls == [1]


def test_a_failed_computation_is_raised_and_not_kept() -> None:
    cache = FigureCache(lambda: 0)
    with pytest.raises(ZeroDivisionError):
        cache.get("k", lambda: 1 // 0)
    assert cache.get("k", lambda: "ok") == "ok"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 10), st.booleans()), max_size=30))
def test_never_older_than_max_stale_and_fresh_means_current(steps: list[tuple[int, float, bool]]) -> None:
    """Whatever the publications and requests, a request gets figures of the current snapshot
    or figures computed less than ``max_stale`` seconds ago; with ``fresh``, the current."""
    world = World()
    cache = world.cache
    for moves, elapsed, fresh in steps:
        world.snapshot += moves
        world.now += elapsed
        snapshot, computed_at = cache.get("k", lambda: (world.snapshot, world.now), fresh=fresh)
        cache.settle()
        if fresh:
            assert snapshot == world.snapshot
        else:
            assert snapshot == world.snapshot or world.now - computed_at < cache.max_stale
