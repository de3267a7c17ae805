"""Personal-data erasure (SPEC §7): destroy the data keys, release the identities, record it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from adapters.application import EventChain
from domain.customer import Customer, IdentityIndex


class ErasureError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Erasure:
    customer_id: UUID
    erased_ids: list[UUID]
    identities_released: int
    dead_letters_purged: int = 0


def erase(app: EventChain, reference: str, reason: str, actor: str) -> tuple[Erasure, list[str]]:
    """Erases a customer and every customer merged into it. Returns the result and the
    plain identity values (only in memory, for purging dead letters)."""
    if app.keys is None:
        raise ErasureError("erasure needs EVENTCHAIN_KEK: this store does not encrypt personal data")
    customer = app.find_customer(reference)
    members = _with_absorbed(app, customer)
    keys = sorted({key for member in members for key in member.identity_keys})
    now = app.clock()
    indexes = []
    for key in keys:
        index = app.repository.get(app.index_id(key))
        if isinstance(index, IdentityIndex) and index.customer_id in {m.id for m in members}:
            index.release(f"customer erased: {reason}", now)
            indexes.append(index)
    ids = [m.id for m in members]
    customer.erase(ids, reason, actor, now)
    app.save(customer, *indexes)  # the record of the erasure first, then the keys go
    app.keys.shred(str(i) for i in ids)
    app._forget([*ids, *(i.id for i in indexes)])  # cached aggregates hold decrypted data
    values = [key.partition(":")[2] for key in keys]
    return Erasure(customer.id, ids, len(indexes)), values


def _with_absorbed(app: EventChain, customer: Customer) -> list[Customer]:
    found: dict[UUID, Customer] = {customer.id: customer}
    queue = list(customer.absorbed_from)
    while queue:
        absorbed = app.get_customer(queue.pop(), follow_merges=False)
        if absorbed.id not in found:
            found[absorbed.id] = absorbed
            queue.extend(absorbed.absorbed_from)
    return list(found.values())


async def _purge(url: str, stream: str, needles: list[bytes]) -> int:
    from adapters.nats_ingest import connect

    nc = await connect(url, name="eventchain-erase")
    purged = 0
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        if info.state.messages:
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    message = await js.get_msg(stream, sequence)
                except Exception:  # deleted already
                    continue
                if any(n in (message.data or b"") for n in needles):
                    await js.delete_msg(stream, sequence)
                    purged += 1
    finally:
        await nc.close()
    return purged


def purge_dead_letters(url: str, stream: str, values: list[str]) -> int:
    """Deletes dead letters (original bytes of rejected messages) that mention an erased
    identity: as written (e.g. 13800138000) or normalised (+8613800138000)."""
    needles: set[bytes] = set()
    for value in values:
        needles.add(value.encode())
        if value.startswith("+86"):
            needles.add(value[3:].encode())
    return asyncio.run(_purge(url, stream, sorted(needles))) if needles else 0
