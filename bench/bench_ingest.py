"""Direct ingest (SPEC §8): eventchain's batch path vs the naive library path
(get + save per touchpoint), on SQLite and PostgreSQL, in the same run."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from eventsourcing.application import AggregateNotFoundError, Application

from adapters.store import store_env
from application.event_chain import EventChain
from bench.harness import BenchContext, Figure, stopwatch
from domain.customer import Customer, IdentityIndex
from domain.identities import identity_index_id
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint

BATCH = 500


def touchpoints(count: int, customers: int, prefix: str, seed: int = 1) -> list[AcceptedTouchpoint]:
    """WeCom messages with contact details, ~4 per customer, phones as identities."""
    rng = random.Random(seed)
    result = []
    for number in range(count):
        customer = rng.randrange(customers)
        envelope = {
            "touchpoint_id": f"{prefix}-{number}",
            "channel": "wecom_msg",
            "occurred_at": f"2026-03-{1 + number % 28:02d}T09:{number % 60:02d}:00+08:00",
            "direction": "inbound",
            "identities": [{"kind": "phone", "value": f"1380{customer:07d}"}],
            "contact": {"name": "李雷", "company": "杭州某智能硬件有限公司", "city": "杭州"},
            "payload": {"external_userid": f"wm-{customer}", "text": "您好，请问参数表和交期？"},
        }
        result.append(decode_touchpoint(json.dumps(envelope)))
    return result


def naive_record(app: Application, accepted: AcceptedTouchpoint) -> None:
    """The library's plain use-case shape: get the aggregates, change, save — per event."""
    now = datetime.now(UTC)
    key = accepted.identity_keys[0]
    try:
        index: IdentityIndex = app.repository.get(identity_index_id(key))
        customer: Customer = app.repository.get(index.customer_id)
        customer.record_touchpoint(accepted, now)
        app.save(customer)
    except AggregateNotFoundError:
        customer = Customer.start(accepted.touchpoint_id, now)
        customer.record_touchpoint(accepted, now)
        app.save(customer, IdentityIndex.claim(key, customer.id, now))


def measure(ctx: BenchContext, store: str, url_for_naive: str, url_for_fast: str) -> list[Figure]:
    naive_sample = touchpoints(ctx.scaled(1_500), ctx.scaled(400), f"naive-{store}")
    fast_sample = touchpoints(ctx.scaled(30_000), ctx.scaled(7_500), f"fast-{store}")

    naive_app = Application(env=store_env(url_for_naive))
    with stopwatch() as naive_elapsed:
        for accepted in naive_sample:
            naive_record(naive_app, accepted)
    naive_rate = len(naive_sample) / naive_elapsed[0]

    fast_app = EventChain.from_url(url_for_fast, max_batch=BATCH)
    with stopwatch() as fast_elapsed:
        fast_app.record(fast_sample)
    fast_rate = len(fast_sample) / fast_elapsed[0]
    stored_events = fast_app.max_notification_id()
    target = "≥ 30× and ≥ 10,000/s" if store == "PostgreSQL" else "≥ 10× and ≥ 15,000/s"
    return [
        Figure(
            f"direct ingest, {store}",
            fast_rate,
            "touchpoints/s",
            target,
            baseline_name="naive get+save per touchpoint",
            baseline_value=naive_rate,
            notes=f"{stored_events / fast_elapsed[0]:,.0f} stored events/s; batches of {BATCH}",
        )
    ]


def run(ctx: BenchContext) -> list[Figure]:
    sqlite_dir = ctx.workdir / "ingest-sqlite"
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    figures = measure(
        ctx,
        "SQLite",
        f"sqlite:///{sqlite_dir / 'naive.db'}",
        f"sqlite:///{sqlite_dir / 'fast.db'}",
    )
    figures += measure(ctx, "PostgreSQL", ctx.postgres_url(), ctx.postgres_url())
    return figures
