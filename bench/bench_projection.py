"""Projection into DuckDB (SPEC §8): catch-up rate next to row-by-row INSERTs of the same
rows, commit → visible in the analyst snapshot, and CTRE/funnel queries on 1M events."""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import threading
import time
from pathlib import Path

import duckdb

from application.event_chain import EventChain
from bench.harness import BenchContext, Figure, stopwatch
from bench.workload import accepted_touchpoints
from eventchain.config import Settings
from projections.projector import Projector
from projections.service import run_projector
from projections.views import DuckDBViews

_STORES: dict[str, EventChain] = {}


def million_event_store(ctx: BenchContext) -> EventChain:
    """A SQLite store with ~1,000,000 events (600k touchpoints of 150k customers), shared by
    the projection and replay benches of one run."""
    key = str(ctx.workdir)
    if key not in _STORES:
        directory = ctx.workdir / "million"
        directory.mkdir(parents=True, exist_ok=True)
        app = EventChain.from_url(f"sqlite:///{directory / 'events.db'}")
        touchpoints, customers = ctx.scaled(600_000), ctx.scaled(150_000)
        for start in range(0, touchpoints, 50_000):
            app.record(
                accepted_touchpoints(
                    min(50_000, touchpoints - start), customers, seed=start, prefix=f"m{start}"
                )
            )
        _STORES[key] = app
    return _STORES[key]


def catch_up(ctx: BenchContext, app: EventChain) -> list[Figure]:
    path = ctx.workdir / "catch-up.duckdb"
    views = DuckDBViews(path)
    with stopwatch() as elapsed:
        Projector(app, views).catch_up()
    events = app.max_notification_id()
    rate = events / elapsed[0]
    # the baseline: the same touchpoint rows, inserted one INSERT per row
    rows = views.connection.execute("SELECT * FROM touchpoints LIMIT 3000").fetchall()
    views.close()
    with duckdb.connect(str(ctx.workdir / "row-by-row.duckdb")) as connection:
        connection.execute(
            "CREATE TABLE touchpoints (touchpoint_id VARCHAR, customer_id UUID, channel VARCHAR, "
            "direction VARCHAR, occurred_at TIMESTAMPTZ, recorded_at TIMESTAMPTZ, actor VARCHAR, "
            "summary VARCHAR)"
        )
        with stopwatch() as baseline:
            for row in rows:
                connection.execute("INSERT INTO touchpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    return [
        Figure(
            "projection catch-up into DuckDB (all views)",
            rate,
            "events/s",
            "≥ 100,000 ev/s",
            baseline_name="row-by-row INSERT of the same rows",
            baseline_value=len(rows) / baseline[0],
            notes=f"{events:,} events in {elapsed[0]:.1f} s (SQLite store, batches of 50,000)",
        )
    ]


def queries(ctx: BenchContext) -> list[Figure]:
    figures = []
    with duckdb.connect(str(ctx.workdir / "catch-up.duckdb"), read_only=True) as connection:
        events = connection.execute("SELECT max(notification_id) FROM ec.tracking").fetchone()
        for name, sql in (("CTRE", "SELECT * FROM ctre"), ("funnel", "SELECT * FROM funnel")):
            connection.execute(sql).fetchall()  # warm
            timings = []
            for _ in range(20):
                with stopwatch() as elapsed:
                    connection.execute(sql).fetchall()
                timings.append(elapsed[0] * 1000)
            figures.append(
                Figure(
                    f"{name} query on {events[0] if events else 0:,} events",
                    statistics.median(timings),
                    "ms",
                    "≤ 100 ms",
                    notes=f"median of 20; max {max(timings):.1f} ms",
                )
            )
    return figures


def freshness(ctx: BenchContext, million: EventChain) -> list[Figure]:
    """Commit → visible in the snapshot, with the projector running as in `serve`, on top of
    the million-event log and its caught-up views (refreshes and publishes at full size)."""
    directory = ctx.workdir / "freshness"
    settings = Settings.load(environ={}, data_dir=str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(ctx.workdir / "million" / "events.db")
    copy = sqlite3.connect(settings.store_url.removeprefix("sqlite:///"))
    source.backup(copy)  # consistent, WAL included
    source.close()
    copy.close()
    shutil.copyfile(ctx.workdir / "catch-up.duckdb", settings.views_path)
    app = EventChain.from_url(settings.store_url)
    stop = threading.Event()
    projector = threading.Thread(target=run_projector, args=(settings, stop), daemon=True)
    projector.start()
    delays: list[float] = []
    touchpoints = accepted_touchpoints(ctx.scaled(6_000), ctx.scaled(2_000), seed=9, prefix="fresh")
    try:
        for start in range(0, len(touchpoints), 100):
            app.record(touchpoints[start : start + 100])
            committed_at, position = time.perf_counter(), app.max_notification_id()
            while _snapshot_position(settings.snapshot_path) < position:
                time.sleep(0.01)
            delays.append(time.perf_counter() - committed_at)
            time.sleep(0.05)
    finally:
        stop.set()
        projector.join(timeout=30)
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return [
        Figure(
            "commit → visible in analyst snapshot, p99",
            p99 * 1000,
            "ms",
            "≤ 2,000 ms",
            notes=f"{len(delays)} commits of 100 touchpoints after {million.max_notification_id():,} events; "
            f"median {statistics.median(delays) * 1000:.0f} ms",
        )
    ]


def _snapshot_position(path: Path) -> int:
    try:
        with duckdb.connect(str(path), read_only=True) as connection:
            row = connection.execute("SELECT max(notification_id) FROM ec.tracking").fetchone()
    except duckdb.Error:
        return 0
    return int(row[0] or 0) if row else 0


def run(ctx: BenchContext) -> list[Figure]:
    app = million_event_store(ctx)
    return [*catch_up(ctx, app), *queries(ctx), *freshness(ctx, app)]
