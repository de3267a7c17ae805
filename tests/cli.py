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
