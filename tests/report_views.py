"""A DuckDB file with the SPEC §2.4 read models, filled from the seed scenarios.

Stands in for the projector's output in the report and visibility tests: the rows are
derived from real Customer aggregates (recorded through EventChain), the owner is the
agent who first answered, and the stage follows how far the conversation went.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from adapters.application import EventChain
from domain.customer import Customer
from domain.touchpoints import decode_touchpoint
from eventchain.scenarios import seed_touchpoints

SCHEMA = """
CREATE TABLE customer_360 (customer_id UUID, display_name VARCHAR, company VARCHAR, city VARCHAR,
  industry VARCHAR, owner_agent_id VARCHAR, stage VARCHAR, tags VARCHAR[], identities VARCHAR[],
  first_touch_channel VARCHAR, first_touch_at TIMESTAMPTZ, first_response_at TIMESTAMPTZ,
  last_touch_at TIMESTAMPTZ, touch_count INTEGER, merged_from VARCHAR[], erased BOOLEAN);
CREATE TABLE touchpoints (touchpoint_id VARCHAR, customer_id UUID, channel VARCHAR, direction VARCHAR,
  occurred_at TIMESTAMPTZ, recorded_at TIMESTAMPTZ, actor VARCHAR, summary VARCHAR);
CREATE TABLE lead_response (customer_id UUID, channel VARCHAR, lead_at TIMESTAMPTZ,
  first_response_at TIMESTAMPTZ, response_hours DOUBLE, owner_agent_id VARCHAR);
CREATE TABLE sla_breaches (customer_id UUID, deadline_at TIMESTAMPTZ, escalated_to VARCHAR, step INTEGER,
  rule_version INTEGER);
CREATE TABLE silent_customers (customer_id UUID, display_name VARCHAR, owner_agent_id VARCHAR,
  last_touch_at TIMESTAMPTZ, silent_days INTEGER);
CREATE TABLE journey_breakpoints (breakpoint VARCHAR, now INTEGER, repaired INTEGER);
CREATE TABLE data_health (import_batch VARCHAR, metric VARCHAR, value DOUBLE);
"""
STAGE_BY_TOUCHES = ["lead", "lead", "contacted", "requirement", "solution", "contract"]


def build_seed_views(workdir: Path, customers: int = 30) -> Path:
    """Records the seed scenarios into a SQLite store and writes ``views.duckdb`` from it."""
    app = EventChain.from_url(f"sqlite:///{workdir / 'events.db'}")
    app.record([decode_touchpoint(_json(e)) for e in seed_touchpoints(customers)])
    live = [app.get_customer(i, follow_merges=False) for i in app.customer_ids()]
    live = [c for c in live if c.merged_into is None]
    path = workdir / "views.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(SCHEMA)
        latest = max(f.occurred_at for c in live for f in c.chain)
        for customer in live:
            _insert_customer(connection, customer, latest)
        connection.executemany(
            "INSERT INTO journey_breakpoints VALUES (?, ?, ?)",
            [("unassigned lead", 3, 1), ("first contact overdue", 5, 2), ("contract stalled", 1, 0)],
        )
        connection.execute("INSERT INTO data_health VALUES ('overall', 'null rate company', 0.12)")
    return path


def _json(envelope: dict[str, Any]) -> bytes:
    import json

    return json.dumps(envelope, ensure_ascii=False).encode()


def _insert_customer(connection: duckdb.DuckDBPyConnection, customer: Customer, latest: datetime) -> None:
    chain = customer.chain
    lead, response = customer.first_inbound, customer.first_response
    owner = response.actor if response else None
    stage = STAGE_BY_TOUCHES[min(len(chain), len(STAGE_BY_TOUCHES) - 1)]
    name = customer.profile_value("name") or "(unknown)"
    connection.execute(
        "INSERT INTO customer_360 VALUES (?, ?, ?, ?, ?, ?, ?, [], ?, ?, ?, ?, ?, ?, [], false)",
        [
            str(customer.id),
            name,
            customer.profile_value("company"),
            customer.profile_value("city"),
            customer.profile_value("industry"),
            owner,
            stage,
            sorted(customer.identity_keys),
            chain[0].channel,
            chain[0].occurred_at,
            response.occurred_at if response else None,
            chain[-1].occurred_at,
            len(chain),
        ],
    )
    connection.executemany(
        "INSERT INTO touchpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                f.touchpoint_id,
                str(customer.id),
                f.channel,
                f.direction,
                f.occurred_at,
                f.occurred_at,
                f.actor,
                f.summary,
            ]
            for f in chain
        ],
    )
    if lead is None:
        return
    hours = None if response is None else (response.occurred_at - lead.occurred_at).total_seconds() / 3600
    connection.execute(
        "INSERT INTO lead_response VALUES (?, ?, ?, ?, ?, ?)",
        [
            str(customer.id),
            lead.channel,
            lead.occurred_at,
            response.occurred_at if response else None,
            hours,
            owner,
        ],
    )
    if hours is None or hours > 0.25:
        connection.execute(
            "INSERT INTO sla_breaches VALUES (?, ?, 'manager', 1, 1)",
            [str(customer.id), lead.occurred_at + timedelta(minutes=15)],
        )
    if (latest - chain[-1].occurred_at).days >= 2:
        connection.execute(
            "INSERT INTO silent_customers VALUES (?, ?, ?, ?, ?)",
            [str(customer.id), name, owner, chain[-1].occurred_at, (latest - chain[-1].occurred_at).days],
        )
