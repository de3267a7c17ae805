"""The read audit is append-only in the store and lists what was read, by whom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from application.event_chain import EventChain
from application.read_audit import list_reads, record_read


def test_recorded_reads_are_listed_in_order_and_filtered_by_actor_and_time(store_url: str) -> None:
    now = [datetime(2026, 3, 2, 2, 0, tzinfo=UTC)]
    app = EventChain.from_url(store_url, clock=lambda: now[0])
    record_read(app, actor="a-wang", role="sales:a-wang", action="export", subject="customers.csv", rows=212)
    now[0] += timedelta(hours=1)
    record_read(
        app, actor="d-qian", role="director:d-qian", action="customer", subject="c-1", rows=1, via="web"
    )
    reads = list(list_reads(EventChain.from_url(store_url)))
    assert [(r.actor, r.action, r.rows, r.via) for r in reads] == [
        ("a-wang", "export", 212, "cli"),
        ("d-qian", "customer", 1, "web"),
    ]
    assert [r.actor for r in list_reads(app, actor="d-qian")] == ["d-qian"]
    assert [r.actor for r in list_reads(app, since=now[0])] == ["d-qian"]
