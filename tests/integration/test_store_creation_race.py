"""Processes that open one fresh SQLite store at the same moment all start: the library's
table creation (and its ``__migration__`` tracking record) is serialised across processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from application.event_chain import EventChain

PROCESSES = 4
ROUNDS = 6


def _open(url: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        EventChain.from_url(url).max_notification_id()
        results.put("ok")
    except Exception as error:  # reported to the test, which shows it
        results.put(f"{type(error).__name__}: {error}")


def test_processes_opening_a_fresh_sqlite_store_at_once_all_start(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for round_number in range(ROUNDS):
        url = f"sqlite:///{tmp_path / f'events-{round_number}.db'}"
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=_open, args=(url, barrier, results)) for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        outcomes.extend(results.get(timeout=10) for _ in workers)
    assert outcomes == ["ok"] * (PROCESSES * ROUNDS), [o for o in outcomes if o != "ok"]
