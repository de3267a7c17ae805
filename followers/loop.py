"""Followers of the log (router, SLA watcher, silence tagger, notifier) and the loop that
runs one in ``serve``.

A follower folds the log into memory once at start, then on each ``tick`` reads only the
events recorded since (``adapters.log_reader.LogTail``) and acts on what is new or due, so an
idle tick costs one indexed query whatever the log's size. Its effects are idempotent and
tracked (positions in the store, recorded steps, message ids), so a restart or a second
instance adds nothing twice. Each follower checkpoints its fold with the position it reflects
(``followers.checkpoints``): start-up reads the log after the checkpoint only. A tick that
fails (store or NATS down) is retried with backoff from the last checkpoint, so nothing it had
not recorded is lost, and nothing folds the whole log again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from adapters.log_reader import LogTail
from domain.customer import Customer

log = logging.getLogger("eventchain.followers")
MAX_BACKOFF: Final = 30.0
# Events that move touchpoints between customers: a follower reloads the customers they touch
# from their aggregates instead of folding them (simpler than replaying a merge in a fold).
MOVES_TOUCHPOINTS: Final = (Customer.Absorbed, Customer.Unmerged)
_MOVE_KINDS: Final = frozenset(cls.__qualname__ for cls in MOVES_TOUCHPOINTS)


def fold_new(
    tail: LogTail,
    feed: Callable[[str, str, dict[str, Any]], None],
    should_stop: Callable[[], bool],
) -> list[str]:
    """Feeds the events recorded since the tail's position to ``feed``; returns (sorted) the
    customers a merge or unmerge touched, for the caller to reload from their aggregates."""
    moved: set[str] = set()
    for _, kind, originator, fields in tail.read(should_stop):
        if kind in _MOVE_KINDS:
            moved.add(originator)
        else:
            feed(kind, originator, fields)
    return sorted(moved)


class Follower(Protocol):
    name: str

    @property
    def position(self) -> int:
        """The last notification id the follower has read."""
        ...

    def tick(self, should_stop: Callable[[], bool] = ...) -> int:
        """Reads what is new, acts on what is due; returns how many effects it recorded."""
        ...

    def reset(self) -> None:
        """Forgets the in-memory fold (after a failure) for the last checkpoint: the next tick
        reads the log after it."""
        ...

    def checkpoint(self, *, force: bool = True) -> None:
        """Saves the fold with the position it reflects (followers.checkpoints)."""
        ...


@dataclass
class FollowerHealth:
    """What a running follower loop tells operators (metrics, readiness)."""

    recorded: int = 0  # effects recorded since start
    failures: int = 0  # ticks that failed (and were retried)
    last_tick_at: float | None = None  # time.time() of the last successful tick
    last_error: str | None = None


def run_follower(
    follower: Follower, stop: threading.Event, interval: float, health: FollowerHealth | None = None
) -> None:
    """Ticks ``follower`` every ``interval`` seconds until ``stop``; failures are logged and
    retried with exponential backoff (the loop itself never dies of them)."""
    health = health or FollowerHealth()
    backoff = interval
    started, caught_up = time.perf_counter(), False
    while not stop.is_set():
        try:
            done = follower.tick(stop.is_set)
        except Exception as error:
            health.failures += 1
            health.last_error = str(error) or type(error).__name__
            log.warning("%s tick failed (retrying in %.1f s): %s", follower.name, backoff, error)
            follower.reset()
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = interval
        if not caught_up and not stop.is_set():
            caught_up = True
            log.info(
                "%s caught up to %d in %.2f s",
                follower.name,
                follower.position,
                time.perf_counter() - started,
            )
        health.recorded += done
        health.last_tick_at = time.time()
        health.last_error = None
        if done:
            log.info("%s recorded %d", follower.name, done)
        stop.wait(interval)
    try:  # a graceful stop resumes at the log's end, not at the last periodic checkpoint
        follower.checkpoint()
    except Exception as error:
        log.warning("%s could not save its checkpoint on stopping: %s", follower.name, error)
