"""Which parts of `serve` run, and one of each at a time (issues 17 and 25).

Every part but ingest and web must run once per store (README: one projector per DuckDB file,
one router, SLA watcher, silence tagger and notifier per store). Each such part runs only while
its `serve` holds the part's lock, which is the lease: a second `serve` of the same part is a
hot standby that tries the lock every LEASE_POLL_S and takes the part over when the active
process dies (the kernel drops a dead process's flock, PostgreSQL a dead session's advisory
lock), resuming from the part's checkpoint. The locks:

- ``project``: an exclusive ``flock`` on ``<views>.lock``, next to the DuckDB file it writes.
- ``route``, ``sla``, ``silence``, ``notify``: exclusive, on the store — a PostgreSQL session
  advisory lock (seen by every host on the database), or ``flock`` on ``<events.db>.<part>.lock``.
- ``ingest``: shared (ingest scales out), so `status` can still see that one runs.

Ingest's lock is taken at start (shared: it never waits). `status` probes the same locks
(taken and released at once: a lock it can take is held by nobody), and reads
``<data dir>/run/serve-<pid>.json`` for where each running `serve` publishes its metrics and
which parts it runs actively. A PostgreSQL lock lasts as long as the session: if the database
restarts, the lock is gone until `serve` restarts (the parts themselves reconnect).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from adapters.store import postgres_connection, sqlite_path, store_env
from eventchain.config import Settings

STORE_PARTS: Final = ("route", "sla", "silence", "notify")
LOCKED_PARTS: Final = ("ingest", "project", *STORE_PARTS)
SHARED_PARTS: Final = frozenset({"ingest"})
LEASED_PARTS: Final = ("project", *STORE_PARTS)  # one active process each; others stand by
LEASE_POLL_S: Final = 1.0  # a standby tries the lock this often: takeover within ~1 s of a death
log = logging.getLogger("eventchain.serve")


class PartRunningError(RuntimeError):
    """Another `serve` runs this part on the same views or store."""


def _key(part: str) -> int:
    digest = hashlib.sha256(f"eventchain serve {part}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _is_postgres(settings: Settings) -> bool:
    return settings.store_url.startswith(("postgresql:", "postgres:"))


def _lock_file(settings: Settings, part: str) -> Path | None:
    if part == "project":
        return Path(f"{settings.views_path}.lock")
    if _is_postgres(settings):
        return None
    path = sqlite_path(settings.store_url)
    return None if path == ":memory:" else Path(f"{path}.{part}.lock")


def _where(settings: Settings, part: str) -> str:
    if part == "project":
        return f"the views {settings.views_path}"
    return f"the store {settings.store_url.split('@')[-1]}"


def _pg_connection(settings: Settings) -> Any:
    return postgres_connection(store_env(settings.store_url), connect_timeout=5)


@contextlib.contextmanager
def part_locks(settings: Settings, parts: tuple[str, ...]) -> Iterator[None]:
    """Holds the lock of every part in ``parts`` (raises ``PartRunningError`` naming the
    first one another `serve` holds) until the block ends."""
    with contextlib.ExitStack() as held:
        connection = None
        for part in (p for p in parts if p in LOCKED_PARTS):
            path = _lock_file(settings, part)
            if path is not None:
                held.enter_context(_file_lock(path, part, _where(settings, part)))
                continue
            if connection is None:
                connection = held.enter_context(_pg_connection(settings))
            function = "pg_try_advisory_lock_shared" if part in SHARED_PARTS else "pg_try_advisory_lock"
            row = connection.execute(f"SELECT {function}(%s)", (_key(part),)).fetchone()
            if not row or not row[0]:
                raise PartRunningError(_refusal(part, _where(settings, part), None))
        yield


@contextlib.contextmanager
def part_lease(
    settings: Settings, part: str, stop: threading.Event, tried: Callable[[bool], None] = lambda held: None
) -> Iterator[bool]:
    """Waits as a hot standby until this process holds ``part``'s lock (yields True, and holds
    it until the block ends) or until ``stop`` (yields False). ``tried`` hears once whether
    the first attempt took the lock."""
    with contextlib.ExitStack() as held:
        attempts = 0
        while not _took(held, settings, part, said=attempts > 0):
            if attempts == 0:
                tried(False)
            attempts += 1
            if stop.wait(LEASE_POLL_S):
                yield False
                return
        if attempts == 0:
            tried(True)
        else:
            log.info("took over %s after standing by", part)
        yield True


def _took(held: contextlib.ExitStack, settings: Settings, part: str, *, said: bool) -> bool:
    """One attempt at the part's lock (kept by ``held``); says once why it waits."""
    path = _lock_file(settings, part)
    try:
        if path is not None:
            held.enter_context(_file_lock(path, part, _where(settings, part)))
        else:
            held.enter_context(_advisory_lock(settings, part))
    except PartRunningError as error:
        if not said:
            log.info("standing by for %s: %s", part, str(error).split(": stop it")[0])
        return False
    except OSError as error:  # the store does not answer: try again, as for a held lock
        log.warning("cannot take the %s lock yet: %s", part, error)
        return False
    return True


