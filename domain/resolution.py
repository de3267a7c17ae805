"""Identity resolution: which customer does a touchpoint belong to?

Pure: the application loads the identity index entries and customers a batch needs,
this module decides, and the application saves every changed aggregate at once.

A touchpoint carrying identities of two different customers says they are one party,
so they are merged (the customer first touched earliest, in event time, survives).
Customers then are the connected components of the identity graph, whatever the
arrival order — except where merge protection (different unique identities, e.g.
two USCCs) keeps them apart, and where one touchpoint would join more than
``MAX_CUSTOMERS_JOINED`` customers at once: a shared value no person owns (a front desk,
a reseller's mailbox) rather than one party. That touchpoint is recorded on the earliest
of them only, which then shares identities with the others: they are listed as duplicate
candidates (``eventchain duplicates``) for an operator instead of merged. This hold is the
one place where arrival order matters (the same touchpoint arriving before the others
would have claimed their identities first); the order-independence properties keep to
touchpoints of at most three identities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.customer import Customer, IdentityIndex
from domain.touchpoints import AcceptedTouchpoint

AUTO_MERGE_ACTOR = "eventchain:identity-resolution"
MAX_CUSTOMERS_JOINED = 3


@dataclass(frozen=True, slots=True)
class Placement:
    touchpoint_id: str
    customer_id: UUID
    recorded: bool  # False: a duplicate touchpoint_id, nothing recorded
    held: str = ""  # why a link it carries was held back instead of merged ("" if none)


class BatchResolver:
    def __init__(
        self,
        index: Mapping[str, UUID],
        customers: Mapping[UUID, Customer],
        recorded_at: datetime,
        *,
        released: Mapping[str, IdentityIndex] | None = None,
        pseudonym: Callable[[str], str] = str,
    ) -> None:
        self._index = dict(index)
        self._released = dict(released or {})  # identities of erased customers, free to reclaim
        self._pseudonym = pseudonym  # how the index stores an identity (a keyed hash when encrypting)
        self._customers = dict(customers)
        self._recorded_at = recorded_at
        self._changed: dict[UUID, Aggregate] = {}

    @property
    def changed(self) -> list[Aggregate]:
        return list(self._changed.values())

    def place(self, accepted: AcceptedTouchpoint) -> Placement:
        candidates = self._live_customers(
            self._index[key] for key in accepted.identity_keys if key in self._index
        )
        for candidate in candidates:
            if accepted.touchpoint_id in candidate.touchpoints:
                return Placement(accepted.touchpoint_id, candidate.id, recorded=False)

        held = ""
        if candidates:
            survivor, held = self._merge(candidates, accepted.touchpoint_id)
        else:
            survivor = Customer.start(accepted.touchpoint_id, self._recorded_at)
            self._customers[survivor.id] = survivor
        survivor.record_touchpoint(accepted, self._recorded_at)
        self._changed[survivor.id] = survivor

        for key in accepted.identity_keys:
            if key in self._index:
                continue
            freed = self._released.pop(key, None)
            if freed is not None:
                freed.reclaim(survivor.id, self._recorded_at)
                claim = freed
            else:
                claim = IdentityIndex.claim(self._pseudonym(key), survivor.id, self._recorded_at)
            self._index[key] = survivor.id
            self._changed[claim.id] = claim
        return Placement(accepted.touchpoint_id, survivor.id, recorded=True, held=held)

    def _merge(self, candidates: list[Customer], touchpoint_id: str) -> tuple[Customer, str]:
        """The survivor, and why a link was held back ("" when every candidate merged)."""
        survivor, *others = candidates
        if len(candidates) > MAX_CUSTOMERS_JOINED:
            return survivor, "over-merge"  # held: the shared identities make them duplicate candidates
        held = ""
        for other in others:
            if survivor.conflicting_unique_identities(other):
                held = "merge-protection"
                continue  # merge protection: leave it to an operator (eventchain duplicates)
            survivor.absorb(
                other,
                reason=f"touchpoint {touchpoint_id} carries identities of both customers",
                actor=AUTO_MERGE_ACTOR,
                recorded_at=self._recorded_at,
            )
            self._changed[other.id] = other
        return survivor, held

    def _live_customers(self, customer_ids: Iterable[UUID]) -> list[Customer]:
        live: dict[UUID, Customer] = {}
        for customer_id in customer_ids:
            customer = self._follow(customer_id)
            live[customer.id] = customer
        if len(live) < 2:
            return list(live.values())  # the common case: nothing to order
        return sorted(live.values(), key=_first_touch_order)

    def _follow(self, customer_id: UUID) -> Customer:
        customer = self._customer(customer_id)
        while customer.merged_into is not None:
            customer = self._customer(customer.merged_into)
        return customer

    def _customer(self, customer_id: UUID) -> Customer:
        try:
            return self._customers[customer_id]
        except KeyError:
            raise CustomerNotLoadedError(customer_id) from None


def _first_touch_order(customer: Customer) -> tuple[object, ...]:
    first = customer.first_touch
    if first is None:
        return (1, str(customer.id))
    return (0, first.occurred_at, first.touchpoint_id)


class CustomerNotLoadedError(LookupError):
    """The application did not load a customer the batch needs (a loader bug)."""
