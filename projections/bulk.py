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

from domain.customer import PROFILE_FIELDS

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


def insert_staged(connection: duckdb.DuckDBPyConnection, lines: Sequence[bytes]) -> None:
    """Inserts Customer.Created / TouchpointRecorded events given as raw stored JSON: DuckDB
    extracts the fields itself (vectorised), which is what makes catch-up fast. Their
    customers are added to the temp table ``batch_touched`` (the caller creates it)."""
    if not lines:
        return
    with tempfile.NamedTemporaryFile(suffix=".ndjson", dir=_SCRATCH_DIR, delete=False) as scratch:
        scratch.write(b"\n".join(lines))
        path = Path(scratch.name)
    try:
        connection.execute(
            "CREATE OR REPLACE TEMP TABLE staged AS SELECT o, t, s "
            f"FROM read_json('{path}', format = 'newline_delimited', maximum_object_size = 67108864, "
            f"columns = {{o: 'UUID', t: 'VARCHAR', s: '{_STAGED_STATE}'}})"
        )
    finally:
        path.unlink(missing_ok=True)
    connection.execute(STAGED_SQL)


# The stored state's fields the views need; DuckDB parses each line once into this struct.
_STAGED_STATE: Final = (
    'STRUCT("timestamp" STRUCT(_data_ VARCHAR), touchpoint_id VARCHAR, channel VARCHAR, direction VARCHAR, '
    "occurred_at STRUCT(_data_ VARCHAR), actor VARCHAR, summary VARCHAR, identity_keys VARCHAR[], "
    f"contact STRUCT({', '.join(f'{name} VARCHAR' for name in PROFILE_FIELDS)}))"
)

# Rows keep log order without sorting: DuckDB preserves insertion order (its default).
STAGED_SQL: Final = f"""
INSERT INTO batch_touched SELECT DISTINCT o FROM staged;
INSERT INTO ec.customers (customer_id, created_at)
  SELECT o, s.timestamp._data_::TIMESTAMPTZ FROM staged WHERE t = 'C';
INSERT INTO touchpoints
  SELECT s.touchpoint_id, o, s.channel, s.direction, s.occurred_at._data_::TIMESTAMPTZ,
         s.timestamp._data_::TIMESTAMPTZ, s.actor, s.summary
  FROM staged WHERE t = 'T';
INSERT INTO ec.identities
  SELECT o, unnest(s.identity_keys) FROM staged WHERE t = 'T';
INSERT INTO ec.observations
  SELECT o, f, v, occurred_at, touchpoint_id FROM (
    SELECT o, s.touchpoint_id AS touchpoint_id, s.occurred_at._data_::TIMESTAMPTZ AS occurred_at,
           unnest({list(PROFILE_FIELDS)}) AS f,
           unnest([{", ".join(f"s.contact.{name}" for name in PROFILE_FIELDS)}]) AS v
    FROM staged WHERE t = 'T')
  WHERE v IS NOT NULL;
DROP TABLE staged;
"""
