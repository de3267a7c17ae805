"""NATS JetStream ingestion (SPEC §1, §2.1, §2.1b, §9): the path upstream channels use.

The worker fetches a batch from a durable pull consumer, validates every message
strictly, records the valid ones in ONE store transaction, and only then acks them.
Invalid messages are copied to ``dlq.touchpoints.<channel>`` (stream TOUCHPOINTS_DLQ)
with the original bytes, the reason and the delivery count, and terminated: they never
block the batch. While a store write is in progress or retried (an outage), the worker
tells JetStream it is still working on the messages (``in_progress``), so they are
neither redelivered nor acked; if the worker dies, JetStream redelivers them after
AckWait and the store's touchpoint-id deduplication makes the redelivery harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import nats
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from adapters.application import BatchResult, EventChain
from adapters.jetstream_pull import BatchFetcher
from domain.touchpoints import (
    CHANNELS,
    AcceptedTouchpoint,
    RejectedTouchpointError,
    channel_of,
    decode_touchpoint,
)

log = logging.getLogger("eventchain.ingest")

REASON_HEADER: Final = "Eventchain-Reject-Reason"
PATH_HEADER: Final = "Eventchain-Reject-Path"
DELIVERIES_HEADER: Final = "Eventchain-Delivery-Count"
SUBJECT_HEADER: Final = "Eventchain-Original-Subject"
SEQUENCE_HEADER: Final = "Eventchain-Stream-Sequence"
CRASH_AFTER_COMMIT_ENV: Final = "EVENTCHAIN_TEST_CRASH_AFTER_COMMIT"  # test hook: die between commit and ack
_CHANNEL_TOKEN: Final = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass(frozen=True, slots=True)
class NatsNames:
    """Stream, subject and consumer names (SPEC §2.1b); tests use their own prefixes."""

    stream: str = "TOUCHPOINTS"
    subject_prefix: str = "touchpoints"
    dlq_stream: str = "TOUCHPOINTS_DLQ"
    dlq_prefix: str = "dlq.touchpoints"
    durable: str = "eventchain-ingest"

    def subject(self, channel: str) -> str:
        return f"{self.subject_prefix}.{channel}"

    def channel_of(self, subject: str) -> str:
        token = subject.removeprefix(self.subject_prefix + ".")
        return token if token in CHANNELS else "unknown"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    names: NatsNames = field(default_factory=NatsNames)
    duplicate_window: float = 120.0  # seconds
    # Lifetimes of the raw copies (docs/privacy.md): the event store is the only long-term
    # copy of a touchpoint. A day outlasts the dedup window, the redelivery window
    # (ack_wait × max_deliver = 50 min) and a night's outage of the workers; dead letters
    # are kept for a month to be inspected, retried or dropped.
    stream_max_age: float = 86_400.0
    dlq_max_age: float = 30 * 86_400.0
    ack_wait: float = 30.0
    max_deliver: int = 100
    batch: int = 500
    fetch_timeout: float = 1.0
    retry_delay: float = 1.0  # between attempts to commit a batch during a store outage


async def connect(url: str, name: str = "eventchain") -> nats.NATS:
    """A connection that reconnects forever (a restarted nats-server is waited for)."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
    )


