"""adapters/jetstream_pull.BatchFetcher against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats
import pytest

from adapters.jetstream_pull import BatchFetcher
from adapters.nats import IngestConfig, ensure_streams
from tests.nats_support import private_config

Scenario = Callable[[nats.NATS, BatchFetcher, IngestConfig], Awaitable[None]]


def run(url: str, scenario: Scenario, published: int) -> None:
    async def main() -> None:
        config = private_config()
        nc = await nats.connect(url)
        try:
            await ensure_streams(nc, config)
            js = nc.jetstream()
            for number in range(published):
                await js.publish(config.names.subject("web_form"), f"m{number}".encode())
            fetcher = await BatchFetcher.bind(nc, config.names.stream, config.names.durable)
            await scenario(nc, fetcher, config)
            await fetcher.close()
        finally:
            await nc.close()

    asyncio.run(main())


def test_a_fetch_returns_at_most_the_batch_and_the_next_fetch_the_rest_in_stream_order(
    nats_server: str,
) -> None:
    async def scenario(nc: nats.NATS, fetcher: BatchFetcher, config: IngestConfig) -> None:
        first = await fetcher.fetch(5, timeout=5)
        second = await fetcher.fetch(5, timeout=5)
        assert [m.data for m in first + second] == [f"m{n}".encode() for n in range(7)]
        assert [m.metadata.sequence.stream for m in first + second] == list(range(1, 8))
        assert [len(first), len(second)] == [5, 2]
        assert [] == await fetcher.fetch(5, timeout=0.2)

    run(nats_server, scenario, published=7)


def test_a_fetch_hands_over_what_is_available_without_waiting_for_a_full_batch(nats_server: str) -> None:
    async def scenario(nc: nats.NATS, fetcher: BatchFetcher, config: IngestConfig) -> None:
        # a fetch that waited for 500 messages would only end after its 60 s timeout
        messages = await asyncio.wait_for(fetcher.fetch(500, timeout=60), 20)
        assert [b"m0", b"m1", b"m2"] == [m.data for m in messages]

    run(nats_server, scenario, published=3)


def test_fetched_messages_are_acked_like_any_jetstream_message(nats_server: str) -> None:
    async def scenario(nc: nats.NATS, fetcher: BatchFetcher, config: IngestConfig) -> None:
        messages = await fetcher.fetch(10, timeout=5)
        for message in messages:
            await message.ack()
        await nc.flush()
        info = await nc.jetstream().consumer_info(config.names.stream, config.names.durable)
        assert (4, 0, 0) == (info.ack_floor.stream_seq, info.num_ack_pending, info.num_pending)

    run(nats_server, scenario, published=4)


def test_a_pull_from_a_consumer_that_does_not_exist_raises(nats_server: str) -> None:
    async def scenario(nc: nats.NATS, fetcher: BatchFetcher, config: IngestConfig) -> None:
        missing = await BatchFetcher.bind(nc, config.names.stream, "no-such-consumer")
        with pytest.raises(nats.errors.Error):
            await missing.fetch(10, timeout=1)
        await missing.close()

    run(nats_server, scenario, published=1)
