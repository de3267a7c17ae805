"""The cost of crypto-shredding (SPEC §7): direct ingest with and without per-customer
encryption of personal fields, same workload, same run; and projection catch-up of an
encrypted store, opening sealed fields for DuckDB next to the library mapper's path."""

from __future__ import annotations

from pathlib import Path

from adapters.crypto import new_kek, parse_kek
from application.event_chain import EventChain
from bench.harness import BenchContext, Figure, stopwatch
from bench.workload import accepted_touchpoints
from projections.projector import Projector
from projections.views import DuckDBViews


def measure(ctx: BenchContext, store: str, plain_url: str, sealed_url: str) -> Figure:
    count = ctx.scaled(20_000)
    plain_tps = accepted_touchpoints(count, count // 4, seed=51, prefix="plain")
    sealed_tps = accepted_touchpoints(count, count // 4, seed=51, prefix="sealed")
    plain = EventChain.from_url(plain_url)
    sealed = EventChain.from_url(sealed_url, kek=parse_kek(new_kek()))
    # Warm both (imports, statement caches, first table pages) so neither pays for the
    # other's start-up: without this whichever runs second looks cheaper.
    warm = max(200, count // 50)
    plain.record(accepted_touchpoints(warm, warm // 4, seed=7, prefix="warm-plain"))
    sealed.record(accepted_touchpoints(warm, warm // 4, seed=7, prefix="warm-sealed"))
    with stopwatch() as plain_elapsed:
        plain.record(plain_tps)
    with stopwatch() as sealed_elapsed:
        sealed.record(sealed_tps)
    return Figure(
        f"direct ingest with encryption, {store}",
        count / sealed_elapsed[0],
        "touchpoints/s",
        "report the cost",
        baseline_name="without encryption",
        baseline_value=count / plain_elapsed[0],
        notes=f"{count:,} touchpoints each; per-customer AES-256-GCM keys, keyed-hash identity index",
    )


def projection(ctx: BenchContext, directory: Path) -> Figure:
    """Catch-up of an encrypted store (what `serve` runs: it requires a KEK)."""
    app = EventChain.from_url(f"sqlite:///{directory / 'projected.db'}", kek=parse_kek(new_kek()))
    touchpoints = ctx.scaled(120_000)
    for start in range(0, touchpoints, 20_000):
        count = min(20_000, touchpoints - start)
        app.record(accepted_touchpoints(count, count // 4, seed=start, prefix=f"p{start}"))
    events = app.max_notification_id()
    rates = {}
    for name, fast in (("mapper", False), ("sealed", None)):
        views = DuckDBViews(directory / f"{name}.duckdb")
        with stopwatch() as elapsed:
            Projector(app, views, fast=fast).catch_up()
        views.close()
        rates[name] = events / elapsed[0]
    return Figure(
        "projection catch-up with encryption, SQLite",
        rates["sealed"],
        "events/s",
        "report (≥ 100,000 ev/s is the plain-store target)",
        baseline_name="library mapper decoding every event",
        baseline_value=rates["mapper"],
        notes=f"{events:,} events; staged events opened with their customer's key, decoded by DuckDB",
    )


def run(ctx: BenchContext) -> list[Figure]:
    directory = ctx.workdir / "crypto"
    directory.mkdir(parents=True, exist_ok=True)
    return [
        measure(ctx, "SQLite", f"sqlite:///{directory / 'plain.db'}", f"sqlite:///{directory / 'sealed.db'}"),
        measure(ctx, "PostgreSQL", ctx.postgres_url(), ctx.postgres_url()),
        projection(ctx, directory),
    ]
