"""Operator merges and unmerges (SPEC §6): events on both aggregates, in one transaction."""

from __future__ import annotations

from uuid import UUID

from application.event_chain import CustomerNotFoundError, EventChain
from domain.customer import Customer, MergeRefusedError


def merge(
    app: EventChain, survivor: str, absorbed: str, *, reason: str, actor: str, force: bool = False
) -> Customer:
    """Merges ``absorbed`` into ``survivor``. Merge protection (different USCCs) refuses
    unless ``force``; a forced merge records the override in the reason."""
    keep, other = _live(app, survivor), _live(app, absorbed)
    if keep.id == other.id:
        raise MergeRefusedError("both references are the same customer")
    conflicts = keep.conflicting_unique_identities(other)
    note = (
        f"{reason} [forced over merge protection: {', '.join(conflicts)}]" if conflicts and force else reason
    )
    keep.absorb(other, note, actor, app.clock(), force=force)
    app.save(keep, other)
    return keep


def unmerge(app: EventChain, survivor: str, absorbed: str, *, reason: str, actor: str) -> Customer:
    keep = _live(app, survivor)
    try:
        other = app.get_customer(UUID(absorbed), follow_merges=False)
    except ValueError:
        raise CustomerNotFoundError(absorbed) from None
    keep.give_back(other, reason, actor, app.clock())
    app.save(keep, other)
    return other


def _live(app: EventChain, reference: str) -> Customer:
    return app.find_customer(reference)