async def ensure_streams(nc: nats.NATS, config: IngestConfig) -> None:
    """Creates or updates the ingest and dead-letter streams and the durable consumer."""
    js = nc.jetstream()
    names = config.names
    streams = (
        api.StreamConfig(
            name=names.stream,
            subjects=[f"{names.subject_prefix}.>"],
            storage=api.StorageType.FILE,
            duplicate_window=config.duplicate_window,
            max_age=config.stream_max_age,
        ),
        api.StreamConfig(
            name=names.dlq_stream,
            subjects=[f"{names.dlq_prefix}.>"],
            storage=api.StorageType.FILE,
            duplicate_window=config.duplicate_window,
            max_age=config.dlq_max_age,
        ),
    )
    for stream in streams:
        try:
            await js.stream_info(stream.name or "")
            await js.update_stream(stream)
        except NotFoundError:
            await js.add_stream(stream)
    consumer = api.ConsumerConfig(
        durable_name=names.durable,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=config.ack_wait,
        max_deliver=config.max_deliver,
        filter_subject=f"{names.subject_prefix}.>",
        max_ack_pending=max(10_000, config.batch * 4),
        deliver_policy=api.DeliverPolicy.ALL,
    )
    try:
        await js.add_consumer(names.stream, consumer)  # creates, or updates a compatible existing one
    except BadRequestError as error:  # a change the server refuses to apply in place: keep the old one
        log.warning("consumer %s kept as is: %s", names.durable, error)


@dataclass
class WorkerStats:
    recorded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0


class IngestWorker:
    """One worker; run several (processes or hosts) on the same stream to scale out."""

    def __init__(
        self,
        app: EventChain,
        nats_url: str,
        config: IngestConfig | None = None,
        record: Callable[[Sequence[AcceptedTouchpoint]], BatchResult] | None = None,
    ) -> None:
        self.app = app
        self.nats_url = nats_url
        self.config = config or IngestConfig()
        self.record = record or app.record_batch
        self.stats = WorkerStats()

    def run(self, stop: threading.Event) -> None:
        """Blocks until ``stop`` is set (for threads and `serve`)."""
        asyncio.run(self.run_async(stop))

    async def run_async(self, stop: threading.Event) -> None:
        nc = await connect(self.nats_url, name="eventchain-ingest")
        try:
            await ensure_streams(nc, self.config)
            js = nc.jetstream()
            names = self.config.names
            fetcher = await BatchFetcher.bind(nc, names.stream, names.durable)
            # Pipelined: while batch N is being committed (in a thread), batch N+1 is fetched
            # and validated. Commits stay sequential, one in flight, each acked after it.
            in_flight: asyncio.Future[None] | None = None
            while not stop.is_set():
                try:
                    messages = await fetcher.fetch(self.config.batch, timeout=self.config.fetch_timeout)
                except (
                    nats.errors.ConnectionClosedError,
                    nats.errors.NoRespondersError,
                    nats.js.errors.APIError,
                    nats.errors.Error,
                ) as error:
                    log.warning("fetch failed (%s); retrying", error)
                    await asyncio.sleep(0.5)
                    continue
                if not messages:
                    continue
                accepted, valid = await self.validate(js, messages)
                if in_flight is not None:
                    await in_flight
                in_flight = (
                    asyncio.ensure_future(self.commit_and_ack(accepted, valid, stop)) if accepted else None
                )
            if in_flight is not None:
                await in_flight
        finally:
            await nc.close()

    async def validate(self, js: Any, messages: list[Any]) -> tuple[list[AcceptedTouchpoint], list[Any]]:
        """Strict decode; rejects are dead-lettered (and terminated) right away."""
        accepted: list[AcceptedTouchpoint] = []
        valid: list[Any] = []
        for message in messages:
            try:
                accepted.append(self.decode(message))
                valid.append(message)
            except RejectedTouchpointError as error:
                await self.dead_letter(js, message, error)
        return accepted, valid

    def decode(self, message: Any) -> AcceptedTouchpoint:
        """Strict decode, and the subject must name the envelope's channel (SPEC §2.1b): a
        mismatch is a publisher bug that would file dead letters and metrics under the wrong channel."""
        touchpoint = decode_touchpoint(message.data)
        channel = channel_of(touchpoint.touchpoint)
        if message.subject != self.config.names.subject(channel):
            raise RejectedTouchpointError(
                "$.channel", f"is {channel!r} but the message was published on {message.subject!r}"
            )
        return touchpoint

    async def commit_and_ack(
        self, accepted: list[AcceptedTouchpoint], valid: list[Any], stop: threading.Event
    ) -> None:
        result = await self.commit(accepted, valid, stop)
        if result is None:
            return  # stopping before the store came back: nothing acked, JetStream redelivers
        if os.environ.get(CRASH_AFTER_COMMIT_ENV):
            os._exit(137)  # the crash the reliability test wants: committed, never acked
        for message in valid:
            await message.ack()
        self.stats.recorded += result.recorded
        self.stats.duplicates += result.duplicates
        self.stats.batches += 1

    async def commit(
        self, accepted: list[AcceptedTouchpoint], messages: list[Any], stop: threading.Event
    ) -> BatchResult | None:
        """Records the batch, retrying through store outages; keeps the messages ours meanwhile."""
        while True:
            task = asyncio.ensure_future(asyncio.to_thread(self.record, accepted))
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=self.config.ack_wait / 3)
                if not done:
                    await self._in_progress(messages)
            try:
                return task.result()
            except Exception as error:  # a store outage: keep the batch, try again
                log.warning("store write failed (%s); retrying in %.1f s", error, self.config.retry_delay)
                await self._in_progress(messages)
                if stop.wait(0):
                    return None
                await asyncio.sleep(self.config.retry_delay)

    async def _in_progress(self, messages: list[Any]) -> None:
        for message in messages:
            try:
                await message.in_progress()
            except Exception as error:  # a lost connection: JetStream redelivers later, harmless
                log.debug("in_progress failed: %s", error)

    async def dead_letter(self, js: Any, message: Any, error: RejectedTouchpointError) -> None:
        names = self.config.names
        metadata = message.metadata
        headers = {
            REASON_HEADER: error.reason[:1000],
            PATH_HEADER: error.path[:200],
            DELIVERIES_HEADER: str(metadata.num_delivered),
            SUBJECT_HEADER: message.subject,
            SEQUENCE_HEADER: str(metadata.sequence.stream),
            # a redelivered reject is dead-lettered once (within the duplicate window)
            "Nats-Msg-Id": f"dlq-{names.stream}-{metadata.sequence.stream}",
        }
        await js.publish(
            f"{names.dlq_prefix}.{names.channel_of(message.subject)}", message.data, headers=headers
        )
        await message.term()
        self.stats.dead_lettered += 1
        log.info("dead-lettered %s seq %s: %s", message.subject, metadata.sequence.stream, error)


