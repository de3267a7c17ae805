"""Wiring the projector to the runtime settings: one-shot catch-up and the long-running loop."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
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
MAX_RETRY_DELAY: Final = 30.0


@dataclass
class ProjectorHealth:
    """What the running projector tells operators (/metrics, /readyz)."""

    failures: int = 0  # errors it retried (opening the views, the store, DuckDB)
    last_error: str | None = None  # None while it projects


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


def run_projector(
    settings: Settings,
    stop: threading.Event,
    app: EventChain | None = None,
    health: ProjectorHealth | None = None,
) -> None:
    """Follows the log until ``stop`` is set; publishes the snapshot after commits, at most
    every PUBLISH_INTERVAL. A store or DuckDB error, or a views file that cannot be opened, is
    logged, reported in ``health`` and retried with backoff from the last committed position
    (nothing is applied twice). When a ``replay rebuild`` swaps a new views file in, the loop
    reopens it and goes on from there."""
    app = app or EventChain.from_settings(settings)
    health = health or ProjectorHealth()
    delay = RETRY_DELAY

    def failed(what: str, error: Exception) -> None:
        nonlocal delay
        health.failures += 1
        health.last_error = f"{what}: {error}"
        log.warning("%s (retrying in %.1f s): %s", what, delay, error)
        stop.wait(delay)
        delay = min(delay * 2, MAX_RETRY_DELAY)

    while not stop.is_set():
        try:
            views = DuckDBViews(settings.views_path)
            inode = os.stat(settings.views_path).st_ino
        except Exception as error:  # e.g. the disk, permissions, another process's lock
            failed(f"cannot open the views {settings.views_path}", error)
            continue
        publisher = _Publisher(views, settings)

        def idle(publisher: _Publisher = publisher, inode: int = inode) -> None:
            publisher.flush_if_due()
            if _inode(settings.views_path) != inode:
                raise ViewsSwappedError

        def committed(position: int, publisher: _Publisher = publisher) -> None:
            nonlocal delay
            health.last_error, delay = None, RETRY_DELAY
            publisher.committed(position)

        projector = Projector(app, views, on_commit=committed, on_idle=idle)
        try:
            publisher.publish()
            health.last_error = None
            projector.run(stop)
        except ViewsSwappedError:
            log.info("views file replaced by a rebuild; reopening it")
            continue
        except Exception as error:  # the loop must survive outages; the position is safe
            failed(f"projector error, resuming from {projector.position}", error)
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
