"""Catch-up by ranges the store concatenates (projections.reading), and the opening of sealed
personal fields for DuckDB, give exactly the views of decoding every notification through
the library's mapper, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.crypto import ERASED_TEXT, new_kek, parse_kek
from adapters.store import select_raw_notifications
from application.erasure import erase
from application.event_chain import EventChain
from application.merging import merge, unmerge
from domain.touchpoints import decode_touchpoint
from projections.decoding import (
    STAGED_EVENTS,
    StagedBlock,
    qualname_of,
    supports_fast_path,
    supports_sealed_path,
)
from projections.projector import Projector
from projections.reading import INDIVIDUAL, MOVES, read_range, supports_range_reads
from projections.views import DuckDBViews
from tests.projection_support import T0, all_contents, envelope, lead_and_reply


def recorded_history(app: EventChain) -> EventChain:
    """Touchpoints, an automatic merge, an operator merge and unmerge, then more touchpoints
    and per-customer events, so every kind of range boundary occurs."""
    for number, channel in enumerate(("web_form", "douyin_dm", "expo_scan", "call_400")):
        app.record(lead_and_reply(number, channel, T0 + timedelta(hours=number), reply_after_hours=1.5))
    # one touchpoint carrying two customers' phones merges them (Absorbed / MergedInto)
    bridge = {
        "touchpoint_id": "bridge",
        "channel": "call_400",
        "direction": "inbound",
        "occurred_at": (T0 + timedelta(hours=9)).isoformat(),
        "identities": [{"kind": "phone", "value": "13700000000"}, {"kind": "phone", "value": "13700000001"}],
        "payload": {"call_id": "c-1"},
    }
    app.record([decode_touchpoint(json.dumps(bridge).encode())])
    survivor, absorbed = app.find_customer("phone:13700000002"), app.find_customer("phone:13700000003")
    merge(app, str(survivor.id), str(absorbed.id), reason="same company", actor="ops")
    unmerge(app, str(survivor.id), str(absorbed.id), reason="not the same", actor="ops")
    customer = app.find_customer("phone:13700000000")
    customer.correct("city", "成都", "typo", "ops", app.clock())
    customer.assign("a-wang", T0, 1, "round_robin", "test", 1.0, "router", app.clock())
    app.save(customer)
    app.record([envelope("late", "web_form", T0 - timedelta(days=1), "13700000004", contact={"name": "李"})])
    return app


@pytest.mark.parametrize("batch_size", [1, 2, 5, 1000])
def test_range_reads_give_the_views_of_the_library_mapper(
    store_url: str, tmp_path: Path, batch_size: int
) -> None:
    app = recorded_history(EventChain.from_url(store_url, max_batch=3))
    # the application's own stored format is what DuckDB reads directly (no silent slow path)
    assert supports_fast_path(app.mapper)
    assert supports_range_reads(app.recorder)
    reference = DuckDBViews(tmp_path / "mapped.duckdb")
    Projector(app, reference, fast=False).catch_up()
    ranged = DuckDBViews(tmp_path / "ranged.duckdb")
    processed = Projector(app, ranged, batch_size=batch_size, fast_forward=3).catch_up()
    assert app.max_notification_id() == processed
    assert all_contents(reference.connection) == all_contents(ranged.connection)
    assert app.max_notification_id() == ranged.max_tracking_id(EventChain.name)


def test_a_range_is_split_into_blocks_exactly_at_the_moves(store_url: str) -> None:
    app = recorded_history(EventChain.from_url(store_url, max_batch=3))
    last = app.max_notification_id()
    expected: list[tuple[str, int]] = []  # ("block", staged events in it) or ("event", notification id)
    for notification in select_raw_notifications(app.recorder, 1, last):
        qualname = qualname_of(notification.topic)
        if qualname in STAGED_EVENTS:
            if expected and expected[-1][0] == "block":
                expected[-1] = ("block", expected[-1][1] + 1)
            else:
                expected.append(("block", 1))
        elif qualname in INDIVIDUAL:
            expected.append(("event", notification.id))
    log_range = read_range(app.recorder, 1, last)
    actual = [
        ("block", part.line.count(b"\n") + 1) if isinstance(part, StagedBlock) else ("event", part.id)
        for part in log_range.parts
    ]
    assert any(kind == "event" and _is_move(app, value) for kind, value in actual)
    assert _merge_adjacent_non_moves(app, expected) == _merge_adjacent_non_moves(app, actual)
    assert last == log_range.notifications


@pytest.mark.parametrize("batch_size", [2, 1000])
def test_sealed_personal_fields_are_opened_for_duckdb_as_the_library_mapper_opens_them(
    store_url: str, tmp_path: Path, batch_size: int
) -> None:
    app = recorded_history(EventChain.from_url(store_url, max_batch=3, kek=parse_kek(new_kek())))
    erase(app, "phone:13700000000", reason="PIPL request", actor="dpo")  # a survivor of a merge
    app.record([envelope("after", "web_form", T0 + timedelta(days=2), "13700000000", contact={"name": "韩"})])
    assert supports_sealed_path(app.mapper)
    reference = DuckDBViews(tmp_path / "mapped.duckdb")
    Projector(app, reference, fast=False).catch_up()
    sealed = DuckDBViews(tmp_path / "sealed.duckdb")
    Projector(app, sealed, batch_size=batch_size, fast_forward=3).catch_up()
    assert all_contents(reference.connection) == all_contents(sealed.connection)
    names = {
        name for (name,) in sealed.connection.execute("SELECT display_name FROM customer_360").fetchall()
    }
    assert {"李", "韩", ERASED_TEXT} <= names  # opened, a customer created after the erasure, redacted


def _is_move(app: EventChain, notification_id: int) -> bool:
    (notification,) = select_raw_notifications(app.recorder, notification_id, 1)
    return qualname_of(notification.topic) in MOVES


def _merge_adjacent_non_moves(app: EventChain, parts: list[tuple[str, int]]) -> list[Any]:
    """Non-move events may stand anywhere within their segment (the views buffer them with
    the staged rows), so compare segments: staged count and non-move ids between moves."""
    segments: list[Any] = [[0, []]]
    for kind, value in parts:
        if kind == "block":
            segments[-1][0] += value
        elif _is_move(app, value):
            segments.append(value)
            segments.append([0, []])
        else:
            segments[-1][1].append(value)
    return segments
