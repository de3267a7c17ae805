"""NATS → committed + acked on PostgreSQL (SPEC §8), next to raw JetStream fetch+ack of the
same messages, and publish → commit latency at 2,000 touchpoints/s offered load."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import nats

from adapters.jetstream_pull import BatchFetcher
from adapters.nats import IngestConfig, ensure_streams, publish_envelopes, wait_until
from application.event_chain import BatchResult, EventChain
from bench.harness import BenchContext, Figure, stopwatch
from bench.workload import touchpoint_envelopes
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from eventchain.ingest_worker import IngestWorker
from tests.nats_support import private_config


async def raw_fetch_ack(url: str, config: IngestConfig, count: int, *, library_fetch: bool = False) -> float:
    """Fetch + ack only, with the worker's BatchFetcher or with nats-py's own ``fetch``."""
    nc = await nats.connect(url)
    try:
        await ensure_streams(nc, config)
        names = config.names
        subscription: Any
        if library_fetch:
            js = nc.jetstream()
            subscription = await js.pull_subscribe_bind(durable=names.durable, stream=names.stream)
        else:
            subscription = await BatchFetcher.bind(nc, names.stream, names.durable)
        received = 0
        start = time.perf_counter()
        while received < count:
            for message in await subscription.fetch(config.batch, timeout=5):
                await message.ack()
                received += 1
        return count / (time.perf_counter() - start)
    finally:
        await nc.close()


def throughput(ctx: BenchContext, url: str) -> list[Figure]:
    count = ctx.scaled(40_000)
    raw = touchpoint_envelopes(count, count // 4, seed=31, prefix="nb")
    pairs = [(decode_touchpoint(r), r) for r in raw]
    baseline_config, library_config, config = private_config(), private_config(), private_config()
    for each in (baseline_config, library_config, config):
        asyncio.run(publish_envelopes(url, pairs, each))
    baseline = asyncio.run(raw_fetch_ack(url, baseline_config, count))
    library_fetch = asyncio.run(raw_fetch_ack(url, library_config, count, library_fetch=True))
    app = EventChain.from_url(ctx.postgres_url())
    worker = IngestWorker(app, url, config)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    with stopwatch() as elapsed:
        thread.start()
        wait_until(lambda: worker.stats.recorded >= count, timeout=600)
    stop.set()
    thread.join()
    events = app.max_notification_id()
    store_alone = store_only(ctx, pairs)
    return [
        Figure(
            "NATS → committed + acked, PostgreSQL",
            events / elapsed[0],
            "stored events/s",
            "≥ 10,000 ev/s",
            baseline_name="raw JetStream fetch+ack, same fetcher (msgs/s)",
            baseline_value=baseline,
            notes=f"{count:,} touchpoints ({count / elapsed[0]:,.0f}/s) = {events:,} stored events; "
            f"batches of 500; raw with nats-py's own fetch: {library_fetch:,.0f} msgs/s",
        ),
        Figure(
            "store alone (record_batch, no NATS), PostgreSQL",
            store_alone,
            "stored events/s",
            "what dominates the line above",
            notes="the same touchpoints in batches of 500 on a fresh database: the NATS path's ceiling",
        ),
    ]


def store_only(ctx: BenchContext, pairs: Sequence[tuple[AcceptedTouchpoint, bytes]]) -> float:
    """The same touchpoints straight into a fresh store, batch by batch as the worker does."""
    app = EventChain.from_url(ctx.postgres_url())
    accepted = [a for a, _ in pairs]
    with stopwatch() as elapsed:
        for start in range(0, len(accepted), 500):
            app.record_batch(accepted[start : start + 500])
    return app.max_notification_id() / elapsed[0]


def latency(ctx: BenchContext, url: str) -> list[Figure]:
    rate, seconds = 2_000, max(3, int(10 * ctx.scale))
    raw = touchpoint_envelopes(rate * seconds, 2_000, seed=41, prefix="lat")
    pairs = [(decode_touchpoint(r), r) for r in raw]
    config = private_config()
    published_at: dict[str, float] = {}
    committed_at: dict[str, float] = {}
    app = EventChain.from_url(ctx.postgres_url())

    def timed_record(batch: Sequence[AcceptedTouchpoint]) -> BatchResult:
        result = app.record_batch(batch)
        now = time.perf_counter()
        committed_at.update((a.touchpoint_id, now) for a in batch)
        return result

    worker = IngestWorker(app, url, config, record=timed_record)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    asyncio.run(_offer(url, config, pairs, rate, published_at))
    wait_until(lambda: len(committed_at) >= len(pairs), timeout=300)
    stop.set()
    thread.join()
    delays = sorted(committed_at[k] - published_at[k] for k in published_at if k in committed_at)
    p99 = delays[int(len(delays) * 0.99) - 1]
    return [
        Figure(
            "publish → commit latency p99 at 2,000/s offered",
            p99 * 1000,
            "ms",
            "≤ 500 ms",
            notes=f"{len(delays):,} touchpoints over {seconds} s; "
            f"median {delays[len(delays) // 2] * 1000:.0f} ms",
        )
    ]


async def _offer(
    url: str,
    config: IngestConfig,
    pairs: list[tuple[AcceptedTouchpoint, bytes]],
    rate: int,
    published_at: dict[str, float],
) -> None:
    nc = await nats.connect(url)
    try:
        await ensure_streams(nc, config)
        js = nc.jetstream()
        start = time.perf_counter()
        tick = 0.01
        per_tick = int(rate * tick)
        futures = []
        for index in range(0, len(pairs), per_tick):
            target = start + (index // per_tick) * tick
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            for accepted, raw in pairs[index : index + per_tick]:
                published_at[accepted.touchpoint_id] = time.perf_counter()
                subject = config.names.subject(raw.split(b'"channel": "')[1].split(b'"')[0].decode())
                futures.append(
                    await js.publish_async(subject, raw, headers={"Nats-Msg-Id": accepted.touchpoint_id})
                )
        await asyncio.gather(*futures)
    finally:
        await nc.close()


def run(ctx: BenchContext) -> list[Figure]:
    url = ctx.nats_url()
    return [*throughput(ctx, url), *latency(ctx, url)]
