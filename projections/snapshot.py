"""The analyst snapshot: a consistent, read-only copy of the views that never blocks anyone.

DuckDB lets one process write a database file, and while it does no other process can
open that file at all. So the projector publishes a copy: between two of its own
transactions it checkpoints (the file then holds every committed change and the WAL is
empty), copies the file next to the snapshot path and renames it over the snapshot.
The rename is atomic: an analyst opening the path gets the previous snapshot or the new
one, never a mix, and a connection already open keeps reading the file it opened (its
inode lives on until it closes). Freshness is the publish interval plus the copy time.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from projections.views import DuckDBViews


def publish_snapshot(views: DuckDBViews, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with views._lock:
        views.connection.execute(
            "INSERT OR REPLACE INTO ec.settings VALUES ('snapshot_published_at', ?)",
            [datetime.now(tz=UTC).isoformat()],
        )
        views.connection.execute("CHECKPOINT")
        shutil.copyfile(views.path, scratch)
    os.replace(scratch, target)
