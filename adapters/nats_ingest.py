"""NATS JetStream ingestion (SPEC §1, §2.1, §2.1b, §9): the path upstream channels use.

The worker fetches a batch from a durable pull consumer, validates every message
strictly, records the valid ones in ONE store transaction, and only then acks them.
Invalid messages are copied to ``dlq.touchpoints.<channel>`` (stream TOUCHPOINTS_DLQ)
with the original bytes, the reason and the delivery count, and terminated: they never
block the batch. While a store write is in progress or retried (an outage), the worker
tells JetStream it is still working on the messages (``in_progress``), so they are
neither redelivered nor acked; if the worker dies, JetStream redelivers them after
AckWait and the store's touchpoint-id deduplication makes the redelivery harmless.

Bad input is contained to its message: whatever fails while decoding, validating,
resolving or recording one message dead-letters that message (reason and exception
class in headers) and the worker goes on. A message delivered ``poison_deliveries``
times without being recorded (the worker died on it) is dead-lettered without another
try. A dead-letter copy never exceeds the server's max payload: a bigger original keeps a
prefix, with its size and sha256 in headers. Transient failures (store or NATS down) are
retried with backoff and logged; they never ack or drop anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar

import nats
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from nats.aio.client import Client as NATS
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from adapters.application import BatchResult, ConcurrencyRetriesExhaustedError, EventChain
from adapters.jetstream_pull import BatchFetcher
from adapters.limits import limits_from_env
from domain.identity_rules import DEFAULT_IDENTITY_RULES, IdentityRules
from domain.touchpoints import (
    CHANNELS,
    AcceptedTouchpoint,
    EnvelopeLimits,
    RejectedTouchpointError,
    channel_of,
    decode_touchpoint,
)

log = logging.getLogger("eventchain.ingest")
T = TypeVar("T")

REASON_HEADER: Final = "Eventchain-Reject-Reason"
PATH_HEADER: Final = "Eventchain-Reject-Path"
DELIVERIES_HEADER: Final = "Eventchain-Delivery-Count"
SUBJECT_HEADER: Final = "Eventchain-Original-Subject"
SEQUENCE_HEADER: Final = "Eventchain-Stream-Sequence"
EXCEPTION_HEADER: Final = "Eventchain-Reject-Exception"
TRUNCATED_HEADER: Final = "Eventchain-Truncated"
ORIGINAL_SIZE_HEADER: Final = "Eventchain-Original-Size"
ORIGINAL_SHA256_HEADER: Final = "Eventchain-Original-Sha256"
ORIGINAL_MSG_ID_HEADER: Final = "Eventchain-Original-Msg-Id"  # the publisher's Nats-Msg-Id, for a retry
DLQ_HEADROOM: Final = 4096  # bytes kept free of a dead letter's body for its headers and protocol
# Failures that say nothing about the message: the store or the network is away, or other
# writers keep winning. They are retried. Any other failure while recording is taken for
# the message's own only if the store still answers a probe (see IngestWorker.commit).
TRANSIENT_ERRORS: Final = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    ConcurrencyRetriesExhaustedError,
    ConnectionError,
    TimeoutError,
)
_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")
BLOCKED_REFRESH_S: Final = 10.0  # how soon a rules revision's [identities] blocked applies
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
    duplicate_window: float = field(default_factory=lambda: duplicate_window_from_env())  # seconds
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
    retry_delay: float = 1.0  # first wait between attempts to commit a batch during a store outage
    max_retry_delay: float = 30.0  # the backoff doubles up to this
    poison_deliveries: int = 5  # a message delivered this often without being recorded is dead-lettered
    limits: EnvelopeLimits = field(default_factory=limits_from_env)


DUPLICATE_WINDOW_ENV: Final = "EVENTCHAIN_DUPLICATE_WINDOW_S"


def duplicate_window_from_env(environ: dict[str, str] | None = None) -> float:
    """JetStream's duplicate window on TOUCHPOINTS (SPEC §2.1b: configurable, default 2 min).
    Within it a re-published Nats-Msg-Id is dropped by the server (``dlq retry`` says so)."""
    text = (os.environ if environ is None else environ).get(DUPLICATE_WINDOW_ENV, "").strip()
    if not text:
        return 120.0
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{DUPLICATE_WINDOW_ENV}={text!r}: expected seconds, e.g. 120") from None
    if not 0 < seconds <= 86_400:
        raise ValueError(f"{DUPLICATE_WINDOW_ENV}={text!r}: must be within (0, 86400] seconds")
    return seconds


async def connect(url: str, name: str = "eventchain", *, forever: bool = True) -> NATS:
    """A connection that reconnects forever (a restarted nats-server is waited for), or,
    with ``forever=False``, one that gives up after a few attempts (commands that must end).
    Connection errors are logged as one line each, not printed as tracebacks."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1 if forever else 2,
        reconnect_time_wait=0.5,
        connect_timeout=5 if forever else 2,
        allow_reconnect=True,
        error_cb=_log_connection_error,
    )


