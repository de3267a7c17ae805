"""Identity hygiene in resolution (issue 15): shared values that are no person never
merge a crowd of customers."""

from __future__ import annotations

from domain.customer import Customer
from domain.duplicates import Profile, find_candidates
from domain.resolution import MAX_CUSTOMERS_JOINED, BatchResolver
from tests.unit.test_resolution import NOW, event_names, touch


def test_a_touchpoint_naming_more_customers_than_the_limit_is_held_not_merged() -> None:
    resolver = BatchResolver({}, {}, NOW)
    people = [
        resolver.place(touch(f"t{n}", f"2026-03-02T0{n}:00:00+08:00", ("phone", f"1390571000{n}")))
        for n in range(MAX_CUSTOMERS_JOINED + 1)
    ]
    reception = [("phone", f"1390571000{n}") for n in range(MAX_CUSTOMERS_JOINED + 1)]
    shared = resolver.place(touch("front-desk", "2026-03-02T09:30:00+08:00", *reception))
    customers = {a.id: a for a in resolver.changed if isinstance(a, Customer)}
    assert people[0].customer_id == shared.customer_id  # the earliest keeps the touchpoint
    assert all("Absorbed" not in event_names(c) and c.merged_into is None for c in customers.values())
    profiles = [Profile(str(c.id), None, None, frozenset(c.identity_keys)) for c in customers.values()]
    held = {frozenset((candidate.a, candidate.b)) for candidate in find_candidates(profiles)}
    assert {frozenset((str(people[0].customer_id), str(p.customer_id))) for p in people[1:]} <= held


def test_a_touchpoint_naming_up_to_the_limit_merges_them() -> None:
    resolver = BatchResolver({}, {}, NOW)
    first = resolver.place(touch("a", "2026-03-02T01:00:00+08:00", ("phone", "13905710001")))
    resolver.place(touch("b", "2026-03-02T02:00:00+08:00", ("phone", "13905710002")))
    joined = resolver.place(
        touch("both", "2026-03-02T03:00:00+08:00", ("phone", "13905710001"), ("phone", "13905710002"))
    )
    assert first.customer_id == joined.customer_id
    assert 1 == sum(
        1 for a in resolver.changed if isinstance(a, Customer) and a.merged_into == first.customer_id
    )
