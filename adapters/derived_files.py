"""Files derived from the personal data (as-of rebuilds, exports, reports), listed so an
erasure can find them again (SPEC §7: every copy has a documented lifetime).

Each command that writes one appends a line to ``DATA_DIR/derived-files.jsonl``: the
absolute path, its kind, when, and how to make it again. Nothing personal is in the list.
On erasure (``settle``) every listed file that mentions an erased customer is regenerated
(as-of rebuilds: from the store, where the customer now reads as erased) or removed
(exports and reports: written for a person at a moment, they are not silently rewritten);
files that were moved away or written to stdout cannot be vouched for and are reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import msgspec

MANIFEST: Final = "derived-files.jsonl"


class DerivedFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: str  # "as-of", "export", "report"
    path: str | None  # absolute; None when written to stdout
    written_at: datetime
    as_of: datetime | None = None  # for as-of rebuilds: the instant they stand at


def record_derived(
    data_dir: Path, kind: str, path: Path | None, written_at: datetime, **extra: object
) -> None:
    entry = DerivedFile(
        kind,
        None if path is None else str(path.resolve()),
        written_at,
        **extra,  # type: ignore[arg-type]
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(data_dir / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "ab") as handle:
        handle.write(msgspec.json.encode(entry) + b"\n")


def derived_files(data_dir: Path) -> list[DerivedFile]:
    try:
        lines = (data_dir / MANIFEST).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    return [msgspec.json.decode(line, type=DerivedFile) for line in lines if line.strip()]


@dataclass
class Settlement:
    regenerated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    clean: list[str] = field(default_factory=list)
    unvouched: list[str] = field(default_factory=list)  # moved away, or written to stdout


def settle(
    data_dir: Path,
    mentions: Callable[[bytes], bool],
    regenerate_as_of: Callable[[Path, datetime], None],
) -> Settlement:
    """Regenerates or removes every listed file that ``mentions`` an erased customer. A DuckDB
    file is regenerated whatever its bytes say: its strings may be compressed beyond a scan."""
    result = Settlement()
    seen: set[str] = set()
    for entry in reversed(derived_files(data_dir)):  # the latest entry for a path wins
        if entry.path is None:
            result.unvouched.append(f"{entry.kind} to stdout at {entry.written_at.isoformat()}")
            continue
        if entry.path in seen:
            continue
        seen.add(entry.path)
        path = Path(entry.path)
        if not path.is_file():
            result.unvouched.append(f"{entry.kind} {path} (no longer there)")
        elif entry.kind == "as-of" and entry.as_of is not None:
            regenerate_as_of(path, entry.as_of)
            result.regenerated.append(str(path))
        elif mentions(path.read_bytes()):
            path.unlink()
            result.removed.append(str(path))
        else:
            result.clean.append(str(path))
    # Written before the list existed, or by the demo: found by name in the data dir.
    for stray in sorted(data_dir.glob("views-asof-*.duckdb")):
        if str(stray.resolve()) not in seen:
            result.unvouched.append(f"as-of {stray} (not listed: delete it or rebuild it)")
    for stray in sorted([*data_dir.glob("*.html"), *data_dir.glob("*.csv")]):
        if str(stray.resolve()) not in seen and mentions(stray.read_bytes()):
            stray.unlink()
            result.removed.append(str(stray))
    return result
