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

Longer than 400 lines on purpose: a message's whole fate (validated, recorded, dead-lettered,
tallied for the intake ledger, acked) is decided in this one loop, and reading it in one file
is how one checks that nothing is acked before it is committed."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar
from uuid import uuid4

import nats
import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from adapters.jetstream_pull import BatchFetcher
from adapters.nats import (
    DELIVERIES_HEADER,
    EXCEPTION_HEADER,
    ORIGINAL_MSG_ID_HEADER,
    PATH_HEADER,
    REASON_HEADER,
    SEQUENCE_HEADER,
    SUBJECT_HEADER,
    IngestConfig,
    bounded_body,
    connect,
    dead_letter_id,
    ensure_streams,
    header_value,
)
from application.event_chain import BatchResult, ConcurrencyRetriesExhaustedError, EventChain
from domain.identity_rules import DEFAULT_IDENTITY_RULES, IdentityRules
from domain.intake import (
    IntakeEntry,
    IntakeManifest,
    IntakeTally,
    check_dictionaries,
    china_day,
    decode_manifest,
    entry_of_placement,
    entry_of_reject,
    reject_kind,
)
from domain.resolution import Placement
from domain.touchpoints import (
    AcceptedTouchpoint,
    EnvelopeLimits,
    RejectedTouchpointError,
    channel_of,
    decode_touchpoint,
)

log = logging.getLogger("eventchain.ingest")
T = TypeVar("T")

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

BLOCKED_REFRESH_S: Final = 10.0  # how soon a rules revision's [identities] blocked applies
CRASH_AFTER_COMMIT_ENV: Final = "EVENTCHAIN_TEST_CRASH_AFTER_COMMIT"  # test hook: die between commit and ack


