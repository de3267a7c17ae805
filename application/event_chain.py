"""The eventchain Application: the use cases over the event store.

Over 400 lines on purpose: it is one class, the library's ``Application`` subclass that owns
the aggregate cache, the batch recorder (identity resolution, one transaction per batch, lost
races retried with back-off) and the save paths every follower uses; splitting it would split
the cache from the code that must keep it consistent. Use cases that only load and save live
in their own modules of ``application/``."""

from __future__ import annotations

import functools
import gc
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Tracking,
    Transcoder,
)
from eventsourcing.utils import get_topic

from adapters.crypto import EncryptingMapper, KeyStore
from adapters.store import schema_creation_lock, select_aggregate_events, store_env
from adapters.transcoder import FastJSONTranscoder
from domain.customer import Customer, IdentityIndex, corrected_value
from domain.identities import identity_index_id, identity_key, normalise_identity
from domain.identity_rules import DEFAULT_IDENTITY_RULES
from domain.resolution import BatchResolver, Placement
from domain.touchpoints import AcceptedTouchpoint

A = TypeVar("A", bound=Aggregate)

# 4+ characters of a customer id: the prefix `customer`, `merge`, `unmerge`, `history` accept.
CUSTOMER_ID_PREFIX: Final = re.compile(r"[0-9a-f][0-9a-f-]{3,35}")
DEFAULT_MAX_BATCH = 500
MAX_ATTEMPTS = 16
# After the n-th lost race a writer sleeps a random 0..min(CAP, BASE·2ⁿ) seconds ("full
# jitter") before it reloads: writers that collided do not retry in step and collide
# again. Without it three writers sharing customers could lose 8 races in a row on a
# busy 2-core machine. The 16 attempts sleep at most ~2.6 s in all.
CONFLICT_BACKOFF_BASE_S = 0.002
CONFLICT_BACKOFF_CAP_S = 0.25
DEFAULT_CACHE_SIZE = 200_000
# A batch in flight (decoded envelopes, events, stored events: ~25,000 objects) outlives
# many of CPython's young collections (every 700 allocations), so it is promoted to the
# oldest generation and sets off a full collection of the whole heap, the aggregate cache
# above all, every few batches: a fifth of the NATS worker's time, a third of an import's.
# Collecting the young generation every 50,000 allocations lets a batch die by reference
# counting first.
YOUNG_GC_THRESHOLD = 50_000


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True, slots=True)
class BatchResult:
    placements: list[Placement]
    attempts: int

    @property
    def recorded(self) -> int:
        return sum(p.recorded for p in self.placements)

    @property
    def duplicates(self) -> int:
        return sum(not p.recorded for p in self.placements)


class StoreSettings(Protocol):
    """What building the application needs of the runtime settings (``eventchain.config``)."""

    @property
    def store_url(self) -> str: ...
    @property
    def kek(self) -> bytes | None: ...


