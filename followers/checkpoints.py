"""Followers' checkpoints: each follower's fold with the log position it reflects, in a table
of the store (``follower_checkpoints``, SQLite or PostgreSQL), so start-up and recovery from a
failed tick read only the tail of the log after it (snapshot + tail).

A checkpoint carries the fold's version: a fingerprint of the code that folds (the modules
named by the follower). One taken by other code is not trusted: the follower folds from the
start and says why. The state is pickled, and unpickling runs code: with a key-encryption
key set, each checkpoint carries an HMAC under a key derived from it, and one whose HMAC does
not verify is never unpickled (the follower folds from the start and says why), so write
access to the store's tables is not enough to run code in ``serve``. Without a key (personal
data unencrypted too) the table is trusted like the rest of the store.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import importlib
import inspect
import logging
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from adapters.log_reader import LogTail
from adapters.store import schema_creation_lock, store_execute
from application.event_chain import EventChain

S = TypeVar("S")
log = logging.getLogger("eventchain.followers")
# A checkpoint is written after a tick once this many notifications were read since the last
# one, or once CHECKPOINT_SECONDS passed with anything read (and on a graceful stop). Writing one
# pickles the whole fold (seconds for the SLA book at a million events: docs/performance.md), so
# not often; the tail it leaves to read after a crash is cheap.
CHECKPOINT_EVENTS: Final = 100_000
CHECKPOINT_SECONDS: Final = 300.0
TABLE: Final = "follower_checkpoints"


def fold_version(*modules: str) -> str:
    """A fingerprint of the source of the modules that define a fold: a changed fold does not
    read a checkpoint written by the old one."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update(name.encode())
        digest.update(inspect.getsource(importlib.import_module(name)).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Resumed(Generic[S]):
    """Where a follower resumed: its fold, the position the fold reflects, and why."""

    state: S
    position: int
    seconds: float
    note: str  # "checkpoint", or why the fold starts from the log's start


@contextmanager
def collections_paused() -> Iterator[None]:
    """No garbage collection while a checkpoint is pickled or read back: the fold is hundreds of
    thousands of new containers, each allocation batch would set off a collection that walks
    them all again (at 1.1M events: 0.73 s to read the SLA watcher's back with, 0.15 s without).
    Nothing unpickled is garbage yet; reference counting still frees as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Checkpoints:
    """The ``follower_checkpoints`` table of the application's store."""

    def __init__(self, app: EventChain) -> None:
        self.recorder = app.recorder
        self.mac_key = app.keys.purpose_key(b"follower checkpoints") if app.keys is not None else None
        # Followers start together (threads of one serve, a standby): PostgreSQL's CREATE TABLE
        # IF NOT EXISTS is not atomic, so creation is serialised like the library's tables.
        with schema_creation_lock(app.env):
            store_execute(
                self.recorder,
                f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, fold_version TEXT NOT NULL, "
                "position BIGINT NOT NULL, state BLOB NOT NULL, saved_at DOUBLE PRECISION NOT NULL)",
            )

    def save(self, name: str, version: str, position: int, state: Any) -> None:
        with collections_paused():
            blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        blob = self._mac(name, version, blob) + blob
        store_execute(
            self.recorder,
            f"INSERT INTO {TABLE} (name, fold_version, position, state, saved_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET fold_version = excluded.fold_version, "
            "position = excluded.position, state = excluded.state, saved_at = excluded.saved_at",
            (name, version, position, blob, time.time()),
        )

    def resume(self, name: str, version: str, fresh: Callable[[], S]) -> Resumed[S]:
        """The follower's last checkpoint, or ``fresh()`` at position 0 (with the reason)."""
        started = time.perf_counter()
        rows = store_execute(
            self.recorder,
            f"SELECT fold_version, position, state FROM {TABLE} WHERE name = ?",
            (name,),
            fetch=True,
        )
        if not rows:
            note = "no checkpoint yet"
        elif rows[0][0] != version:
            note = f"checkpoint of fold {rows[0][0]} does not match the code's fold {version}: rebuilding"
        else:
            stored = bytes(rows[0][2])
            mac, blob = (
                stored[: len(self._mac(name, version, b""))],
                stored[len(self._mac(name, version, b"")) :],
            )
            if not hmac.compare_digest(mac, self._mac(name, version, blob)):
                return Resumed(
                    fresh(), 0, time.perf_counter() - started, "checkpoint not authentic: rebuilding"
                )
            try:
                with collections_paused():
                    state: S = pickle.loads(blob)
            except Exception as error:  # e.g. a class the code no longer has
                note = f"checkpoint unreadable ({error}): rebuilding"
            else:
                return Resumed(state, int(rows[0][1]), time.perf_counter() - started, "checkpoint")
        return Resumed(fresh(), 0, time.perf_counter() - started, note)

    def _mac(self, name: str, version: str, blob: bytes) -> bytes:
        """The checkpoint's HMAC (empty without a key-encryption key)."""
        if self.mac_key is None:
            return b""
        message = name.encode() + b"\0" + version.encode() + b"\0" + blob
        return hmac.new(self.mac_key, message, hashlib.sha256).digest()

    def positions(self) -> dict[str, tuple[int, float]]:
        """Every follower's checkpointed (position, saved_at): for status."""
        rows = store_execute(self.recorder, f"SELECT name, position, saved_at FROM {TABLE}", fetch=True)
        return {str(r[0]): (int(r[1]), float(r[2])) for r in rows}


class Checkpointer(Generic[S]):
    """One follower's checkpointing: resumes its fold, and saves it when enough is new."""

    def __init__(self, app: EventChain, name: str, modules: Sequence[str]) -> None:
        self.name = name
        self.version = fold_version(*modules)
        self.table = Checkpoints(app)
        self.saved_position = 0
        self.saved_at = time.monotonic()

    def resume(self, fresh: Callable[[], S]) -> Resumed[S]:
        resumed = self.table.resume(self.name, self.version, fresh)
        self.saved_position, self.saved_at = resumed.position, time.monotonic()
        if resumed.note == "checkpoint":
            log.info(
                "%s resumed from its checkpoint at %d (%.3f s)", self.name, resumed.position, resumed.seconds
            )
        else:
            log.info("%s folds the log from the start: %s", self.name, resumed.note)
        return resumed

    def maybe_save(self, position: int, state: Callable[[], S], *, force: bool = False) -> bool:
        """Saves the fold at ``position`` when enough is new since the last save (or ``force``)."""
        new = position - self.saved_position
        due = new >= CHECKPOINT_EVENTS or (new > 0 and time.monotonic() - self.saved_at >= CHECKPOINT_SECONDS)
        if not (due or (force and new > 0)):
            return False
        self.table.save(self.name, self.version, position, state())
        self.saved_position, self.saved_at = position, time.monotonic()
        return True


class BookFollower(Generic[S]):
    """A follower whose fold is one book of ``S``, checkpointed with the position it reflects:
    start-up and recovery from a failed tick (``reset``) resume from the last checkpoint and
    read only the log's tail after it. The SLA watcher, the silence tagger and the follow-up
    follower are ones; each adds its own ``tick``."""

    def __init__(
        self,
        app: EventChain,
        name: str,
        modules: Sequence[str],
        fresh: Callable[[], S],
        events: Sequence[type],
    ) -> None:
        self.app = app
        self._fresh = fresh
        self._events = tuple(events)
        self.checkpoints: Checkpointer[S] = Checkpointer(app, name, modules)
        self.reset()

    def reset(self) -> None:
        """Resumes from the last checkpoint (or the log's start): the next tick reads the tail."""
        resumed = self.resumed = self.checkpoints.resume(self._fresh)
        self.book: S = resumed.state
        self.tail = LogTail(self.app, self._events)  # no personal field is needed
        self.tail.position = resumed.position

    def checkpoint(self, *, force: bool = True) -> None:
        """Saves the book with the position it reflects (when enough is new, unless ``force``)."""
        self.checkpoints.maybe_save(self.tail.position, lambda: self.book, force=force)

    @property
    def position(self) -> int:
        return self.tail.position
