"""Group commit for the workspace's read audit: many request threads, one store
transaction. Every page and JSON read appends a ``ReadAudit`` aggregate; one commit each
(≈6 ms on SQLite) would serialise 50 users behind the store's write lock. A request still
waits until its audit row is committed, so no read is ever answered unaudited."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Final

from application.event_chain import EventChain

MAX_GROUP: Final = 500
COMMIT_WAIT_SECONDS: Final = 30.0


class GroupCommit:
    """Stands in for the application where ``application.read_audit.record_read`` needs it
    (``clock`` and ``save``): saves from all threads are committed together."""

    def __init__(self, app: EventChain) -> None:
        self.app = app
        self.clock: Callable[[], datetime] = app.clock
        self._pending: queue.SimpleQueue[tuple[tuple[Any, ...], Future[None]]] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="web-audit-writer", daemon=True)
        self._writer.start()

    def save(self, *aggregates: Any) -> None:
        done: Future[None] = Future()
        self._pending.put((aggregates, done))
        done.result(timeout=COMMIT_WAIT_SECONDS)

    def _write(self) -> None:
        while True:
            group = [self._pending.get()]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            try:
                self.app.save(*(aggregate for aggregates, _ in group for aggregate in aggregates))
            except Exception as error:  # every waiting request learns its audit was not written
                for _, done in group:
                    done.set_exception(error)
            else:
                for _, done in group:
                    done.set_result(None)