class EventChain(Application[UUID]):
    name = "eventchain"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], datetime] = utc_now,
        kek: bytes | None = None,
    ) -> None:
        # kek: the key-encryption key; with it personal fields are encrypted per customer
        # (adapters.crypto) and identity index entries are keyed hashes. None: plaintext.
        self._kek = kek
        self.keys: KeyStore | None = None
        super().__init__(env)
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.clock = clock
        self._cache: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._cache_size = cache_size
        # Identity limits and priorities for resolution; ingest sets those of the rules in force.
        self.identity_rules = DEFAULT_IDENTITY_RULES

    @classmethod
    def from_url(cls, store_url: str, **kwargs: Any) -> EventChain:
        return cls(env=store_env(store_url), **kwargs)

    @classmethod
    def from_settings(cls, settings: StoreSettings, **kwargs: Any) -> EventChain:
        """The composition root of the application: the configured store with the configured
        key-encryption key (every process builds it this way, so none forgets the key)."""
        return cls.from_url(settings.store_url, kek=settings.kek, **kwargs)

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder: the same events table plus tracking records, so followers
        # of the log (router, SLA watcher) write their events and their position atomically.
        # Workers starting together on a fresh PostgreSQL database would race to create the
        # tables and functions (not atomic there, even with IF NOT EXISTS): serialise it.
        with schema_creation_lock(self.env):
            return self.factory.process_recorder()

    def construct_transcoder(self) -> Transcoder:
        # The library's JSON, byte for byte, written faster (adapters/transcoder.py); a
        # transcoder chosen through TRANSCODER_TOPIC is kept as it is.
        transcoder = super().construct_transcoder()
        if type(transcoder) is not JSONTranscoder:
            return transcoder
        fast = FastJSONTranscoder()
        self.register_transcodings(fast)
        return fast

    def construct_event_store(self) -> Any:
        if self._kek is not None:  # the recorder exists now: the key table lives next to the events
            self.keys = KeyStore(self.recorder, self._kek)
            self.mapper = EncryptingMapper(self.mapper.transcoder, self.keys)
        return super().construct_event_store()

    def index_id(self, key: str) -> UUID:
        """The identity index aggregate of an identity key (keyed hash when encrypting)."""
        return identity_index_id(self.pseudonym(key))

    def pseudonym(self, key: str) -> str:
        return key if self.keys is None else self.keys.pseudonym(key)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        self._remember(obj for obj in objs if isinstance(obj, Aggregate))
        return recordings

    def save_tracked(self, tracking: Tracking, *aggregates: Aggregate) -> list[Recording[UUID]]:
        """Saves aggregates together with a follower's position, in one transaction.
        A tracking record that already exists raises IntegrityError: processed once."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*aggregates)
        try:
            recordings = self._record(processing_event)
        except BaseException:
            self._forget(a.id for a in aggregates)
            raise
        self._remember(aggregates)
        return recordings

    def save_deciding_again(
        self, decide: Callable[[], Sequence[A]], tracking: Tracking | None = None
    ) -> list[A] | None:
        """Saves what ``decide`` made of aggregates it loaded, with a follower's position if
        ``tracking``. A version conflict (another writer appended to one of them since it was
        loaded) calls ``decide`` again, to load them afresh and decide with what is true now;
        it is never read as "already decided". Returns the aggregates saved, or None when the
        tracking record exists: another instance of the follower recorded this position."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            aggregates = decide()
            try:
                if tracking is None:
                    self.save(*aggregates)
                else:
                    self.save_tracked(tracking, *aggregates)
            except IntegrityError:
                if tracking is not None:
                    tracked = self.tracked_position(tracking.application_name) or 0
                    if tracked >= tracking.notification_id:
                        return None
                back_off_after_conflict(attempt)
                continue
            return list(aggregates)
        raise ConcurrencyRetriesExhaustedError(MAX_ATTEMPTS)

    # --- use cases ------------------------------------------------------------------

    def record(self, touchpoints: Sequence[AcceptedTouchpoint]) -> list[BatchResult]:
        """Records touchpoints, ``max_batch`` at a time, ONE store transaction per batch.

        Identities are resolved against the store, duplicates (same ``touchpoint_id``)
        record nothing, and a batch that loses a race with another writer (optimistic
        concurrency: the store's unique (id, version)) is reloaded and retried whole.
        """
        return [self.record_batch(chunk) for chunk in _chunks(touchpoints, self.max_batch)]

    def record_batch(
        self,
        batch: Sequence[AcceptedTouchpoint],
        tally: Callable[[Sequence[Placement]], Aggregate | None] | None = None,
    ) -> BatchResult:
        """``tally``: builds, from the placements, an aggregate saved in the same transaction
        (the ingest's ``IntakeTally``: what became of each message, domain/intake.py)."""
        if len(batch) > self.max_batch:
            raise ValueError(f"a batch holds at most {self.max_batch} touchpoints")
        tune_gc_for_batches()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            resolver, loaded = self._resolver_for(batch, self.clock())
            try:
                placements = [resolver.place(accepted) for accepted in batch]
                changed = resolver.changed
                counted = tally(placements) if tally is not None else None
                if changed or counted is not None:
                    self._put([*changed, *([counted] if counted is not None else [])])
            except IntegrityError:
                # Another writer got there first: what we loaded is stale.
                self._forget(loaded)
                back_off_after_conflict(attempt)
                continue
            except BaseException:
                self._forget(loaded)
                raise
            self._remember(changed)
            return BatchResult(placements, attempt)
        raise ConcurrencyRetriesExhaustedError(MAX_ATTEMPTS)

    def _put(self, aggregates: Sequence[Aggregate]) -> None:
        # Application.save() checks every object against runtime Protocols, which costs
        # more than the encoding on our hot path; these are known aggregates.
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        if self.keys is not None:  # one round trip for the batch's data keys, committed first
            self.keys.prepare(
                str(e.originator_id) for e in events if type(e).__qualname__.startswith("Customer.")
            )
        self.events.put(events)

    # --- use cases: load → mutate → save ------------------------------------------------

    def correct_profile(self, reference: str, field: str, value: str, reason: str, actor: str) -> Customer:
        """Appends a ``Corrected`` event to the customer ``reference`` names (an id or an
        identity). Raises CustomerNotFoundError, or ValueError saying what is wrong with the
        correction (an erased customer's profile cannot be corrected: its key is gone)."""
        customer = self.find_customer(reference)
        if customer.erased:
            raise ValueError(f"customer {customer.id} was erased: its profile cannot be corrected")
        customer.correct(field, corrected_value(field, value), reason, actor, self.clock())
        self.save(customer)
        return customer

    # --- queries --------------------------------------------------------------------

    def get_customer(self, customer_id: UUID, *, follow_merges: bool = True) -> Customer:
        try:
            customer: Customer = self.repository.get(customer_id)
        except AggregateNotFoundError:
            raise CustomerNotFoundError(str(customer_id)) from None
        if not isinstance(customer, Customer):
            raise CustomerNotFoundError(str(customer_id))
        while follow_merges and customer.merged_into is not None:
            customer = self.repository.get(customer.merged_into)
        return customer

    def find_customer(self, reference: str) -> Customer:
        """A customer by id, or by an identity such as ``phone:13800138000``."""
        kind, sep, value = reference.partition(":")
        if sep:
            try:
                key = identity_key(kind, normalise_identity(kind, value))
            except ValueError:
                raise CustomerNotFoundError(reference) from None
            try:
                index: IdentityIndex = self.repository.get(self.index_id(key))
            except AggregateNotFoundError:
                raise CustomerNotFoundError(reference) from None
            if index.customer_id is None:  # released by an erasure
                raise CustomerNotFoundError(reference)
            return self.get_customer(index.customer_id)
        return self.get_customer(self.customer_id_of(reference))

    def customer_id_of(self, reference: str) -> UUID:
        """A customer id written in full or as a unique prefix of 4+ characters (what the
        demo and the tables print); merged-away customers count, so a prefix is stable."""
        text = reference.strip().lower()
        if CUSTOMER_ID_PREFIX.fullmatch(text) and len(text) < 36:
            matches = [i for i in self.customer_ids() if str(i).startswith(text)]
            if len(matches) > 1:
                raise CustomerNotFoundError(
                    reference,
                    f"customer id prefix {text} matches {len(matches)} customers: give more characters",
                )
            if matches:
                return matches[0]
            raise CustomerNotFoundError(reference)
        try:
            return UUID(text)
        except ValueError:
            raise CustomerNotFoundError(reference) from None

    def customer_ids(self) -> Iterator[UUID]:
        """Every customer ever created (merged ones included), in creation order."""
        topic = get_topic(Customer.Created)
        start = 1
        while True:
            notifications = self.recorder.select_notifications(start, 1000, topics=[topic])
            if not notifications:
                return
            for notification in notifications:
                yield notification.originator_id  # type: ignore[misc]
            start = notifications[-1].id + 1

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def tracked_position(self, follower: str) -> int | None:
        """The position a follower recorded in the store's tracking table (None: never)."""
        recorder: ProcessRecorder = self.recorder  # type: ignore[assignment]
        return recorder.max_tracking_id(follower)

    def track(self, follower: str, position: int) -> None:
        """Records a follower's position alone (one whose effects live outside the store)."""
        recorder: ProcessRecorder = self.recorder  # type: ignore[assignment]
        recorder.insert_tracking(Tracking(follower, position))

    # --- loading ---------------------------------------------------------------------

    def _resolver_for(
        self, batch: Sequence[AcceptedTouchpoint], recorded_at: datetime
    ) -> tuple[BatchResolver, list[UUID]]:
        keys = {key for accepted in batch for key in accepted.identity_keys}
        by_pseudonym = {self.pseudonym(key): key for key in keys}
        indexes = self._load(identity_index_id(p) for p in by_pseudonym)
        entries = [agg for agg in indexes.values() if isinstance(agg, IdentityIndex)]
        index = {by_pseudonym[a.key]: a.customer_id for a in entries if a.customer_id is not None}
        released = {by_pseudonym[a.key]: a for a in entries if a.customer_id is None}
        customers: dict[UUID, Customer] = {}
        wanted = set(index.values())
        while wanted:
            loaded = self._load(wanted)
            customers.update({i: c for i, c in loaded.items() if isinstance(c, Customer)})
            wanted = {
                c.merged_into
                for c in customers.values()
                if c.merged_into is not None and c.merged_into not in customers
            }
        resolver = BatchResolver(
            index,
            customers,
            recorded_at,
            released=released,
            pseudonym=self.pseudonym,
            rules=self.identity_rules,
        )
        return resolver, [*indexes, *customers]

    def _load(self, ids: Iterable[UUID]) -> dict[UUID, Aggregate]:
        found: dict[UUID, Aggregate] = {}
        missing: list[UUID] = []
        for aggregate_id in ids:
            cached = self._cache.get(aggregate_id)
            if cached is None:
                missing.append(aggregate_id)
            else:
                self._cache.move_to_end(aggregate_id)
                found[aggregate_id] = cached
        for aggregate_id, stored_events in select_aggregate_events(self.recorder, missing).items():
            events = [self.mapper.to_domain_event(stored) for stored in stored_events]
            aggregate = functools.reduce(_mutate, events, None)
            assert aggregate is not None
            found[aggregate_id] = aggregate
            self._remember([aggregate])
        return found

    def _remember(self, aggregates: Iterable[Aggregate]) -> None:
        for aggregate in aggregates:
            self._cache[aggregate.id] = aggregate
            self._cache.move_to_end(aggregate.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _forget(self, ids: Iterable[UUID]) -> None:
        for aggregate_id in ids:
            self._cache.pop(aggregate_id, None)


def tune_gc_for_batches() -> None:
    """Raises the process's young-generation GC threshold to YOUNG_GC_THRESHOLD, once;
    a higher one set by the process, or collection switched off, is kept."""
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_GC_THRESHOLD:
        gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)


def back_off_after_conflict(attempt: int) -> None:
    """Sleeps before the retry that follows the ``attempt``-th lost race (full jitter)."""
    if attempt < MAX_ATTEMPTS:
        time.sleep(random.uniform(0, min(CONFLICT_BACKOFF_CAP_S, CONFLICT_BACKOFF_BASE_S * 2**attempt)))


def _mutate(aggregate: Any, event: Any) -> Any:
    return event.mutate(aggregate)


def _chunks(items: Sequence[AcceptedTouchpoint], size: int) -> Iterator[Sequence[AcceptedTouchpoint]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CustomerNotFoundError(LookupError):
    def __init__(self, reference: str, message: str | None = None) -> None:
        super().__init__(message or f"customer not found: {reference}")
        self.reference = reference


class ConcurrencyRetriesExhaustedError(RuntimeError):
    def __init__(self, attempts: int) -> None:
        super().__init__(f"batch lost the race with other writers {attempts} times; giving up")
