"""Running the CLI under a pseudo-terminal, the way a user at a terminal meets it."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def eventchain_tty(data_dir: Path, *args: str, env: Mapping[str, str]) -> tuple[int, str]:
    """``eventchain --data-dir DATA_DIR ARGS…`` with stdin/stdout/stderr on a pty; returns the
    exit code and everything the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "COLUMNS": "200", "TERM": "xterm"},
        close_fds=True,
    )
    os.close(follower)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 240)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(60), shown.decode("utf-8", "replace")
