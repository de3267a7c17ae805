"""Running the installed CLI as a separate process, the way operators do."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def eventchain(
    data_dir: Path, *args: str, kek: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``eventchain --data-dir DATA_DIR ARGS…``; ``EVENTCHAIN_KEK`` is set only when ``kek`` is
    given. ``env``: the whole environment instead (``kek`` still wins)."""
    env = dict(env) if env is not None else {k: v for k, v in os.environ.items() if k != "EVENTCHAIN_KEK"}
    if kek is not None:
        env["EVENTCHAIN_KEK"] = kek
    return subprocess.run(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def eventchain_in_terminal(data_dir: Path, *args: str, timeout: float = 240) -> tuple[int, str]:
    """The same command with stdin, stdout and stderr on a pseudo-terminal, as a user runs
    it: (exit code, everything the terminal showed)."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if k != "EVENTCHAIN_KEK"} | {"TERM": "xterm", "COLUMNS": "100"}
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    shown = bytearray()
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], timeout)
            if not ready:
                process.kill()
                raise TimeoutError(f"eventchain {' '.join(args)} still running after {timeout} s")
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command ended and the terminal closed
                break
            if not chunk:
                break
            shown += chunk
        return process.wait(timeout=timeout), shown.decode(errors="replace")
    finally:
        os.close(controller)
