"""Fast bulk writes into DuckDB without pyarrow or pandas.

DuckDB's Python ``executemany`` costs about a millisecond per row; its JSON reader loads
hundreds of thousands of rows per second. So rows are encoded with msgspec to a scratch
file (in RAM when ``/dev/shm`` exists) and inserted with one ``INSERT … SELECT FROM
read_json``: one statement per table per batch, inside the caller's transaction.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import duckdb
import msgspec

_ENCODER: Final = msgspec.json.Encoder()
_SCRATCH_DIR: Final = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def insert_rows(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Inserts ``rows`` (tuples in ``columns`` order) into ``table``.

    ``columns`` pairs each column name with its DuckDB type; values are anything msgspec
    encodes (datetimes as RFC 3339 with their offset, UUIDs as strings, lists as arrays).
    """
    if not rows:
        return
    names = [name for name, _ in columns]
    spec = "{" + ", ".join(f"{name}: '{kind}'" for name, kind in columns) + "}"
    with tempfile.NamedTemporaryFile(suffix=".json", dir=_SCRATCH_DIR, delete=False) as scratch:
        scratch.write(_ENCODER.encode([dict(zip(names, row, strict=True)) for row in rows]))
        path = Path(scratch.name)
    try:
        connection.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(names)} "
            f"FROM read_json('{path}', format = 'array', columns = {spec})"
        )
    finally:
        path.unlink(missing_ok=True)
