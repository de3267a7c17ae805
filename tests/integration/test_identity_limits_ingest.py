"""Issue 32's fused-USCC story on real NATS and a real store: two companies that share a
phone stay two customers, the link is held with its reason, and each company's later
touchpoints land on its own customer."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.nats import publish_envelopes, wait_until
from application.event_chain import EventChain
from application.rules import apply_rules, identity_rules
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from tests.nats_support import private_config, running_worker
from tests.unit.test_identity_limits import company_touchpoints, held_groups

PHONE = {"kind": "phone", "value": "13933334444"}
CHENGDU = {"kind": "uscc", "value": "91510100MA6C98765J"}
SUZHOU = {"kind": "uscc", "value": "91320500MA1N55555P"}


def envelope(touchpoint_id: str, hour: int, name: str, company: str, *identities: dict[str, str]) -> bytes:
    return json.dumps(
        {
            "touchpoint_id": touchpoint_id,
            "channel": "web_form",
            "occurred_at": f"2026-03-02T{hour:02d}:00:00+08:00",
            "direction": "inbound",
            "actor": None,
            "identities": list(identities),
            "contact": {"name": name, "company": company},
            "payload": {"form_id": "contact-us"},
        },
        ensure_ascii=False,
    ).encode()


STORY = [
    envelope("c1-010", 9, "王芳", "成都蓉新医疗器械有限公司", PHONE, CHENGDU),
    envelope("c1-012", 10, "赵敏", "苏州恒通电子有限公司", PHONE, SUZHOU),
    envelope("c1-013", 11, "赵敏", "苏州恒通电子有限公司", SUZHOU, {"kind": "email", "value": "zm@ht.cn"}),
    envelope("c1-014", 12, "王芳", "成都蓉新医疗器械有限公司", CHENGDU, PHONE),
]


def test_two_companies_sharing_a_phone_stay_two_customers_with_the_link_held(
    nats_server: str, pg_url: str, tmp_path: Path
) -> None:
    app = EventChain.from_url(pg_url)
    config = private_config()
    pairs = [(decode_touchpoint(raw), raw) for raw in STORY]
    assert asyncio.run(publish_envelopes(nats_server, pairs, config)).published == len(STORY)
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(lambda: worker.stats.recorded == len(STORY), timeout=30)

    chengdu = app.find_customer("uscc:91510100MA6C98765J")
    suzhou = app.find_customer("uscc:91320500MA1N55555P")
    assert chengdu.id != suzhou.id
    assert {"c1-010", "c1-014"} == set(chengdu.touchpoints)
    assert {"c1-012", "c1-013"} == set(suzhou.touchpoints)
    assert chengdu.id == app.find_customer("phone:13933334444").id
    assert [k for k in chengdu.identity_keys if k.startswith("uscc:")] == ["uscc:91510100MA6C98765J"]
    assert {("phone:+8613933334444", chengdu.id)} == suzhou.held_links


def test_identity_limits_come_from_the_rules_in_force(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    rules = tmp_path / "rules.toml"
    rules.write_text('[identities]\nlimits = { uscc = 1, phone = 1 }\npriority = ["uscc", "phone"]\n')
    apply_rules(app, rules.read_text(), author="ops", note="one phone per customer")
    assert 1 == identity_rules(app).limits["phone"]
    assert ("uscc", "phone") == identity_rules(app).priority


@settings(max_examples=15, deadline=None)
@given(company_touchpoints(), st.randoms(use_true_random=False), st.integers(1, 4))
def test_through_the_store_arrival_order_and_batching_keep_customers_and_held_links(
    touchpoints: list[AcceptedTouchpoint], rng: Any, batch_size: int
) -> None:
    shuffled = list(touchpoints)
    rng.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        in_order = EventChain.from_url(f"sqlite:///{one}/events.db")
        in_order.record(touchpoints)
        out_of_order = EventChain.from_url(f"sqlite:///{other}/events.db", max_batch=batch_size)
        out_of_order.record(shuffled)
        assert stored_outcome(in_order) == stored_outcome(out_of_order)


def stored_outcome(app: EventChain) -> tuple[set[frozenset[str]], set[tuple[str, frozenset[frozenset[str]]]]]:
    """Customers by chain, and each held identity with the customers it links."""
    everyone = {i: app.get_customer(i, follow_merges=False) for i in app.customer_ids()}

    def chain(customer_id: UUID) -> frozenset[str]:
        return frozenset(app.get_customer(customer_id).touchpoints)

    customers = {chain(i) for i, c in everyone.items() if c.merged_into is None}
    return customers, held_groups(everyone.values(), chain)
