"""Helpers for projection tests: envelopes by hand, and table contents to compare."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from application.event_chain import EventChain
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from projections.projector import Projector
from projections.schema import PUBLIC_RELATIONS
from projections.views import DuckDBViews

T0 = datetime.fromisoformat("2026-03-02T09:00:00+08:00")


def envelope(
    touchpoint_id: str,
    channel: str,
    at: datetime,
    phone: str,
    *,
    direction: str = "inbound",
    actor: str | None = None,
    contact: dict[str, Any] | None = None,
) -> AcceptedTouchpoint:
    payloads = {
        "web_form": {"form_id": "contact-us"},
        "douyin_dm": {"open_id": f"dy-{phone}", "text": "你好"},
        "expo_scan": {"expo_id": "cd-2026", "lat": 30.57, "lon": 104.07},
        "call_400": {"call_id": touchpoint_id},
        "engineer_log": {"ticket_id": touchpoint_id, "log_uri": "s3://logs/x.tgz"},
        "wecom_msg": {"external_userid": f"wm-{phone}", "text": "您好"},
    }
    return decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": touchpoint_id,
                "channel": channel,
                "occurred_at": at.isoformat(),
                "direction": direction,
                "actor": actor if direction == "outbound" else None,
                "identities": [{"kind": "phone", "value": phone}],
                "contact": contact,
                "payload": payloads[channel],
            },
            ensure_ascii=False,
        ).encode()
    )


def lead_and_reply(
    number: int, channel: str, lead_at: datetime, reply_after_hours: float | None
) -> list[AcceptedTouchpoint]:
    phone = f"1370000{number:04d}"
    result = [envelope(f"lead-{number}", channel, lead_at, phone)]
    if reply_after_hours is not None:
        result.append(
            envelope(
                f"reply-{number}",
                "wecom_msg",
                lead_at + timedelta(hours=reply_after_hours),
                phone,
                direction="outbound",
                actor="a-wang",
            )
        )
    return result


def project(app: EventChain, path: Path, batch_size: int = 10_000) -> DuckDBViews:
    views = DuckDBViews(path)
    Projector(app, views, batch_size=batch_size).catch_up()
    return views


def contents(connection: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[Any, ...]]:
    """Every row of a relation, as comparable text, in a stable order."""
    rows = connection.execute(f"SELECT * FROM {relation}").fetchall()
    return sorted((tuple(_plain(value) for value in row) for row in rows), key=repr)


def all_contents(connection: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    relations = [
        *PUBLIC_RELATIONS,
        "ec.customers",
        "ec.identities",
        "ec.observations",
        "ec.merges",
        "ec.leads",
    ]
    return {relation: contents(connection, relation) for relation in relations}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if value is None or isinstance(value, (int, str, bool)):
        return value
    return str(value)