async def _log_connection_error(error: Exception) -> None:
    log.warning("NATS connection: %s", error or type(error).__name__)


async def ensure_streams(nc: NATS, config: IngestConfig) -> None:
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
        self.blocked_identities: Callable[[], frozenset[str]] = _refreshed(
            lambda: _blocked_identities(app), BLOCKED_REFRESH_S, frozenset[str]()
        )
        self.identity_rules = _refreshed(
            lambda: _identity_rules(app), BLOCKED_REFRESH_S, DEFAULT_IDENTITY_RULES
        )
        self.max_payload = 1024 * 1024  # the server's, once connected

    def run(self, stop: threading.Event) -> None:
        """Blocks until ``stop`` is set (for threads and `serve`)."""
        asyncio.run(self.run_async(stop))

    async def run_async(self, stop: threading.Event) -> None:
        nc = await connect(self.nats_url, name="eventchain-ingest")
        self.max_payload = nc.max_payload
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
                    TimeoutError,
                    OSError,
                ) as error:
                    log.warning("fetch failed (%s); retrying", error or type(error).__name__)
                    await asyncio.sleep(0.5)
                    continue
                if not messages:
                    continue
                accepted, valid = await self.validate(js, messages)
                if in_flight is not None:
                    await in_flight
                in_flight = None
                if accepted:
                    in_flight = asyncio.ensure_future(self.commit_and_ack(accepted, valid, stop, js))
            if in_flight is not None:
                await in_flight
        finally:
            await nc.close()

    async def validate(self, js: Any, messages: list[Any]) -> tuple[list[AcceptedTouchpoint], list[Any]]:
        """Strict decode; rejects are dead-lettered (and terminated) right away."""
        accepted: list[AcceptedTouchpoint] = []
        valid: list[Any] = []
        received_at = self.app.clock()  # the receive time bounds occurred_at
        limits = replace(self.config.limits, blocked=self.config.limits.blocked | self.blocked_identities())
        self.app.identity_rules = self.identity_rules()
        for message in messages:
            try:
                touchpoint = self.decode(message, received_at, limits)
            except RejectedTouchpointError as error:
                await self.dead_letter(js, message, error)
            except Exception as error:  # a bug on hostile input: still this message's alone
                await self.dead_letter(js, message, _unexpected(error), type(error).__name__)
            else:
                accepted.append(touchpoint)
                valid.append(message)
                for key, reason in touchpoint.dropped:
                    log.info("touchpoint %s: identity %s left out: %s", touchpoint.touchpoint_id, key, reason)
        return accepted, valid

    def decode(
        self, message: Any, received_at: Any = None, limits: EnvelopeLimits | None = None
    ) -> AcceptedTouchpoint:
        """Strict decode, and the subject must name the envelope's channel (SPEC §2.1b): a
        mismatch is a publisher bug that would file dead letters and metrics under the wrong channel."""
        deliveries = message.metadata.num_delivered
        if deliveries > self.config.poison_deliveries:
            raise RejectedTouchpointError(
                "$", f"delivered {deliveries} times without being recorded (the worker failed on it)"
            )
        touchpoint = decode_touchpoint(
            message.data, received_at=received_at, limits=limits or self.config.limits
        )
        channel = channel_of(touchpoint.touchpoint)
        if message.subject != self.config.names.subject(channel):
            raise RejectedTouchpointError(
                "$.channel", f"is {channel!r} but the message was published on {message.subject!r}"
            )
        return touchpoint

    async def commit_and_ack(
        self, accepted: list[AcceptedTouchpoint], valid: list[Any], stop: threading.Event, js: Any
    ) -> None:
        """Records and acks a batch; a batch that fails for a reason other than an outage is
        recorded one message at a time, and a message that fails alone is dead-lettered."""
        try:
            result = await self.commit(accepted, valid, stop)
        except Exception as error:  # not transient: a message of the batch poisons it
            if len(valid) == 1:
                await self.dead_letter(js, valid[0], _unexpected(error), type(error).__name__)
                return
            log.warning(
                "batch of %d failed (%s: %s); recording one by one", len(valid), type(error).__name__, error
            )
            for touchpoint, message in zip(accepted, valid, strict=True):
                await self.commit_and_ack([touchpoint], [message], stop, js)
            return
        if result is None:
            return  # stopping before the store came back: nothing acked, JetStream redelivers
        if os.environ.get(CRASH_AFTER_COMMIT_ENV):
            os._exit(137)  # the crash the reliability test wants: committed, never acked
        try:
            for message in valid:
                await message.ack()
        except Exception as error:  # a lost connection: redelivered, and the store records it once
            log.warning("ack failed (%s); JetStream redelivers, the store deduplicates", error)
        self.stats.recorded += result.recorded
        self.stats.duplicates += result.duplicates
        self.stats.batches += 1

    async def commit(
        self, accepted: list[AcceptedTouchpoint], messages: list[Any], stop: threading.Event
    ) -> BatchResult | None:
        """Records the batch, retrying through store outages; keeps the messages ours meanwhile."""
        delay = self.config.retry_delay
        while True:
            task = asyncio.ensure_future(asyncio.to_thread(self.record, accepted))
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=self.config.ack_wait / 3)
                if not done:
                    await self._in_progress(messages)
            try:
                return task.result()
            except Exception as error:
                if not isinstance(error, TRANSIENT_ERRORS) and await self._store_answers():
                    raise  # the store is fine: the batch itself fails (commit_and_ack isolates it)
                # a store outage: keep the batch, try again
                log.warning("store write failed (%s); retrying in %.1f s", error, delay)
                await self._in_progress(messages)
                if stop.wait(0):
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.max_retry_delay)

    async def _store_answers(self) -> bool:
        try:
            await asyncio.to_thread(self.app.max_notification_id)
        except Exception:
            return False
        return True

    async def _in_progress(self, messages: list[Any]) -> None:
        for message in messages:
            try:
                await message.in_progress()
            except Exception as error:  # a lost connection: JetStream redelivers later, harmless
                log.debug("in_progress failed: %s", error)

    async def dead_letter(
        self, js: Any, message: Any, error: RejectedTouchpointError, exception: str | None = None
    ) -> None:
        """Copies the message to the dead-letter subject and terminates it; if the copy cannot
        be published (NATS away), the message stays unacked and is redelivered later."""
        names = self.config.names
        metadata = message.metadata
        headers = {
            REASON_HEADER: _header_value(error.reason, 1000),
            PATH_HEADER: _header_value(error.path, 200),
            DELIVERIES_HEADER: str(metadata.num_delivered),
            SUBJECT_HEADER: _header_value(message.subject, 200),
            SEQUENCE_HEADER: str(metadata.sequence.stream),
            # a redelivered reject is dead-lettered once (within the duplicate window)
            "Nats-Msg-Id": f"dlq-{names.stream}-{metadata.sequence.stream}",
        }
        if exception:
            headers[EXCEPTION_HEADER] = exception
        original_id = (message.headers or {}).get("Nats-Msg-Id")
        if original_id:
            headers[ORIGINAL_MSG_ID_HEADER] = _header_value(original_id, 200)
        body = bounded_body(message.data, headers, self.max_payload)
        try:
            await js.publish(
                f"{names.dlq_prefix}.{names.channel_of(message.subject)}",
                body,
                headers=headers,
                timeout=self.config.ack_wait / 3,
            )
            await message.term()
        except Exception as failure:  # NATS away or refusing: redelivered after AckWait, tried again
            log.warning("dead letter of seq %s not published (%s)", metadata.sequence.stream, failure)
            return
        self.stats.dead_lettered += 1
        log.info("dead-lettered %s seq %s: %s", message.subject, metadata.sequence.stream, error)


