"""Personal-data erasure (SPEC §7): destroy the data keys, release the identities, record
it, then reach every other copy: the NATS streams, the derived files and the DuckDB views."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final
from uuid import UUID

import msgspec

from adapters.derived_files import Settlement
from application.event_chain import EventChain
from application.stream_purge import ErasedParty, StreamPurge, erased_party
from domain.customer import Customer, IdentityIndex

RECEIPTS: Final = "erasures.jsonl"
_PROFILE_TEXT_FIELDS: Final = ("name", "company")


class ErasureError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Erasure:
    customer_id: UUID
    erased_ids: list[UUID]
    identities_released: int
    keys_destroyed: int
    party: ErasedParty = field(repr=False)  # plain identities and names: in memory only


def erase(app: EventChain, reference: str, reason: str, actor: str) -> Erasure:
    """Erases a customer and every customer merged into it."""
    if app.keys is None:
        raise ErasureError("erasure needs EVENTCHAIN_KEK: this store does not encrypt personal data")
    customer = app.find_customer(reference)
    members = _with_absorbed(app, customer)
    keys = sorted({key for member in members for key in member.identity_keys})
    party = erased_party(
        [str(m.id) for m in members],
        keys,
        [str(o[3]) for m in members for o in m.observations if o[0] in _PROFILE_TEXT_FIELDS],
        [t for m in members for t in m.touchpoints],
    )
    now = app.clock()
    indexes = []
    for key in keys:
        index: object = app.repository.get(app.index_id(key))
        if isinstance(index, IdentityIndex) and index.customer_id in {m.id for m in members}:
            index.release(f"customer erased: {reason}", now)
            indexes.append(index)
    ids = [m.id for m in members]
    customer.erase(ids, reason, actor, now)
    app.save(customer, *indexes)  # the record of the erasure first, then the keys go
    destroyed = app.keys.shred(str(i) for i in ids)
    app._forget([*ids, *(i.id for i in indexes)])  # cached aggregates hold decrypted data
    return Erasure(customer.id, ids, len(indexes), destroyed, party)


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
    """What one erasure destroyed and purged, without anything personal: ids and counts."""

    customer_id: str
    erased_ids: list[str]
    erased_at: datetime
    actor: str
    reason: str
    keys_destroyed: int
    identities_released: int
    streams: dict[str, int]  # stream → messages deleted ("absent" streams are not listed)
    streams_not_reached: str | None
    views_rewritten: list[str]
    derived_regenerated: list[str]
    derived_removed: list[str]
    derived_unvouched: list[str]


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
        {p.stream: p.deleted for p in purges if p.present},
        streams_error,
        [str(v) for v in views],
        derived.regenerated,
        derived.removed,
        derived.unvouched,
    )


def record_receipt(data_dir: Path, entry: Receipt) -> None:
    """Appends the receipt to ``DATA_DIR/erasures.jsonl`` (private, append-only)."""
    descriptor = os.open(data_dir / RECEIPTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "ab") as handle:
        handle.write(msgspec.json.encode(entry) + b"\n")


def receipt_lines(entry: Receipt) -> list[str]:
    lines = [
        f"erased {len(entry.erased_ids)} customer(s) ({entry.customer_id}): "
        f"{entry.keys_destroyed} data keys destroyed, {entry.identities_released} identities released",
    ]
    if entry.streams_not_reached:
        lines.append(f"warning: NATS streams not purged ({entry.streams_not_reached}); run erase again")
    for stream, deleted in entry.streams.items():
        lines.append(f"{stream}: {deleted} messages deleted")
    lines += [f"views rewritten into a fresh file: {v}" for v in entry.views_rewritten]
    lines += [f"regenerated: {p}" for p in entry.derived_regenerated]
    lines += [f"removed (it held the customer): {p}" for p in entry.derived_removed]
    lines += [f"cannot vouch for: {p}" for p in entry.derived_unvouched]
    lines.append(
        "next: rotate the key-encryption key (eventchain keys rotate) so no copy of the destroyed "
        "keys in the store's WAL, free pages or backups can be unwrapped"
    )
    return lines
