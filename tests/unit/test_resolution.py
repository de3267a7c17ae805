"""Identity resolution and the Customer aggregate, without a store (pure domain)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from domain.customer import Customer, IdentityIndex
from domain.resolution import BatchResolver
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def touch(tid: str, at: str, *ids: tuple[str, str], direction: str = "inbound") -> AcceptedTouchpoint:
    envelope: dict[str, Any] = {
        "touchpoint_id": tid,
        "channel": "web_form",
        "occurred_at": at,
        "direction": direction,
        "actor": "a-wang" if direction == "outbound" else None,
        "identities": [{"kind": k, "value": v} for k, v in ids],
        "payload": {"form_id": "f"},
    }
    return decode_touchpoint(json.dumps(envelope))


def event_names(aggregate: Any) -> list[str]:
    return [type(e).__name__ for e in aggregate.collect_events()]


def test_a_first_touchpoint_creates_a_customer_and_claims_its_identities() -> None:
    resolver = BatchResolver({}, {}, NOW)
    placement = resolver.place(touch("t1", "2026-03-02T09:00:00+08:00", ("phone", "13800138000")))
    customers = [a for a in resolver.changed if isinstance(a, Customer)]
    claims = [a for a in resolver.changed if isinstance(a, IdentityIndex)]
    assert [placement.customer_id] == [c.id for c in customers]
    assert event_names(customers[0]) == ["Created", "TouchpointRecorded"]
    assert [("phone:+8613800138000", placement.customer_id)] == [(c.key, c.customer_id) for c in claims]


def test_touchpoints_sharing_a_phone_land_on_one_customer() -> None:
    resolver = BatchResolver({}, {}, NOW)
    first = resolver.place(touch("t1", "2026-03-02T09:00:00+08:00", ("phone", "13800138000")))
    second = resolver.place(touch("t2", "2026-03-02T10:00:00+08:00", ("phone", "+86 138 0013 8000")))
    assert first.customer_id == second.customer_id


def test_a_duplicate_touchpoint_id_records_nothing() -> None:
    resolver = BatchResolver({}, {}, NOW)
    resolver.place(touch("t1", "2026-03-02T09:00:00+08:00", ("phone", "13800138000")))
    again = resolver.place(touch("t1", "2026-03-02T09:00:00+08:00", ("phone", "13800138000")))
    customer = next(a for a in resolver.changed if isinstance(a, Customer))
    assert not again.recorded
    assert event_names(customer) == ["Created", "TouchpointRecorded"]


def test_a_touchpoint_bridging_two_customers_merges_them_into_the_earliest() -> None:
    resolver = BatchResolver({}, {}, NOW)
    phone = resolver.place(touch("t1", "2026-03-02T09:00:00+08:00", ("phone", "13800138000")))
    email = resolver.place(touch("t2", "2026-03-01T09:00:00+08:00", ("email", "li@x.cn")))
    bridge = resolver.place(
        touch("t3", "2026-03-03T09:00:00+08:00", ("phone", "13800138000"), ("email", "li@x.cn"))
    )
    by_id = {a.id: a for a in resolver.changed if isinstance(a, Customer)}
    survivor, absorbed = by_id[email.customer_id], by_id[phone.customer_id]
    assert email.customer_id == bridge.customer_id  # t2 is the earliest first touch
    assert survivor.id == absorbed.merged_into
    assert {"t1", "t2", "t3"} == set(survivor.touchpoints)
    assert event_names(absorbed) == ["Created", "TouchpointRecorded", "MergedInto"]
    assert event_names(survivor) == ["Created", "TouchpointRecorded", "Absorbed", "TouchpointRecorded"]


def test_customers_with_different_usccs_are_not_merged_automatically() -> None:
    resolver = BatchResolver({}, {}, NOW)
    a = resolver.place(
        touch("t1", "2026-03-01T09:00:00+08:00", ("phone", "13800138000"), ("uscc", "91330106MA2GL2KJ4W"))
    )
    b = resolver.place(
        touch("t2", "2026-03-02T09:00:00+08:00", ("email", "li@x.cn"), ("uscc", "91350100M000100Y43"))
    )
    resolver.place(touch("t3", "2026-03-03T09:00:00+08:00", ("phone", "13800138000"), ("email", "li@x.cn")))
    by_id = {x.id: x for x in resolver.changed if isinstance(x, Customer)}
    assert by_id[a.customer_id].merged_into is None
    assert by_id[b.customer_id].merged_into is None


def test_the_chain_is_in_event_time_order_whatever_the_arrival_order() -> None:
    resolver = BatchResolver({}, {}, NOW)
    late_upload = touch("expo-1", "2026-03-01T09:00:00+08:00", ("phone", "13800138000"))
    resolver.place(touch("wf-1", "2026-03-03T09:00:00+08:00", ("phone", "13800138000")))
    placement = resolver.place(late_upload)
    customer = next(a for a in resolver.changed if isinstance(a, Customer) and a.id == placement.customer_id)
    assert [f.touchpoint_id for f in customer.chain] == ["expo-1", "wf-1"]
    assert customer.first_touch.touchpoint_id == "expo-1"  # type: ignore[union-attr]


def test_the_first_response_is_the_first_outbound_after_the_first_inbound() -> None:
    resolver = BatchResolver({}, {}, NOW)
    phone = ("phone", "13800138000")
    resolver.place(touch("out-0", "2026-03-01T08:00:00+08:00", phone, direction="outbound"))
    resolver.place(touch("in-1", "2026-03-01T09:00:00+08:00", phone))
    resolver.place(touch("out-2", "2026-03-01T11:30:00+08:00", phone, direction="outbound"))
    placement = resolver.place(touch("out-3", "2026-03-01T10:00:00+08:00", phone, direction="outbound"))
    customer = next(a for a in resolver.changed if a.id == placement.customer_id)
    assert isinstance(customer, Customer)
    assert customer.first_inbound.touchpoint_id == "in-1"  # type: ignore[union-attr]
    assert customer.first_response.touchpoint_id == "out-3"  # type: ignore[union-attr]


def test_the_latest_contact_details_win_by_event_time_not_arrival() -> None:
    resolver = BatchResolver({}, {}, NOW)
    newer = decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": "t2",
                "channel": "web_form",
                "occurred_at": "2026-03-05T09:00:00+08:00",
                "direction": "inbound",
                "identities": [{"kind": "phone", "value": "13800138000"}],
                "contact": {"city": "成都"},
                "payload": {"form_id": "f"},
            }
        )
    )
    older = decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": "t1",
                "channel": "web_form",
                "occurred_at": "2026-03-01T09:00:00+08:00",
                "direction": "inbound",
                "identities": [{"kind": "phone", "value": "13800138000"}],
                "contact": {"city": "杭州"},
                "payload": {"form_id": "f"},
            }
        )
    )
    resolver.place(newer)
    placement = resolver.place(older)
    customer = next(a for a in resolver.changed if a.id == placement.customer_id)
    assert isinstance(customer, Customer)
    assert customer.profile_value("city") == "成都"