def bounded_body(data: bytes, headers: dict[str, str], max_payload: int) -> bytes:
    """The original bytes, or a prefix of them that fits ``max_payload`` with the headers
    (which then say so and carry the original's size and sha256)."""
    header_bytes = sum(len(k) + len(v.encode()) + 4 for k, v in headers.items()) + 512
    room = max_payload - header_bytes - DLQ_HEADROOM
    if len(data) <= room:
        return data
    headers[TRUNCATED_HEADER] = "true"
    headers[ORIGINAL_SIZE_HEADER] = str(len(data))
    headers[ORIGINAL_SHA256_HEADER] = hashlib.sha256(data).hexdigest()
    return data[: max(0, room - 200)]  # the two headers just added


def _identity_rules(app: EventChain) -> IdentityRules:
    from adapters.rules import identity_rules  # adapters.rules imports the router

    return identity_rules(app)


def _blocked_identities(app: EventChain) -> frozenset[str]:
    from adapters.rules import blocked_identities  # adapters.rules imports the router

    return blocked_identities(app)


def _refreshed(read: Callable[[], T], seconds: float, initial: T) -> Callable[[], T]:
    """``read()``, called again only when its last value is older than ``seconds``; a failed
    read (the store away) keeps the last value (``initial`` before any)."""
    last: list[Any] = [initial, -seconds - 1.0]

    def current() -> T:
        if time.monotonic() - last[1] > seconds:
            try:
                last[0] = read()
            except Exception as error:
                log.warning("rules not read (%s); keeping the last value", error)
            last[1] = time.monotonic()
        return last[0]  # type: ignore[no-any-return]

    return current


def _header_value(text: str, limit: int) -> str:
    # a header value holding CR/LF would break the protocol line (the server drops the connection)
    return _HEADER_UNSAFE.sub("?", text)[:limit]


def _unexpected(error: BaseException) -> RejectedTouchpointError:
    return RejectedTouchpointError("$", f"{type(error).__name__}: {error}"[:1000])


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
    waiting for every acknowledgement (retrying ones a restarting server dropped). It does
    not give up by itself: bound it with ``asyncio.wait_for`` (``publish --timeout``)."""
    config = config or IngestConfig()
    nc = await connect(nats_url, name="eventchain-publish")
    published = duplicates = 0
    try:
        await ensure_streams(nc, config)
        js = nc.jetstream(publish_async_max_pending=4000)
        pending = list(envelopes)
        delay = 0.5
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
                except Exception as error:  # timed out or lost with a restarting server: publish again
                    log.warning("publish of %s not acknowledged (%s); again", item[0].touchpoint_id, error)
                    retry.append(item)
                    continue
                duplicates += bool(ack.duplicate)
                published += not ack.duplicate
            if progress:
                progress(len(futures) - len(retry))
            pending = retry
            if retry:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
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
