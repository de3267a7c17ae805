"""NATS JetStream plumbing (SPEC §2.1b): stream, subject and consumer names, the
headers a dead letter carries, connecting, creating the streams, publishing envelopes.
The consumer that records what arrives is ``eventchain.ingest_worker``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NATS
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from adapters.limits import limits_from_env
from domain.touchpoints import (
    CHANNELS,
    AcceptedTouchpoint,
    EnvelopeLimits,
    channel_of,
)

log = logging.getLogger("eventchain.ingest")

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
_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")
_CHANNEL_TOKEN: Final = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass(frozen=True, slots=True)
class NatsNames:
    """Stream, subject and consumer names (SPEC §2.1b); tests use their own prefixes."""

    stream: str = "TOUCHPOINTS"
    subject_prefix: str = "touchpoints"
    dlq_stream: str = "TOUCHPOINTS_DLQ"
    dlq_prefix: str = "dlq.touchpoints"
    durable: str = "eventchain-ingest"
    # upstream's batch manifests: how many a channel sent per campaign and day (domain/intake.py)
    manifest_stream: str = "INTAKE_MANIFESTS"
    manifest_prefix: str = "manifests"
    manifest_durable: str = "eventchain-manifests"

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


PROBE_TIMEOUT_S: Final = 2.0


class NatsUnreachableError(ConnectionError):
    """No server of a NATS URL accepts a connection: one line naming the URL and the cause."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"cannot reach NATS at {url}: {cause}")
        self.url = url
        self.cause = cause


async def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raises NatsUnreachableError unless some server of ``url`` (comma-separated) answers with
    NATS's INFO line within ``timeout`` seconds (a refused connection is tried again until then:
    a server restarting). nats-py's own first connect, told to reconnect forever, would wait
    forever for a server that refuses or does not exist."""
    deadline = time.monotonic() + timeout
    while True:
        causes = await _probe_once(url, timeout)
        if not causes:
            return
        if time.monotonic() + 0.2 >= deadline or any("no answer" in c for c in causes):
            raise NatsUnreachableError(url, "; ".join(dict.fromkeys(causes)).lower())
        await asyncio.sleep(0.2)


async def _probe_once(url: str, timeout: float) -> list[str]:
    """Why no server of ``url`` answered (empty: one did)."""
    causes: list[str] = []
    for server in url.split(","):
        parsed = urlsplit(server.strip() if "://" in server else f"nats://{server.strip()}")
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 4222
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    greeting = await reader.readline()
                finally:
                    writer.close()
        except TimeoutError:
            causes.append(f"no answer within {timeout:g} s")
            continue
        except OSError as error:
            causes.append(_cause(error))
            continue
        if greeting.startswith(b"INFO"):
            return []
        causes.append("the server there does not speak NATS")
    return causes


def _cause(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"host not found ({error.strerror})"
    return os.strerror(error.errno) if error.errno else str(error) or type(error).__name__


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
        api.StreamConfig(
            name=names.manifest_stream,
            subjects=[f"{names.manifest_prefix}.>"],
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
    manifests = api.ConsumerConfig(
        durable_name=names.manifest_durable,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=config.ack_wait,
        max_deliver=config.max_deliver,
        filter_subject=f"{names.manifest_prefix}.>",
        deliver_policy=api.DeliverPolicy.ALL,
    )
    for stream_name, wanted in ((names.stream, consumer), (names.manifest_stream, manifests)):
        try:
            await js.add_consumer(stream_name, wanted)  # creates, or updates a compatible existing one
        except BadRequestError as error:  # a change the server refuses to apply in place: keep the old one
            log.warning("consumer %s kept as is: %s", wanted.durable_name, error)


def dead_letter_id(stream: str, sequence: int) -> str:
    """The Nats-Msg-Id of the dead letter of ``stream``'s message ``sequence``."""
    return f"dlq-{stream}-{sequence}"


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


def header_value(text: str, limit: int) -> str:
    # a header value holding CR/LF would break the protocol line (the server drops the connection);
    # nats-py reads header values as ASCII, so other characters travel as \uXXXX (header_text)
    safe = _HEADER_UNSAFE.sub("?", text).encode("ascii", "backslashreplace").decode("ascii")
    return safe[:limit]


def header_text(value: object) -> str:
    """A header value as header_value wrote it, its backslash-u escapes turned back into text."""
    text = str(value)
    if "\\" not in text:
        return text
    try:
        return text.encode("ascii").decode("unicode_escape")
    except (UnicodeError, ValueError):
        return text


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
