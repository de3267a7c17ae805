"""The `make bench` harness (SPEC §8). Each ``bench/bench_*.py`` module defines
``run(ctx: BenchContext) -> list[Figure]`` and measures its figure next to a baseline
in the same run. Figures are printed as one table and written to bench/results.json.
Timings live here, never in pass/fail tests."""

from __future__ import annotations

import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from adapters.local_servers import LocalNats, LocalPostgres


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class BenchContext:
    workdir: Path
    scale: float = float(os.environ.get("EVENTCHAIN_BENCH_SCALE", "1.0"))
    _postgres: LocalPostgres | None = None
    _nats: LocalNats | None = None
    _pg_url: str | None = field(default=os.environ.get("EVENTCHAIN_TEST_PG_URL"))
    _nats_url: str | None = field(default=os.environ.get("EVENTCHAIN_TEST_NATS_URL"))

    def scaled(self, n: int) -> int:
        return max(1, int(n * self.scale))

    def postgres_url(self) -> str:
        """A fresh, empty database on the shared benchmark PostgreSQL server."""
        if self._pg_url is None:
            self._postgres = LocalPostgres(self.workdir / "pg").start()
            self._pg_url = self._postgres.url
        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self._pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self._pg_url.rpartition('/')[0]}/{name}"

    def nats_url(self) -> str:
        if self._nats_url is None:
            self._nats = LocalNats(self.workdir / "nats").start()
            self._nats_url = self._nats.url
        return self._nats_url

    def close(self) -> None:
        if self._nats is not None:
            self._nats.stop()
        if self._postgres is not None:
            self._postgres.stop()


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as elapsed: ...`` then ``elapsed[0]`` holds seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
