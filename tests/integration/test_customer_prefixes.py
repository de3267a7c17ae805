"""Operator commands name a customer by a unique id prefix, as `customer` does (issue 32)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from application.event_chain import CustomerNotFoundError, EventChain
from application.merging import merge, unmerge
from domain.touchpoints import decode_touchpoint


def lead(number: int) -> str:
    return json.dumps(
        {
            "touchpoint_id": f"p-{number}",
            "channel": "web_form",
            "occurred_at": "2026-03-02T09:00:00+08:00",
            "direction": "inbound",
            "actor": None,
            "identities": [{"kind": "phone", "value": f"1390571{number:04d}"}],
            "payload": {"form_id": "f"},
        }
    )


def test_merge_and_unmerge_take_unique_id_prefixes_and_refuse_ambiguous_ones(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record([decode_touchpoint(lead(n)) for n in range(600)])
    ids = [str(i) for i in app.customer_ids()]
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for customer_id in ids:
        by_prefix[customer_id[:4]].append(customer_id)
    shared = next(
        prefix for prefix, group in by_prefix.items() if len(group) > 1
    )  # uuid5: the same every run
    with pytest.raises(
        CustomerNotFoundError, match=f"prefix {shared} matches 2 customers: give more characters"
    ):
        app.find_customer(shared)

    survivor, absorbed = ids[0], ids[1]
    kept = merge(app, survivor[:8], absorbed[:8].upper(), reason="same buyer", actor="ops")
    assert str(kept.id) == survivor
    restored = unmerge(app, survivor[:8], absorbed[:8], reason="two people", actor="ops")
    assert str(restored.id) == absorbed
    with pytest.raises(CustomerNotFoundError, match="customer not found: ffffffff"):
        app.find_customer("ffffffff")