@contextlib.contextmanager
def _advisory_lock(settings: Settings, part: str) -> Iterator[None]:
    """The part's advisory lock on a session of its own (the session's end releases it)."""
    import psycopg

    try:
        connection = _pg_connection(settings)
    except psycopg.OperationalError as error:
        raise OSError(str(error).strip()) from None
    with connection:
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (_key(part),)).fetchone()
        if not row or not row[0]:
            raise PartRunningError(_refusal(part, _where(settings, part), None))
        yield


@contextlib.contextmanager
def _file_lock(path: Path, part: str, where: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        mode = fcntl.LOCK_SH if part in SHARED_PARTS else fcntl.LOCK_EX
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PartRunningError(_refusal(part, where, _holder(handle))) from None
        if part not in SHARED_PARTS:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "part": part}))
            handle.flush()
        yield
    finally:
        handle.close()


def _holder(handle: IO[str]) -> int | None:
    handle.seek(0)
    try:
        pid = json.loads(handle.read() or "{}").get("pid")
    except ValueError:
        return None
    return pid if isinstance(pid, int) else None


def _refusal(part: str, where: str, pid: int | None) -> str:
    by = f" (pid {pid})" if pid else ""
    return (
        f"another `eventchain serve` runs {part} on {where}{by}: stop it first, "
        f"or run other parts here (--only)"
    )


def running_parts(settings: Settings) -> dict[str, bool]:
    """For each locked part: whether some `serve` holds its lock now."""
    result: dict[str, bool] = {}
    connection = None
    try:
        for part in LOCKED_PARTS:
            path = _lock_file(settings, part)
            if path is not None:
                result[part] = _file_held(path)
                continue
            if connection is None:
                connection = _pg_connection(settings)
            key = _key(part)
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row and row[0]:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
            result[part] = not (row and row[0])
    finally:
        if connection is not None:
            connection.close()
    return result


def _file_held(path: Path) -> bool:
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@dataclass(frozen=True, slots=True)
class ServeProcess:
    pid: int
    parts: list[str]
    metrics_addr: str | None
    started_at: str
    active: list[str]  # the leased parts it runs; the others of its parts it stands by for


def _run_dir(settings: Settings) -> Path:
    return settings.data_dir / "run"


@contextlib.contextmanager
def announced(settings: Settings, parts: list[str]) -> Iterator[dict[str, Any]]:
    """Writes ``run/serve-<pid>.json`` (parts, metrics address) while `serve` runs; the
    yielded dict may be updated (the metrics address, once listening) and is rewritten by
    ``announce``."""
    directory = _run_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"serve-{os.getpid()}.json"
    entry: dict[str, Any] = {
        "pid": os.getpid(),
        "parts": parts,
        "metrics_addr": None,
        "active": [],
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "path": str(path),
    }
    announce(entry)
    try:
        yield entry
    finally:
        path.unlink(missing_ok=True)


def announce(entry: dict[str, Any]) -> None:
    path = Path(entry["path"])
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({k: v for k, v in entry.items() if k != "path"}))
    temporary.replace(path)


def serve_processes(settings: Settings) -> list[ServeProcess]:
    """The `serve` processes announced under the data dir that are still alive."""
    found = []
    for path in sorted(_run_dir(settings).glob("serve-*.json")):
        try:
            entry = json.loads(path.read_text())
            pid = int(entry["pid"])
            os.kill(pid, 0)
        except (OSError, ValueError, KeyError):
            continue  # gone (a SIGKILLed serve leaves its file behind) or half-written
        found.append(
            ServeProcess(
                pid,
                list(entry.get("parts", [])),
                entry.get("metrics_addr"),
                entry.get("started_at", ""),
                list(entry.get("active", [])),
            )
        )
    return found
