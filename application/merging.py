"""Operator merges and unmerges (SPEC §6): events on both aggregates, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from eventsourcing.utils import get_topic

from application.event_chain import EventChain
from domain.customer import Customer, MergeRefusedError


@dataclass(frozen=True, slots=True)
class HeldLink:
    customer_id: str
    other_customer_id: str | None
    identity_key: str
    reason: str


def held_links(app: EventChain) -> Iterator[HeldLink]:
    """Every identity link resolution held instead of fusing customers (oldest first)."""
    topic = get_topic(Customer.IdentityLinkHeld)
    start = 1
    while notifications := app.recorder.select_notifications(start, 1000, topics=[topic]):
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            assert isinstance(event, Customer.IdentityLinkHeld)
            other = None if event.other_customer_id is None else str(event.other_customer_id)
            yield HeldLink(str(event.originator_id), other, event.identity_key, event.reason)
        start = notifications[-1].id + 1


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
    other = app.get_customer(app.customer_id_of(absorbed), follow_merges=False)
    keep.give_back(other, reason, actor, app.clock())
    app.save(keep, other)
    return other


def _live(app: EventChain, reference: str) -> Customer:
    return app.find_customer(reference)
