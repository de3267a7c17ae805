"""Identity resolution: which customer does a touchpoint belong to?

Pure: the application loads the identity index entries and customers a batch needs,
this module decides, and the application saves every changed aggregate at once.

A touchpoint carrying identities of two different customers says they are one party,
so they are merged (the customer first touched earliest, in event time, survives) —
unless joining them would break an identity limit of the rules (one USCC per customer:
two companies sharing a receptionist's phone are two customers). Identities are taken in
priority order (domain/identity_rules.py): the touchpoint lands on the customer its
highest-priority identity names (or a new one), joins the others that fit, and every link
that does not fit is recorded as ``IdentityLinkHeld`` with its reason on both customers, a
duplicate candidate for an operator. A value held once is contested: it links a later
touchpoint to its customer only when none of the touchpoint's other identities places it.
Customers then are the connected components of the identity graph, whatever the
arrival order — except where merge protection (different unique identities, e.g.
two USCCs) keeps them apart, and where one touchpoint would join more than
``MAX_CUSTOMERS_JOINED`` customers at once: a shared value no person owns (a front desk,
a reseller's mailbox) rather than one party. That touchpoint is recorded on the earliest
of them only, which then shares identities with the others: they are listed as duplicate
candidates (``eventchain duplicates``) for an operator instead of merged. Arrival order
matters in three places: this hold (the same touchpoint arriving before the others would
have claimed their identities first), a limit above 1 (the first values fill it), and a
value that touchpoints without a unique identity share across parties (whichever came
first owns it). The order-independence properties keep to touchpoints of at most three
identities, and to shared values that come with a USCC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.customer import Customer, IdentityIndex
from domain.identity_rules import DEFAULT_IDENTITY_RULES, IdentityRules
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
        rules: IdentityRules = DEFAULT_IDENTITY_RULES,
    ) -> None:
        self._rules = rules
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
        named = {key: self._follow(self._index[key]) for key in accepted.identity_keys if key in self._index}
        for candidate in named.values():
            if accepted.touchpoint_id in candidate.touchpoints:
                return Placement(accepted.touchpoint_id, candidate.id, recorded=False)

        joined, kept, held = self._decide(accepted, named)
        candidates = joined if len(joined) < 2 else sorted(joined, key=_first_touch_order)
        merge_held = ""
        if candidates:
            survivor, merge_held = self._merge(candidates, accepted.touchpoint_id)
        else:
            survivor = Customer.start(accepted.touchpoint_id, self._recorded_at)
            self._customers[survivor.id] = survivor
        survivor.record_touchpoint(accepted, self._recorded_at)
        for key, other, reason in held:
            survivor.hold_link(accepted.touchpoint_id, key, other, reason, self._recorded_at)
            if other is not None:  # both sides know the value is contested
                owner = self._follow(other)
                owner.hold_link(accepted.touchpoint_id, key, survivor.id, reason, self._recorded_at)
                self._changed[owner.id] = owner
        self._changed[survivor.id] = survivor

        for key in kept:
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
        why_held = merge_held or ("identity-limit" if held else "")
        return Placement(accepted.touchpoint_id, survivor.id, recorded=True, held=why_held)

    def _decide(
        self, accepted: AcceptedTouchpoint, named: Mapping[str, Customer]
    ) -> tuple[list[Customer], list[str], list[tuple[str, UUID | None, str]]]:
        """Which customers the touchpoint joins, which of its identities the result holds,
        and which links are held (identity key, other customer, reason): identities are
        taken in priority order, each joining its customer unless that breaks a limit."""
        keys = accepted.identity_keys
        owners = {customer.id: customer for customer in named.values()}
        if len(owners) <= 1 and not any(customer.held_links for customer in owners.values()):
            # The common cases, without counting: a new party, or one customer's own identities.
            if not owners and (len(keys) == 1 or self._rules.breach((), keys) is None):
                return [], list(keys), []
            if owners and len(named) == len(keys):
                return list(owners.values()), list(keys), []
        joined: dict[UUID, Customer] = {}
        kept: list[str] = []
        held: list[tuple[str, UUID | None, str]] = []

        # A value already held between customers (an agency's phone) links only where nothing
        # else does: taken last, it joins its owner only when no other identity was kept.
        def contested(key: str) -> bool:
            owner = named.get(key)
            return owner is not None and any(held_key == key for held_key, _ in owner.held_links)

        for key in sorted(accepted.identity_keys, key=lambda k: (contested(k), self._rules.rank(k))):
            owner = named.get(key)
            if owner is not None and owner.id in joined:
                kept.append(key)
                continue
            if owner is not None and contested(key) and kept:
                held.append(
                    (key, owner.id, f"{key}: held already between customers; other identities place it")
                )
                continue
            before = {*kept, *(k for c in joined.values() for k in c.identity_keys)}
            after = {*before, key, *(owner.identity_keys if owner is not None else ())}
            reason = self._rules.breach(before, after)
            if reason is None:
                kept.append(key)
                if owner is not None:
                    joined[owner.id] = owner
            else:
                held.append((key, None if owner is None else owner.id, f"{key}: {reason}"))
        return list(joined.values()), kept, held

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
