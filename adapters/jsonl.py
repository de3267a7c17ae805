"""Touchpoints from JSON Lines files: one envelope per line (SPEC §2.1).

A line longer than the envelope limit is rejected without being held in memory; a file
whose over-long line does not end within ``MAX_SKIP_BYTES`` (``/dev/zero``, a binary
file) is not JSON Lines at all and stops the read with ``JsonLinesError``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

from domain.touchpoints import (
    DEFAULT_LIMITS,
    AcceptedTouchpoint,
    EnvelopeLimits,
    RejectedTouchpointError,
    decode_touchpoint,
)

MAX_SKIP_BYTES: Final = 64 * 1024 * 1024
_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LineRejection:
    line_number: int
    path: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.path}: {self.reason}"


class JsonLinesError(ValueError):
    """The file as a whole is not JSON Lines."""


def read_lines(path: Path, max_line_bytes: int) -> Iterator[tuple[int, bytes | LineRejection]]:
    """Yields (line number, stripped line or rejection) for every non-blank line."""
    with path.open("rb") as lines:
        line_number = 0
        while True:
            line = lines.readline(max_line_bytes + 1)
            if not line:
                return
            line_number += 1
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                _skip_rest_of_line(lines, line_number)
                yield line_number, LineRejection(line_number, "$", f"line longer than {max_line_bytes} bytes")
                continue
            if line.strip():
                yield line_number, line.strip()


def _skip_rest_of_line(lines: BinaryIO, line_number: int) -> None:
    skipped = 0
    while skipped < MAX_SKIP_BYTES:
        chunk = lines.readline(_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return
        skipped += len(chunk)
    raise JsonLinesError(
        f"line {line_number} has no end within {MAX_SKIP_BYTES} bytes: not a JSON Lines file"
    )


def read_touchpoints(
    path: Path, *, received_at: datetime | None = None, limits: EnvelopeLimits = DEFAULT_LIMITS
) -> Iterator[tuple[bytes, AcceptedTouchpoint | LineRejection]]:
    """Yields (the line's bytes, touchpoint or rejection) for every non-blank line;
    ``received_at`` bounds ``occurred_at`` (see ``decode_touchpoint``)."""
    for line_number, line in read_lines(path, limits.max_bytes):
        if isinstance(line, LineRejection):
            yield b"", line
            continue
        try:
            yield line, decode_touchpoint(line, received_at=received_at, limits=limits)
        except RejectedTouchpointError as error:
            yield line, LineRejection(line_number, error.path, error.reason)
