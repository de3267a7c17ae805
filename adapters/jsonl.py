"""Touchpoints from JSON Lines files: one envelope per line (SPEC §2.1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from domain.touchpoints import AcceptedTouchpoint, RejectedTouchpointError, decode_touchpoint


@dataclass(frozen=True, slots=True)
class LineRejection:
    line_number: int
    path: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.path}: {self.reason}"


def read_touchpoints(path: Path) -> Iterator[tuple[int, AcceptedTouchpoint | LineRejection]]:
    """Yields (line number, touchpoint or rejection) for every non-blank line."""
    with path.open("rb") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield line_number, decode_touchpoint(line)
            except RejectedTouchpointError as error:
                yield line_number, LineRejection(line_number, error.path, error.reason)
