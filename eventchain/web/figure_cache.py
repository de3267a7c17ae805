"""A role's figures, kept per published snapshot, refreshed off the request path.

A figure is a pure function of the published analyst snapshot, the role and the query, so it
is computed once per snapshot and reused by every request (each request is still audited).
While ingest is active the projector republishes about every half second; recomputing every
role's figures on each publication would put each role's first view (60 ms for a rep, 1.5 s
for a director at 1M events) on the request path of whoever comes first, dozens of times a
second on two cores. So, when the snapshot has moved:

- figures computed less than ``refresh_every`` seconds ago are served as they are (their
  "as of" is on the page), and at most one recomputation per key runs every ``refresh_every``
  — or every ``COST_SHARE`` times its last computation's duration when that is longer, so
  refreshing a costly figure (a director's board) never takes more than a tenth of the time,
  capped at half of ``max_stale`` so the refresh starts before the figures grow too old;
- older figures, up to ``max_stale`` seconds, are served while one background recomputation
  (per key, on a small pool) brings them up to date: stale-while-revalidate;
- past ``max_stale``, and for a key never computed, the request computes (single flight:
  concurrent requests for the same key wait for the same computation);
- ``fresh=True`` (an agent who has just acted, so must see the effect once published) always
  computes on the current snapshot.

The clock is injected (monotonic seconds), so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

REFRESH_EVERY: Final = 5.0  # seconds: the most often one key is recomputed (the pages poll every 5 s)
MAX_STALE: Final = 30.0  # seconds: past this a request waits for current figures
SIZE: Final = 512  # keys kept (least recently used dropped)
WORKERS: Final = 2  # background recomputations at once
COST_SHARE: Final = 10  # a key is refreshed at most once per this many times its cost


@dataclass(slots=True)
class _Entry:
    snapshot: Hashable
    computed_at: float
    value: Any
    cost: float  # seconds the computation took


class FigureCache:
    def __init__(
        self,
        snapshot: Callable[[], Hashable],
        clock: Callable[[], float] = time.monotonic,
        *,
        refresh_every: float = REFRESH_EVERY,
        max_stale: float = MAX_STALE,
        size: int = SIZE,
        workers: int = WORKERS,
    ) -> None:
        self._snapshot = snapshot
        self._clock = clock
        self.refresh_every = refresh_every
        self.max_stale = max_stale
        self._size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._running: dict[Hashable, Future[Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="figures")
        self.computations = 0  # how many times a compute function ran (for tests and the bench)

    def get(self, key: Hashable, compute: Callable[[], Any], *, fresh: bool = False) -> Any:
        snapshot = self._snapshot()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                if entry.snapshot == snapshot:
                    return entry.value
                age = self._clock() - entry.computed_at
                if not fresh and age < self.max_stale:
                    # Costly figures less often, but always early enough that the background
                    # refresh lands before they would be too stale to serve.
                    due = min(max(self.refresh_every, COST_SHARE * entry.cost), self.max_stale / 2)
                    if age >= due and key not in self._running:
                        self._start(key, compute, snapshot, background=True)
                    return entry.value
            future = self._running.get(key)
            if future is None or fresh:
                future = self._start(key, compute, snapshot, background=False)
                owner = True
            else:
                owner = False
        if owner:
            self._run(key, compute, snapshot, future)
        return future.result()

    def settle(self, timeout: float = 30.0) -> None:
        """Waits for the recomputations running now (tests, and a clean shutdown)."""
        with self._lock:
            running = list(self._running.values())
        for future in running:
            future.exception(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- internals (called with the lock held, except _run) -------------------------------

    def _start(
        self, key: Hashable, compute: Callable[[], Any], snapshot: Hashable, *, background: bool
    ) -> Future[Any]:
        future: Future[Any] = Future()
        self._running[key] = future
        if background:
            self._pool.submit(self._run, key, compute, snapshot, future)
        return future

    def _run(
        self, key: Hashable, compute: Callable[[], Any], snapshot: Hashable, future: Future[Any]
    ) -> None:
        # The snapshot may move while computing: the figures are stamped with the snapshot read
        # before, so the next request after a move still sees them as older than the file.
        started = self._clock()
        try:
            value = compute()
        except BaseException as error:
            with self._lock:
                if self._running.get(key) is future:
                    del self._running[key]
            future.set_exception(error)
            return
        cost = self._clock() - started
        with self._lock:
            self.computations += 1
            current = self._entries.get(key)
            if current is None or current.computed_at <= started:
                self._entries[key] = _Entry(snapshot, started, value, cost)
                self._entries.move_to_end(key)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            if self._running.get(key) is future:
                del self._running[key]
        future.set_result(value)
