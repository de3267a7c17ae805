"""Personal-data erasure (SPEC §7): destroy the data keys, release the identities, record
it, then reach every other copy: the NATS streams, the derived files and the DuckDB views."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final
from uuid import UUID, uuid4

import msgspec
from eventsourcing.application import AggregateNotFoundError

from adapters.derived_files import Settlement
from adapters.nats import NatsNames
from application.event_chain import EventChain
from application.stream_purge import ErasedParty, PurgedMessage, StreamPurge, erased_party
from domain.customer import Customer, IdentityIndex
from domain.erasure_purges import DeferredPurge

RECEIPTS: Final = "erasures.jsonl"
_PROFILE_TEXT_FIELDS: Final = ("name", "company")


class ErasureError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Erasable:
    """A customer about to be erased, with every customer merged into it."""

    customer: Customer
    members: list[Customer]
    party: ErasedParty = field(repr=False)  # plain identities and names: in memory only

    @property
    def identity_keys(self) -> list[str]:
        return sorted(self.party.identity_keys)


@dataclass(frozen=True, slots=True)
class Erasure:
    customer_id: UUID
    erased_ids: list[UUID]
    identities_released: int
    keys_destroyed: int
    party: ErasedParty = field(repr=False)


def erasable(app: EventChain, reference: str) -> Erasable:
    """What erasing ``reference`` takes (``erase --dry-run`` shows it), changing nothing."""
    customer = app.find_customer(reference)
    members = _with_absorbed(app, customer)
    party = erased_party(
        [str(m.id) for m in members],
        sorted({key for member in members for key in member.identity_keys}),
        [str(o[3]) for m in members for o in m.observations if o[0] in _PROFILE_TEXT_FIELDS],
        [t for m in members for t in m.touchpoints],
        lambda key: _owner_of(app, key),
    )
    return Erasable(customer, members, party)


def _owner_of(app: EventChain, key: str) -> str | None:
    """The customer an identity key resolves to in the store, as ingest would resolve it."""
    try:
        index: IdentityIndex = app.repository.get(app.index_id(key))
    except AggregateNotFoundError:
        return None
    return None if index.customer_id is None else str(index.customer_id)


def erase(app: EventChain, reference: str, reason: str, actor: str) -> Erasure:
    """Erases a customer and every customer merged into it."""
    if app.keys is None:
        raise ErasureError("erasure needs EVENTCHAIN_KEK: this store does not encrypt personal data")
    target = erasable(app, reference)
    customer, members = target.customer, target.members
    now = app.clock()
    indexes = []
    for key in target.identity_keys:
        index: object = app.repository.get(app.index_id(key))
        if isinstance(index, IdentityIndex) and index.customer_id in {m.id for m in members}:
            index.release(f"customer erased: {reason}", now)
            indexes.append(index)
    ids = [m.id for m in members]
    customer.erase(ids, reason, actor, now)
    app.save(customer, *indexes)  # the record of the erasure first, then the keys go
    destroyed = app.keys.shred(str(i) for i in ids)
    app._forget([*ids, *(i.id for i in indexes)])  # cached aggregates hold decrypted data
    return Erasure(customer.id, ids, len(indexes), destroyed, target.party)


def _with_absorbed(app: EventChain, customer: Customer) -> list[Customer]:
    found: dict[UUID, Customer] = {customer.id: customer}
    queue = list(customer.absorbed_from)
    while queue:
        absorbed = app.get_customer(queue.pop(), follow_merges=False)
        if absorbed.id not in found:
            found[absorbed.id] = absorbed
            queue.extend(absorbed.absorbed_from)
    return list(found.values())


class Receipt(msgspec.Struct, frozen=True):
    """What one erasure destroyed and purged, without anything personal: ids, stream
    sequences, counts and paths."""

    customer_id: str
    erased_ids: list[str]
    erased_at: datetime
    actor: str
    reason: str
    keys_destroyed: int
    identities_released: int
    streams: list[StreamPurge]  # absent streams are not listed
    streams_not_reached: str | None
    views_rewritten: list[str]
    derived_regenerated: list[str]
    derived_removed: list[str]
    derived_unvouched: list[str]
    dry_run: bool = False


def receipt(
    erasure: Erasure,
    *,
    erased_at: datetime,
    actor: str,
    reason: str,
    purges: list[StreamPurge],
    streams_error: str | None,
    views: list[Path],
    derived: Settlement,
) -> Receipt:
    return Receipt(
        str(erasure.customer_id),
        [str(i) for i in erasure.erased_ids],
        erased_at,
        actor,
        reason,
        erasure.keys_destroyed,
        erasure.identities_released,
        [p for p in purges if p.present],
        streams_error,
        [str(v) for v in views],
        derived.regenerated,
        derived.removed,
        derived.unvouched,
    )


def dry_run_receipt(
    target: Erasable,
    *,
    at: datetime,
    actor: str,
    reason: str,
    purges: list[StreamPurge],
    streams_error: str | None,
) -> Receipt:
    """What ``erase`` would do, in the receipt's form: nothing is destroyed or deleted."""
    return Receipt(
        str(target.customer.id),
        [str(m.id) for m in target.members],
        at,
        actor,
        reason,
        0,
        0,
        [p for p in purges if p.present],
        streams_error,
        [],
        [],
        [],
        [],
        dry_run=True,
    )


