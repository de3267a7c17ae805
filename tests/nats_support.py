"""Helpers for NATS tests: private stream names, publishing raw bytes, reading the store."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nats
from eventsourcing.utils import get_topic
from nats.js.errors import NotFoundError

from adapters.nats import IngestConfig, NatsNames, ensure_streams
from adapters.store import select_raw_notifications
from application.event_chain import EventChain
from domain.customer import Customer
from eventchain.ingest_worker import IngestWorker


def private_config(**overrides: Any) -> IngestConfig:
    """Stream/subject/consumer names no other test uses (one shared server for the suite)."""
    tag = uuid.uuid4().hex[:8]
    names = NatsNames(
        stream=f"TP_{tag}",
        subject_prefix=f"tp{tag}",
        dlq_stream=f"DLQ_{tag}",
        dlq_prefix=f"dlq{tag}",
        durable=f"ingest{tag}",
        manifest_stream=f"MF_{tag}",
        manifest_prefix=f"mf{tag}",
        manifest_durable=f"manifests{tag}",
    )
    return IngestConfig(**{"names": names, **overrides})


async def _publish_raw(url: str, config: IngestConfig, messages: list[tuple[str, bytes, str | None]]) -> None:
    nc = await nats.connect(url)
    try:
        await ensure_streams(nc, config)
        js = nc.jetstream()
        for channel, payload, msg_id in messages:
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            await js.publish(config.names.subject(channel), payload, headers=headers)
    finally:
        await nc.close()


def publish_raw(url: str, config: IngestConfig, messages: list[tuple[str, bytes, str | None]]) -> None:
    """Publishes (channel, bytes, Nats-Msg-Id) triples as they are, valid or not."""
    asyncio.run(_publish_raw(url, config, messages))


async def _stream_messages(url: str, stream: str) -> list[tuple[str, bytes, dict[str, str]]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        result: list[tuple[str, bytes, dict[str, str]]] = []
        if info.state.messages == 0:
            return result
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg(stream, sequence)
            except NotFoundError:  # deleted (a purge, a dropped dead letter): a gap
                continue
            result.append((message.subject, message.data or b"", dict(message.headers or {})))
        return result
    finally:
        await nc.close()


def stream_messages(url: str, stream: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Every message left in a stream as (subject, data, headers), in stream order."""
    return asyncio.run(_stream_messages(url, stream))


def dead_letters(url: str, config: IngestConfig) -> list[tuple[bytes, dict[str, str]]]:
    return [(data, headers) for _, data, headers in stream_messages(url, config.names.dlq_stream)]


@contextmanager
def running_worker(app: EventChain, url: str, config: IngestConfig, **kwargs: Any) -> Iterator[IngestWorker]:
    worker = IngestWorker(app, url, config, **kwargs)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=60)


def recorded_touchpoint_ids(app: EventChain) -> list[str]:
    """Every TouchpointRecorded in the store, duplicates included (there must be none)."""
    import msgspec

    topic = get_topic(Customer.TouchpointRecorded)
    ids, start = [], 1
    while True:
        page = select_raw_notifications(app.recorder, start, 5000)
        if not page:
            return ids
        ids += [msgspec.json.decode(n.state)["touchpoint_id"] for n in page if n.topic == topic]
        start = page[-1].id + 1


def versions_are_gapless(app: EventChain) -> bool:
    versions: dict[str, list[int]] = defaultdict(list)
    start = 1
    while True:
        page = select_raw_notifications(app.recorder, start, 5000)
        if not page:
            break
        for notification in page:
            versions[notification.originator_id].append(notification.originator_version)
        start = page[-1].id + 1
    return all(sorted(v) == list(range(1, len(v) + 1)) for v in versions.values())
