"""Full rebuild of ~1,000,000 events into all views (SPEC §8): time and peak RSS, on
PostgreSQL and SQLite. Each rebuild runs in its own process so its peak RSS is its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from application.event_chain import EventChain
from bench.bench_projection import million_event_store
from bench.harness import BenchContext, Figure
from bench.workload import accepted_touchpoints

ROOT = Path(__file__).resolve().parents[1]
CHILD = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[3])
    from application.event_chain import EventChain
    from replay.rebuild import build_views
    app = EventChain.from_url(sys.argv[1])
    start = time.perf_counter()
    result = build_views(app, __import__("pathlib").Path(sys.argv[2]))
    elapsed = time.perf_counter() - start
    # VmHWM: this image's own peak. ru_maxrss survives execve on Linux and would report the
    # bench parent's peak (the vfork'd child shared its memory until exec) if that was larger.
    try:
        status = open("/proc/self/status").read().split("VmHWM:")[1]
        rss_mb = int(status.split()[0]) / 1024
    except (OSError, IndexError):
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"events": result.events, "seconds": elapsed, "rss_mb": rss_mb}))
""")


def rebuild_in_child(store_url: str, target: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, str(target), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def postgres_million(ctx: BenchContext) -> str:
    url = ctx.postgres_url()
    app = EventChain.from_url(url)
    touchpoints, customers = ctx.scaled(600_000), ctx.scaled(150_000)
    for start in range(0, touchpoints, 50_000):
        app.record(
            accepted_touchpoints(min(50_000, touchpoints - start), customers, seed=start, prefix=f"p{start}")
        )
    return url


def figure(store: str, measured: dict[str, float]) -> Figure:
    return Figure(
        f"full rebuild, all views, {store}",
        measured["events"] / measured["seconds"],
        "events/s",
        "1M events ≤ 60 s, peak RSS ≤ 1 GB",
        notes=f"{measured['events']:,.0f} events in {measured['seconds']:.1f} s; "
        f"peak RSS {measured['rss_mb']:,.0f} MB",
    )


def run(ctx: BenchContext) -> list[Figure]:
    sqlite_store = million_event_store(ctx)
    sqlite_url = f"sqlite:///{sqlite_store.env['SQLITE_DBNAME']}"
    figures = [
        figure("PostgreSQL", rebuild_in_child(postgres_million(ctx), ctx.workdir / "rebuild-pg.duckdb"))
    ]
    figures.append(figure("SQLite", rebuild_in_child(sqlite_url, ctx.workdir / "rebuild-sqlite.duckdb")))
    return figures