@dataclass
class WorkerStats:
    recorded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    # the intake ledger's outcomes counted by this worker (/metrics): (channel, outcome) and
    # (channel, reason of a dead letter) → messages
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    dead_letter_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)

    def count(self, entries: Sequence[IntakeEntry]) -> None:
        for entry in entries:
            self.outcomes[entry.channel, entry.outcome] += 1
            if entry.outcome == "dead_lettered":
                self.dead_letter_reasons[entry.channel, entry.reason] += 1


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
        self.record = record  # None: the application's, with the batch's intake tally
        self.stats = WorkerStats()
        self.blocked_identities: Callable[[], frozenset[str]] = _refreshed(
            lambda: _blocked_identities(app), BLOCKED_REFRESH_S, frozenset[str]()
        )
        self.identity_rules = _refreshed(
            lambda: _identity_rules(app), BLOCKED_REFRESH_S, DEFAULT_IDENTITY_RULES
        )
        no_dictionaries: tuple[int, dict[str, frozenset[str]]] = (0, {})
        self.dictionaries = _refreshed(lambda: _dictionaries(app), BLOCKED_REFRESH_S, no_dictionaries)
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
            manifests = asyncio.ensure_future(self.take_manifests(nc, stop))
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
            await manifests
        finally:
            await nc.close()

    async def take_manifests(self, nc: Any, stop: threading.Event) -> None:
        """Records upstream's batch manifests (how many a channel sent per campaign and day),
        once each; a manifest that does not decode is logged and terminated."""
        names = self.config.names
        fetcher = await BatchFetcher.bind(nc, names.manifest_stream, names.manifest_durable)
        while not stop.is_set():
            try:
                messages = await fetcher.fetch(100, timeout=self.config.fetch_timeout)
            except Exception as error:  # NATS away: the main loop logs it; try again
                log.debug("manifest fetch failed: %s", error)
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                try:
                    manifest = IntakeManifest.receive(decode_manifest(message.data))
                except RejectedTouchpointError as error:
                    log.warning("manifest on %s rejected: %s", message.subject, error)
                    await message.term()
                    continue
                try:
                    await asyncio.to_thread(self.app.save, manifest)
                except IntegrityError:
                    pass  # recorded already: a redelivery
                except Exception as error:  # the store away: redelivered after AckWait
                    log.warning("manifest not recorded (%s); it comes back", error)
                    continue
                await message.ack()

    async def validate(self, js: Any, messages: list[Any]) -> tuple[list[AcceptedTouchpoint], list[Any]]:
        """Strict decode; rejects are dead-lettered (and terminated) right away."""
        accepted: list[AcceptedTouchpoint] = []
        valid: list[Any] = []
        received_at = self.app.clock()  # the receive time bounds occurred_at
        limits = replace(self.config.limits, blocked=self.config.limits.blocked | self.blocked_identities())
        self.app.identity_rules = self.identity_rules()
        rejects: list[tuple[Any, RejectedTouchpointError, str | None]] = []
        for message in messages:
            try:
                touchpoint = self.decode(message, received_at, limits)
            except RejectedTouchpointError as error:
                rejects.append((message, error, None))
            except Exception as error:  # a bug on hostile input: still this message's alone
                rejects.append((message, _unexpected(error), type(error).__name__))
            else:
                accepted.append(touchpoint)
                valid.append(message)
                for key, reason in touchpoint.dropped:
                    log.info("touchpoint %s: identity %s left out: %s", touchpoint.touchpoint_id, key, reason)
        await self.dead_letter_all(js, rejects)
        return accepted, valid

    async def dead_letter_all(
        self, js: Any, rejects: list[tuple[Any, RejectedTouchpointError, str | None]]
    ) -> None:
        """Records the rejects in the intake ledger, then dead-letters them; if the store cannot
        record them, they stay unacked and come back (the ledger never misses a dead letter)."""
        if not rejects:
            return
        received_at = self.app.clock()
        names = self.config.names
        entries = [
            _reject_entry(message, names.channel_of(message.subject), received_at, error, exception)
            for message, error, exception in rejects
        ]
        bare = [replace(e, touchpoint_id="", source="", medium="", campaign="", path="") for e in entries]
        # if the store answers but refuses the tally, something the envelopes carried is what it
        # refused: the second try keeps only what the worker itself knows of each message
        for attempt in (entries, bare):
            try:
                await asyncio.to_thread(
                    self.app.save, IntakeTally.count(uuid4(), names.stream, received_at, attempt)
                )
                break
            except Exception as failure:
                if attempt is bare or not await self._store_answers():
                    log.warning(
                        "%d dead letters not tallied (%s); they come back after AckWait",
                        len(rejects),
                        failure,
                    )
                    return
        self.stats.count(entries)
        for message, error, exception in rejects:
            await self.dead_letter(js, message, error, exception)

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
        version, dictionaries = self.dictionaries()
        check_dictionaries(touchpoint.touchpoint, dictionaries, version)
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
                await self.dead_letter_all(js, [(valid[0], _unexpected(error), type(error).__name__)])
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
        if len(result.placements) == len(valid):
            self.stats.count(
                [
                    entry_of_placement(message.metadata.sequence.stream, touchpoint, placement)
                    for touchpoint, message, placement in zip(accepted, valid, result.placements, strict=True)
                ]
            )

    async def commit(
        self, accepted: list[AcceptedTouchpoint], messages: list[Any], stop: threading.Event
    ) -> BatchResult | None:
        """Records the batch, retrying through store outages; keeps the messages ours meanwhile."""
        delay = self.config.retry_delay
        while True:
            task = asyncio.ensure_future(asyncio.to_thread(self._record, accepted, messages))
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

    def _record(self, accepted: Sequence[AcceptedTouchpoint], messages: Sequence[Any]) -> BatchResult:
        if self.record is not None:
            return self.record(accepted)
        stream = self.config.names.stream

        def tally(placements: Sequence[Placement]) -> IntakeTally:
            entries = [
                entry_of_placement(message.metadata.sequence.stream, touchpoint, placement)
                for touchpoint, message, placement in zip(accepted, messages, placements, strict=True)
            ]
            return IntakeTally.count(uuid4(), stream, self.app.clock(), entries)

        return self.app.record_batch(accepted, tally)

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
            REASON_HEADER: header_value(error.reason, 1000),
            PATH_HEADER: header_value(error.path, 200),
            DELIVERIES_HEADER: str(metadata.num_delivered),
            SUBJECT_HEADER: header_value(message.subject, 200),
            SEQUENCE_HEADER: str(metadata.sequence.stream),
            # a redelivered reject is dead-lettered once (within the duplicate window)
            "Nats-Msg-Id": dead_letter_id(names.stream, metadata.sequence.stream),
        }
        if exception:
            headers[EXCEPTION_HEADER] = exception
        original_id = (message.headers or {}).get("Nats-Msg-Id")
        if original_id:
            headers[ORIGINAL_MSG_ID_HEADER] = header_value(original_id, 200)
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


def _identity_rules(app: EventChain) -> IdentityRules:
    from application.rules import identity_rules

    return identity_rules(app)


def _reject_entry(
    message: Any, channel: str, received_at: Any, error: RejectedTouchpointError, exception: str | None
) -> IntakeEntry:
    """A dead letter's ledger entry; hostile bytes that trip the entry itself (a bug) still
    leave the message's sequence, channel and day."""
    sequence = message.metadata.sequence.stream
    kind = "other" if exception else reject_kind(error)
    try:
        return entry_of_reject(sequence, message.data or b"", channel, received_at, kind, error.path)
    except Exception as failure:
        log.warning("dead letter seq %s tallied without its details (%s)", sequence, failure)
        return IntakeEntry(sequence, channel, china_day(received_at), "dead_lettered", reason=kind)


def _dictionaries(app: EventChain) -> tuple[int, dict[str, frozenset[str]]]:
    from application.rules import field_dictionaries_in_force

    return field_dictionaries_in_force(app)


def _blocked_identities(app: EventChain) -> frozenset[str]:
    from application.rules import blocked_identities

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


def _unexpected(error: BaseException) -> RejectedTouchpointError:
    return RejectedTouchpointError("$", f"{type(error).__name__}: {error}"[:1000])