@dataclass(frozen=True, slots=True)
class PublishResult:
    published: int
    duplicates: int  # the stream already had this touchpoint_id (within the duplicate window)


async def publish_envelopes(
    nats_url: str,
    envelopes: Sequence[tuple[AcceptedTouchpoint, bytes]],
    config: IngestConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> PublishResult:
    """Publishes validated envelopes with ``Nats-Msg-Id`` = touchpoint_id, asynchronously,
    waiting for every acknowledgement (retrying ones a restarting server dropped)."""
    config = config or IngestConfig()
    nc = await connect(nats_url, name="eventchain-publish")
    published = duplicates = 0
    try:
        await ensure_streams(nc, config)
        js = nc.jetstream(publish_async_max_pending=4000)
        pending = list(envelopes)
        while pending:
            futures = []
            for accepted, raw in pending:
                subject = config.names.subject(channel_of(accepted.touchpoint))
                headers = {"Nats-Msg-Id": accepted.touchpoint_id}
                futures.append(((accepted, raw), await js.publish_async(subject, raw, headers=headers)))
            retry = []
            for item, future in futures:
                try:
                    ack = await asyncio.wait_for(future, timeout=10)
                except Exception:  # timed out or lost with a restarting server: publish again
                    retry.append(item)
                    continue
                duplicates += bool(ack.duplicate)
                published += not ack.duplicate
            if progress:
                progress(len(futures) - len(retry))
            pending = retry
            if retry:
                await asyncio.sleep(0.5)
    finally:
        await nc.close()
    return PublishResult(published, duplicates)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
