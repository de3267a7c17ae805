"""Wiring the projector to the runtime settings: one-shot catch-up and the long-running loop."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Final, Protocol

from application.event_chain import EventChain, StoreSettings
from projections.projector import Projector
from projections.snapshot import publish_snapshot
from projections.views import DuckDBViews


class Settings(StoreSettings, Protocol):
    """What the projector needs of the runtime settings (``eventchain.config.Settings`` has it;
    the read side does not import the CLI's configuration)."""

    @property
    def views_path(self) -> Path: ...
    @property
    def snapshot_path(self) -> Path: ...


PUBLISH_INTERVAL: Final = 0.5  # seconds: the analyst snapshot is at most this much older than a commit
RETRY_DELAY: Final = 1.0

log = logging.getLogger("eventchain.projector")


def project_pending(app: EventChain, settings: Settings, *, publish: bool = True) -> int:
    """Projects everything recorded so far into the views and publishes the snapshot."""
    views = DuckDBViews(settings.views_path)
    try:
        processed = Projector(app, views).catch_up()
        if publish:
            publish_snapshot(views, settings.snapshot_path)
        return processed
    finally:
        views.close()


def run_projector(settings: Settings, stop: threading.Event, app: EventChain | None = None) -> None:
    """Follows the log until ``stop`` is set; publishes the snapshot after commits, at most
    every PUBLISH_INTERVAL. A store or DuckDB error is logged and the loop resumes from the
    last committed position after a short delay (nothing is applied twice). When a
    ``replay rebuild`` swaps a new views file in, the loop reopens it and goes on from there."""
    app = app or EventChain.from_settings(settings)
    while not stop.is_set():
        views = DuckDBViews(settings.views_path)
        inode = os.stat(settings.views_path).st_ino
        publisher = _Publisher(views, settings)

        def idle(publisher: _Publisher = publisher, inode: int = inode) -> None:
            publisher.flush_if_due()
            if _inode(settings.views_path) != inode:
                raise ViewsSwappedError

        projector = Projector(app, views, on_commit=publisher.committed, on_idle=idle)
        try:
            publisher.publish()
            projector.run(stop)
        except ViewsSwappedError:
            log.info("views file replaced by a rebuild; reopening it")
            continue
        except Exception as error:  # the loop must survive outages; the position is safe
            log.warning("projector error, resuming from %d: %s", projector.position, error)
            stop.wait(RETRY_DELAY)
        finally:
            if _inode(settings.views_path) == inode:
                publisher.flush()
            views.close()


class ViewsSwappedError(Exception):
    """The views file on disk is no longer the one this projector has open."""


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


class _Publisher:
    def __init__(self, views: DuckDBViews, settings: Settings) -> None:
        self.views = views
        self.target = settings.snapshot_path
        self.dirty = False
        self.last = 0.0

    def committed(self, position: int) -> None:
        self.dirty = True
        self.flush_if_due()

    def flush_if_due(self) -> None:
        if self.dirty and time.monotonic() - self.last >= PUBLISH_INTERVAL:
            self.publish()

    def flush(self) -> None:
        if self.dirty:
            self.publish()

    def publish(self) -> None:
        self.dirty = False
        self.last = time.monotonic()
        publish_snapshot(self.views, self.target)