def defer_purges(
    app: EventChain, erasure: Erasure, purges: list[StreamPurge], names: NatsNames
) -> list[UUID]:
    """Records, per stream, the messages of the erased customers that ingest had not yet
    recorded: ``followers.deferred_purge`` deletes them once the consumer is past them."""
    recorded = []
    for purge in purges:
        if purge.deferred:
            pending = DeferredPurge.defer(
                uuid4(),
                customer_id=str(erasure.customer_id),
                stream=purge.stream,
                consumer=names.durable,
                dead_letters=names.dlq_stream,
                messages={m.sequence: m.touchpoint_id for m in purge.deferred},
                deferred_at=app.clock(),
            )
            app.save(pending)
            recorded.append(pending.id)
    return recorded


def record_receipt(data_dir: Path, entry: Receipt) -> None:
    """Appends the receipt to ``DATA_DIR/erasures.jsonl`` (private, append-only)."""
    descriptor = os.open(data_dir / RECEIPTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "ab") as handle:
        handle.write(msgspec.json.encode(entry) + b"\n")


def receipt_lines(entry: Receipt) -> list[str]:
    if entry.dry_run:
        lines = [
            f"dry run: would erase {len(entry.erased_ids)} customer(s) ({entry.customer_id}); nothing changed"
        ]
    else:
        lines = [
            f"erased {len(entry.erased_ids)} customer(s) ({entry.customer_id}): "
            f"{entry.keys_destroyed} data keys destroyed, {entry.identities_released} identities released",
        ]
    if entry.streams_not_reached:
        lines.append(f"warning: NATS streams not purged ({entry.streams_not_reached}); run erase again")
    verb = "would be deleted" if entry.dry_run else "deleted"
    for purge in entry.streams:
        lines.append(f"{purge.stream}: {len(purge.deleted)} messages {verb}")
        lines += [f"  {verb}: {_message(m)}" for m in purge.deleted]
        if purge.deferred:
            lines.append(
                f"{purge.stream}: {len(purge.deferred)} messages deferred (not yet recorded by ingest, "
                f"ack floor {purge.ack_floor}): pending until serve purges them after recording"
            )
            lines += [f"  deferred: {_message(m)}" for m in purge.deferred]
        if purge.quarantined:
            lines.append(
                f"{purge.stream}: {len(purge.quarantined)} messages quarantined, not deleted: "
                "a person decides (eventchain dlq show / dlq drop)"
            )
            lines += [f"  quarantined: {_message(m)}" for m in purge.quarantined]
    lines += [f"views rewritten into a fresh file: {v}" for v in entry.views_rewritten]
    lines += [f"regenerated: {p}" for p in entry.derived_regenerated]
    lines += [f"removed (it held the customer): {p}" for p in entry.derived_removed]
    lines += [f"cannot vouch for: {p}" for p in entry.derived_unvouched]
    if not entry.dry_run:
        lines.append(
            "next: rotate the key-encryption key (eventchain keys rotate) so no copy of the destroyed "
            "keys in the store's WAL, free pages or backups can be unwrapped"
        )
    return lines


def _message(message: PurgedMessage) -> str:
    return f"seq {message.sequence} {message.touchpoint_id or '(no id)'} ({message.why})"
