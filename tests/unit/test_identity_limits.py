"""Identity limits at resolution (issue 32): a touchpoint that would fuse two companies is
recorded on the customer its highest-priority identity names, and the link is held."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.customer import Customer
from domain.duplicates import Profile, find_candidates
from domain.identity_rules import DEFAULT_IDENTITY_RULES, IdentityRules
from domain.resolution import BatchResolver
from domain.rules import RulesError, parse_rules
from domain.touchpoints import AcceptedTouchpoint
from tests.resolution_evaluation import measure_resolution, resolution_set
from tests.unit.test_resolution import NOW, touch

# Pairs of touchpoints put on one customer that are one company's (docs/duplicates.md).
MIN_RESOLUTION_PRECISION = 0.98

PHONE = ("phone", "13933334444")
CHENGDU = ("uscc", "91510100MA6C98765J")  # 王芳 / 成都蓉新医疗器械有限公司
SUZHOU = ("uscc", "91320500MA1N55555P")  # 赵敏 / 苏州恒通电子有限公司


def live(resolver: BatchResolver) -> dict[UUID, Customer]:
    return {c.id: c for c in resolver.changed if isinstance(c, Customer) and c.merged_into is None}


def test_a_shared_phone_with_another_uscc_is_held_not_fused() -> None:
    resolver = BatchResolver({}, {}, NOW)
    chengdu = resolver.place(touch("c1-010", "2026-03-02T09:00:00+08:00", PHONE, CHENGDU))
    suzhou = resolver.place(touch("c1-012", "2026-03-02T10:00:00+08:00", PHONE, SUZHOU))
    later_suzhou = resolver.place(
        touch("c1-013", "2026-03-03T10:00:00+08:00", SUZHOU, ("phone", "13951234567"))
    )
    later_chengdu = resolver.place(touch("c1-014", "2026-03-03T11:00:00+08:00", CHENGDU, PHONE))

    customers = live(resolver)
    assert 2 == len(customers)
    assert chengdu.customer_id == later_chengdu.customer_id != suzhou.customer_id == later_suzhou.customer_id
    assert {"c1-010", "c1-014"} == set(customers[chengdu.customer_id].touchpoints)
    assert {"c1-012", "c1-013"} == set(customers[suzhou.customer_id].touchpoints)
    held = [
        e for e in customers[suzhou.customer_id].collect_events() if isinstance(e, Customer.IdentityLinkHeld)
    ]
    assert [("c1-012", "phone:+8613933334444", chengdu.customer_id)] == [
        (e.touchpoint_id, e.identity_key, e.other_customer_id) for e in held
    ]
    assert "uscc allows 1 per customer" in held[0].reason
    assert ["uscc:91510100MA6C98765J"] == [
        k for k in customers[chengdu.customer_id].identity_keys if "uscc" in k
    ]


def test_a_value_over_its_kinds_limit_is_held_and_not_claimed() -> None:
    resolver = BatchResolver({}, {}, NOW, rules=IdentityRules(limits={"phone": 2}))
    first = resolver.place(
        touch("t1", "2026-03-02T09:00:00+08:00", ("phone", "13900000001"), ("phone", "13900000002"))
    )
    third = resolver.place(
        touch("t2", "2026-03-02T10:00:00+08:00", ("phone", "13900000001"), ("phone", "13900000003"))
    )
    alone = resolver.place(touch("t3", "2026-03-02T11:00:00+08:00", ("phone", "13900000003")))
    assert first.customer_id == third.customer_id != alone.customer_id
    customer = live(resolver)[first.customer_id]
    assert {("phone:+8613900000003", None)} == customer.held_links


def test_without_a_conflict_identities_still_merge_customers() -> None:
    resolver = BatchResolver({}, {}, NOW)
    a = resolver.place(touch("t1", "2026-03-02T09:00:00+08:00", PHONE))
    b = resolver.place(touch("t2", "2026-03-02T10:00:00+08:00", ("email", "wf@rx.cn"), CHENGDU))
    both = resolver.place(touch("t3", "2026-03-02T11:00:00+08:00", PHONE, ("email", "wf@rx.cn")))
    assert a.customer_id == both.customer_id and b.customer_id != a.customer_id
    assert 1 == len(live(resolver))
    assert not any(c.held_links for c in live(resolver).values())


COMPANIES = [
    ("uscc", "91510100MA6C98765J"),
    ("uscc", "91320500MA1N55555P"),
    ("uscc", "91330106MA2GL2KJ4W"),
]
SHARED = [("phone", f"1393333444{n}") for n in range(3)]  # a receptionist, a reseller, an agency
OWN = [[("phone", f"1395{c}00000{n}") for n in range(2)] for c in range(len(COMPANIES))]


@st.composite
def company_touchpoints(draw: st.DrawFn) -> list[AcceptedTouchpoint]:
    """Each company's touchpoints carry its USCC (or only its own phones) and phones that
    other companies use too: the links between companies must be held whatever the order."""
    result = []
    for number in range(draw(st.integers(2, 9))):
        company = draw(st.integers(0, len(COMPANIES) - 1))
        phones = draw(st.lists(st.sampled_from(SHARED + OWN[company]), max_size=2, unique=True))
        if draw(st.booleans()) or not any(p in OWN[company] for p in phones):
            ids = [COMPANIES[company], *phones]
        else:
            ids = [p for p in phones if p in OWN[company]]
        result.append(touch(f"tp-{number}", f"2026-03-02T{number + 8:02d}:00:00+08:00", *ids))
    return result


Outcome = tuple[
    set[frozenset[str]], set[tuple[str, frozenset[frozenset[str]]]], set[frozenset[frozenset[str]]]
]


def outcome(touchpoints: list[AcceptedTouchpoint]) -> Outcome:
    """Customers, held links and duplicate candidates, each customer named by its chain."""
    resolver = BatchResolver({}, {}, NOW)
    for accepted in touchpoints:
        resolver.place(accepted)
    everyone = {c.id: c for c in resolver.changed if isinstance(c, Customer)}

    def chain(customer_id: UUID) -> frozenset[str]:
        customer = everyone[customer_id]
        while customer.merged_into is not None:
            customer = everyone[customer.merged_into]
        return frozenset(customer.touchpoints)

    customers = {chain(c) for c in everyone}
    profiles = [
        Profile(str(c.id), None, None, frozenset(c.identity_keys))
        for c in everyone.values()
        if c.merged_into is None
    ]
    candidates = {frozenset({chain(UUID(c.a)), chain(UUID(c.b))}) for c in find_candidates(profiles)}
    return customers, held_groups(everyone.values(), chain), candidates


def held_groups(
    customers: Iterable[Customer], chain: Callable[[UUID], frozenset[str]]
) -> set[tuple[str, frozenset[frozenset[str]]]]:
    """Each held identity with the customers it links (by chain): who recorded the hold
    depends on arrival order, which customers it links does not."""
    held: dict[str, set[frozenset[str]]] = {}
    for customer in customers:
        for key, other in customer.held_links:
            held.setdefault(key, set()).add(chain(customer.id))
            if other is not None:
                held[key].add(chain(other))
    return {(key, frozenset(group)) for key, group in held.items()}


@settings(max_examples=200)
@given(company_touchpoints(), st.randoms(use_true_random=False))
def test_arrival_order_gives_the_same_customers_and_held_links(
    touchpoints: list[AcceptedTouchpoint], random: st.SearchStrategy[object]
) -> None:
    shuffled = list(touchpoints)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert outcome(touchpoints) == outcome(shuffled)


def test_the_rules_document_carries_identity_limits_and_priority() -> None:
    document = parse_rules('[identities]\nlimits = { uscc = 1, phone = 3 }\npriority = ["uscc", "email"]\n')
    assert IdentityRules({"uscc": 1, "phone": 3}, ("uscc", "email")) == document.identities.rules()
    assert DEFAULT_IDENTITY_RULES == parse_rules("").identities.rules()
    with pytest.raises(RulesError, match=r"\$\.identities: unknown identity kind 'fax'"):
        parse_rules("[identities]\nlimits = { fax = 1 }\n")
    with pytest.raises(RulesError, match=r"identities\.limits.*>= 1"):
        parse_rules("[identities]\nlimits = { uscc = 0 }\n")


def test_automatic_resolution_fuses_almost_no_two_companies_on_the_labelled_set() -> None:
    evaluation = resolution_set(companies=300, seed=32)
    limited = measure_resolution(evaluation, DEFAULT_IDENTITY_RULES)
    unlimited = measure_resolution(evaluation, IdentityRules(limits={}))
    assert limited.precision >= MIN_RESOLUTION_PRECISION, limited
    assert limited.precision > unlimited.precision and limited.recall >= unlimited.recall
