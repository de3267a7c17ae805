"""The projector: follows the store's notification log and applies it to the DuckDB views.

PostgreSQL pushes new notifications (the library's LISTEN/NOTIFY subscription); the
library's SQLite recorder cannot subscribe, so there it polls. Either way the projector
drains what is available into batches of up to ``batch_size`` events and applies each
batch together with its tracking position in ONE DuckDB transaction: killed at any
point, it resumes after the last committed batch, so every event takes effect once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, Final

from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.crypto import EncryptingMapper
from adapters.store import RawNotification, select_raw_notifications
from application.event_chain import EventChain
from projections.decoding import (
    PROJECTED_EVENTS,
    STAGED_EVENTS,
    ProjectedEvent,
    SealedStaging,
    StagedBlock,
    StagedEvent,
    as_notification,
    fast_decode,
    mapper_decode,
    qualname_of,
    recorded_at,
    supports_fast_path,
    supports_sealed_path,
)
from projections.reading import LogRange, read_range, supports_range_reads
from projections.views import DuckDBViews

APPLICATION_NAME: Final = EventChain.name
DEFAULT_BATCH_SIZE: Final = 50_000
FAST_FORWARD: Final = 100_000  # behind by more than this: defer per-customer recomputation
POLL_INTERVAL: Final = 0.2  # seconds between SQLite polls when idle
log = logging.getLogger(__name__)


class Projector:
    def __init__(
        self,
        app: EventChain,
        views: DuckDBViews,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_commit: Callable[[int], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        fast: bool | None = None,
        as_of: datetime | None = None,
        fast_forward: int = FAST_FORWARD,
    ) -> None:
        self.app = app
        self.fast_forward = fast_forward
        self.views = views
        self.batch_size = batch_size
        self.on_commit = on_commit
        self.on_idle = on_idle or (lambda: None)
        # None: decode in DuckDB whenever the stored format allows it (see projections.decoding)
        self._fast = supports_fast_path(app.mapper) if fast is None else fast
        # personal fields sealed: DuckDB still decodes the staged events, opened one by one
        mapper = app.mapper
        self._sealed = (
            SealedStaging(mapper)
            if fast is None and isinstance(mapper, EncryptingMapper) and supports_sealed_path(mapper)
            else None
        )
        self.as_of = as_of  # only events recorded at or before it (replay --as-of)
        # catch-up reads whole ranges (projections.reading) when DuckDB decodes the events itself
        self._reads_ranges = (
            (self._fast or self._sealed is not None) and as_of is None and supports_range_reads(app.recorder)
        )

    @property
    def position(self) -> int:
        return self.views.max_tracking_id(APPLICATION_NAME) or 0

    def catch_up(self, until: int | None = None, *, refresh: bool = True) -> int:
        """Projects everything recorded so far (or up to notification ``until``); returns
        the number of notifications processed.

        Far behind (more than ``fast_forward`` notifications), batches skip the per-customer
        recomputation and one recomputation runs at the end — the rebuild's trick, several
        times faster. Those intermediate commits are not published (``on_commit`` is not
        called) and a pending recomputation is recorded with them, so a crash midway is
        finished by the next run before anything is published.
        """
        if refresh:
            self._finish_pending_refresh()
        if self._reads_ranges:
            processed = self._catch_up_by_ranges(until, refresh)
        else:
            processed = self._catch_up_by_notifications(until, refresh)
        if refresh:
            self._finish_pending_refresh()
        return processed

    def _catch_up_by_ranges(self, until: int | None, refresh: bool) -> int:
        """The store concatenates each range (projections.reading); the next range is read
        in a thread while DuckDB applies this one (both release the GIL)."""
        processed = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="projector-read") as reader:
            while True:
                head = until if until is not None else self.app.max_notification_id()
                if self.position >= head:
                    return processed

                def read_from(start: int, head: int = head) -> Future[LogRange] | None:
                    end = min(head, start + self.batch_size - 1)
                    if start > end:
                        return None
                    return reader.submit(read_range, self.app.recorder, start, end, self._sealed)

                pending = read_from(self.position + 1)
                while pending is not None:
                    log_range = pending.result()
                    pending = read_from(log_range.end + 1)
                    skip = refresh and self._defers(behind=head - log_range.end)
                    events = [p if isinstance(p, StagedBlock) else self._decode(p) for p in log_range.parts]
                    self._commit(events, log_range.end, refresh=refresh and not skip, defer=skip)
                    processed += log_range.notifications

    def _catch_up_by_notifications(self, until: int | None, refresh: bool) -> int:
        processed = 0
        while True:
            start = self.position + 1
            limit = self.batch_size if until is None else min(self.batch_size, until - start + 1)
            if limit <= 0:
                break
            notifications = self._select(start, limit)
            if not notifications:
                break
            behind = (until if until is not None else self.app.max_notification_id()) - notifications[-1].id
            skip = refresh and self._defers(behind)
            self.apply(notifications, refresh=refresh and not skip, defer=skip)
            processed += len(notifications)
        return processed

    def _defers(self, behind: int) -> bool:
        # Once a catch-up has deferred, partial recomputations would be redone by its final one.
        return behind > self.fast_forward or self.views.refresh_pending()

    def _finish_pending_refresh(self) -> None:
        if self.views.refresh_pending():
            self.views.refresh_all()
            if self.on_commit is not None:
                self.on_commit(self.position)

    def apply(
        self,
        notifications: Sequence[Notification | RawNotification],
        *,
        refresh: bool = True,
        defer: bool = False,
    ) -> None:
        projected = [n for n in notifications if qualname_of(n.topic) in PROJECTED_EVENTS]
        if self._sealed is not None:
            self._sealed.prefetch(projected)
        events = [self._decode(n) for n in projected]
        if self.as_of is not None:
            events = [e for e in events if recorded_at(e) <= self.as_of]
        self._commit(events, notifications[-1].id, refresh=refresh, defer=defer)

    def _commit(self, events: Sequence[Any], position: int, *, refresh: bool, defer: bool) -> None:
        self.views.apply(events, Tracking(APPLICATION_NAME, position), refresh=refresh, defer=defer)
        if self.on_commit is not None and not defer:
            self.on_commit(position)

    def run(self, stop: threading.Event) -> None:
        """Follows the log until ``stop`` is set (first catching up, fast-forwarding a backlog)."""
        self.catch_up()
        if isinstance(self.app.recorder, PostgresApplicationRecorder):
            self._follow_subscription(stop)
        else:
            self._follow_polling(stop)

    def _follow_polling(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.catch_up() == 0:
                self.on_idle()
                stop.wait(POLL_INTERVAL)

    def _follow_subscription(self, stop: threading.Event) -> None:
        inbox: queue.Queue[Notification | BaseException] = queue.Queue(maxsize=self.batch_size * 2)
        with self.app.recorder.subscribe(gt=self.position) as subscription:
            feeder = threading.Thread(target=_feed, args=(subscription, inbox), daemon=True)
            feeder.start()
            while not stop.is_set():
                batch = _drain(inbox, self.batch_size, timeout=POLL_INTERVAL)
                if batch:
                    self.apply(batch)
                else:
                    self.on_idle()
            subscription.stop()

    def _select(self, start: int, limit: int) -> Sequence[Notification | RawNotification]:
        if self._fast or self._sealed is not None:
            return select_raw_notifications(self.app.recorder, start, limit)
        return self.app.recorder.select_notifications(start, limit)

    def _decode(self, notification: Any) -> ProjectedEvent | StagedEvent:
        staged = STAGED_EVENTS.get(qualname_of(notification.topic))
        if self._fast:
            if staged is None:
                return fast_decode(notification)
            return StagedEvent(str(notification.originator_id), staged, notification.state)
        if self._sealed is not None:
            if staged is None:
                return mapper_decode(self.app.mapper, as_notification(notification))
            return self._sealed.event(notification, staged)
        return mapper_decode(self.app.mapper, notification)


def _feed(subscription: Any, inbox: queue.Queue[Notification | BaseException]) -> None:
    try:
        for notification in subscription:
            inbox.put(notification)
    except BaseException as error:  # handed to the projector thread, which raises it
        inbox.put(error)


def _drain(
    inbox: queue.Queue[Notification | BaseException], limit: int, timeout: float
) -> list[Notification]:
    try:
        first = inbox.get(timeout=timeout)
    except queue.Empty:
        return []
    batch: list[Notification] = []
    item: Notification | BaseException = first
    deadline = time.monotonic() + 0.05  # gather what arrives together, briefly
    while True:
        if isinstance(item, BaseException):
            raise item
        batch.append(item)
        if len(batch) >= limit:
            return batch
        try:
            item = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return batch
