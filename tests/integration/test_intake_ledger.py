"""The intake ledger (seed 002) over a real nats-server: a month's leads of one campaign with
the losses a real month has, and a ledger row that accounts for every one of them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import nats
import pytest
from eventsourcing.utils import get_topic

from adapters.nats import PATH_HEADER, REASON_HEADER, ensure_streams, header_text, wait_until
from application.event_chain import EventChain
from application.rules import apply_rules
from domain.intake import IntakeManifest
from eventchain.ingest_worker import WorkerStats
from eventchain.metrics import intake_counters
from replay.rebuild import build_views, checksums
from tests.nats_support import dead_letters, private_config, publish_raw, running_worker
from tests.projection_support import project

UTM = {"source": "baidu", "medium": "cpc", "campaign": "spring2026"}
DAY = "2026-03-02"
RULES = """
[dictionaries]
"科室" = ["心内科", "骨科", "影像科"]
"""
LEDGER_COLUMNS = (
    "received, recorded, duplicates, dead_lettered, dead_lettered_schema, dead_lettered_limits, "
    "dead_lettered_identity, dead_lettered_dictionary, dead_lettered_other, held, redriven, unaccounted, "
    "adds_up, sent, gap"
)
MANIFEST = {
    "manifest_id": "baidu-spring2026-0302",
    "channel": "web_form",
    "day": DAY,
    "utm": UTM,
    "sent": 1200,
    "sent_at": "2026-03-03T00:10:00+08:00",
}


def form(number: int, *phones: str, department: str = "心内科", **overrides: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "touchpoint_id": f"wf-{number:05d}",
        "channel": "web_form",
        "occurred_at": f"{DAY}T{9 + number % 10:02d}:{number % 60:02d}:00+08:00",
        "direction": "inbound",
        "actor": None,
        "identities": [{"kind": "phone", "value": p} for p in phones or (phone(number),)],
        "contact": {"name": f"客户{number}", "company": "杭州某医疗设备有限公司"},
        "payload": {"form_id": "contact-us", "fields": {"科室": department}, "utm": UTM},
    }
    envelope.update(overrides)
    return envelope


def phone(number: int) -> str:
    return f"1380013{number:04d}"


def encoded(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False).encode()


def ledger(path: Path, where: str = "utm_campaign = 'spring2026'") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(
            f"SELECT channel, day, {LEDGER_COLUMNS} FROM intake_daily WHERE {where} ORDER BY ALL"
        ).fetchall()


@pytest.fixture
def a_month_of_leads(nats_server: str, tmp_path: Path) -> Iterator[tuple[EventChain, Any]]:
    """1,200 web-form leads of one campaign as a form vendor sends them: 990 good leads, 100 of
    them re-sent after the duplicate window, 50 with a 科室 outside the dictionary, 30 broken
    payloads, 10 unusable phones, 20 that would join four customers at once (held)."""
    config = private_config(duplicate_window=1.0)
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(app, RULES, "ops", "seed 002 dictionaries")
    good = [form(n) for n in range(990)]
    outside = [form(1000 + n, department="神经外科二病区") for n in range(50)]
    broken = [form(2000 + n, payload={"fields": {}, "utm": UTM}) for n in range(20)]  # no form_id
    broken += [form(2100 + n, direction="sideways") for n in range(10)]
    bad_phones = [form(3000 + n, "12345") for n in range(10)]
    over_merged = [form(4000 + n, *(phone(4 * n + k) for k in range(4))) for n in range(20)]
    first = [*good, *outside, *broken, *bad_phones, *over_merged]
    publish_raw(nats_server, config, [("web_form", encoded(e), e["touchpoint_id"]) for e in first])
    time.sleep(1.5)  # the vendor re-sends a day later: past JetStream's duplicate window
    resent = good[:100]
    publish_raw(nats_server, config, [("web_form", encoded(e), e["touchpoint_id"]) for e in resent])
    publish_manifest(nats_server, config, {**MANIFEST, "sent": 1100, "sent_at": "2026-03-02T23:00:00+08:00"})
    publish_manifest(nats_server, config, MANIFEST)  # the vendor's corrected count wins
    publish_manifest(nats_server, config, MANIFEST)  # and a manifest counts once
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(
            lambda: (
                worker.stats.recorded + worker.stats.duplicates + worker.stats.dead_lettered == 1200
                and manifests_recorded(app) == 2
            ),
            timeout=120,
        ), worker.stats
    STATS[config.names.stream] = worker.stats
    yield app, config


STATS: dict[str, WorkerStats] = {}


def publish_manifest(url: str, config: Any, manifest: dict[str, Any]) -> None:
    async def publish() -> None:
        nc = await nats.connect(url)
        try:
            await ensure_streams(nc, config)
            subject = f"{config.names.manifest_prefix}.{manifest['channel']}"
            await nc.jetstream().publish(subject, json.dumps(manifest).encode())
        finally:
            await nc.close()

    asyncio.run(publish())


def manifests_recorded(app: EventChain) -> int:
    topic = get_topic(IntakeManifest.Received)
    return len(app.recorder.select_notifications(1, 100_000, topics=[topic]))


EXPECTED = [
    # received, recorded, dup, dead, schema, limits, identity, dictionary, other, held, redriven,
    # unaccounted, adds_up, sent (upstream's manifest), gap
    ("web_form", date(2026, 3, 2), 1200, 990, 100, 90, 30, 0, 10, 50, 0, 20, 0, 0, True, 1200, 0)
]


def test_a_month_of_one_campaign_is_accounted_for_lead_by_lead(
    a_month_of_leads: tuple[EventChain, Any], tmp_path: Path
) -> None:
    app, _ = a_month_of_leads
    project(app, tmp_path / "views.duckdb").close()
    assert EXPECTED == ledger(tmp_path / "views.duckdb")


def test_the_ledger_is_the_same_after_a_rebuild_and_verify_finds_no_difference(
    a_month_of_leads: tuple[EventChain, Any], tmp_path: Path
) -> None:
    app, _ = a_month_of_leads
    project(app, tmp_path / "incremental.duckdb", batch_size=97).close()
    build_views(app, tmp_path / "rebuilt.duckdb")
    assert EXPECTED == ledger(tmp_path / "rebuilt.duckdb") == ledger(tmp_path / "incremental.duckdb")
    assert checksums(tmp_path / "incremental.duckdb") == checksums(tmp_path / "rebuilt.duckdb")


def test_a_form_field_outside_its_dictionary_is_dead_lettered_naming_the_field_and_the_value(
    a_month_of_leads: tuple[EventChain, Any], nats_server: str, tmp_path: Path
) -> None:
    _, config = a_month_of_leads
    letters = [
        (header_text(headers[PATH_HEADER]), header_text(headers[REASON_HEADER]))
        for _, headers in dead_letters(nats_server, config)
    ]
    outside = [(path, reason) for path, reason in letters if "dictionary" in reason]
    assert 50 == len(outside)
    assert {"$.payload.fields.科室"} == {path for path, _ in outside}
    assert all("'神经外科二病区' is not in the dictionary of 科室" in reason for _, reason in outside)


def test_the_funnel_by_campaign_agrees_with_the_ledgers_recorded_column(
    a_month_of_leads: tuple[EventChain, Any], tmp_path: Path
) -> None:
    app, _ = a_month_of_leads
    project(app, tmp_path / "views.duckdb").close()
    with duckdb.connect(str(tmp_path / "views.duckdb"), read_only=True) as connection:
        funnel = connection.execute(
            "SELECT sum(customers) FROM funnel_by_campaign WHERE utm_campaign = 'spring2026'"
        ).fetchone()
        recorded = connection.execute(
            "SELECT sum(recorded) FROM intake_daily WHERE utm_campaign = 'spring2026'"
        ).fetchone()
    assert funnel == recorded == (990,)


def test_metrics_count_intake_outcomes_and_dead_letters_by_reason(
    a_month_of_leads: tuple[EventChain, Any],
) -> None:
    from prometheus_client import generate_latest
    from prometheus_client.registry import Collector, CollectorRegistry

    _, config = a_month_of_leads
    stats = STATS[config.names.stream]

    class Intake(Collector):
        def collect(self) -> Iterator[Any]:
            return intake_counters(stats)

    registry = CollectorRegistry()
    registry.register(Intake())
    lines = set(generate_latest(registry).decode().splitlines())
    assert {
        'eventchain_intake_total{channel="web_form",outcome="recorded"} 990.0',
        'eventchain_intake_total{channel="web_form",outcome="duplicate"} 100.0',
        'eventchain_intake_total{channel="web_form",outcome="held"} 20.0',
        'eventchain_intake_total{channel="web_form",outcome="dead_lettered"} 90.0',
        'eventchain_dead_letters_total{channel="web_form",reason="dictionary"} 50.0',
        'eventchain_dead_letters_total{channel="web_form",reason="schema"} 30.0',
        'eventchain_dead_letters_total{channel="web_form",reason="identity"} 10.0',
    } <= lines


def test_a_stream_message_no_tally_names_makes_a_row_that_does_not_add_up(
    nats_server: str, tmp_path: Path
) -> None:
    config = private_config()
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    messages = [("web_form", encoded(form(n)), f"wf-{n:05d}") for n in range(3)]
    publish_raw(nats_server, config, messages)
    with running_worker(app, nats_server, config) as worker:
        assert wait_until(lambda: worker.stats.recorded == 3, timeout=30)
    views = project(app, tmp_path / "views.duckdb")
    views.connection.execute("DELETE FROM ec.intake WHERE sequence = 2")  # a lost tally
    rows = views.connection.execute(
        "SELECT channel, received, unaccounted, adds_up FROM intake_daily WHERE NOT adds_up"
    ).fetchall()
    views.close()
    assert [("?", 1, 1, False)] == rows


def test_the_day_is_china_time_of_the_leads_occurred_at() -> None:
    from domain.intake import china_day

    assert "2026-03-03" == china_day(datetime.fromisoformat("2026-03-02T17:30:00+00:00"))


def test_rows_rejected_at_import_are_counted_per_file_and_column(tmp_path: Path) -> None:
    from application.importer import import_file
    from tests.import_files import customer_sheet, write_xlsx

    sheet = customer_sheet(300, seed=4)
    path = write_xlsx(sheet, tmp_path / "客户名单.xlsx", formulas=True)
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    summary = import_file(app, path, occurred_at=datetime.fromisoformat("2026-03-02T10:00:00+08:00"))
    views = project(app, tmp_path / "views.duckdb")
    try:
        [(file, rejected, by_column)] = views.connection.execute(
            "SELECT source_file, rejected, rejected_by_column FROM intake_import_rejects"
        ).fetchall()
        [(imported,)] = views.connection.execute(
            "SELECT sum(import_rejected) FROM intake_daily WHERE channel = 'import'"
        ).fetchall()
    finally:
        views.close()
    assert file.endswith("客户名单.xlsx")
    assert summary.rejected_rows == rejected == imported == sum(by_column.values()) > 0
    assert set(by_column) <= {"company", "phone", "email", "公司", "手机", "邮箱"}, by_column


def test_dead_letters_fixed_and_re_driven_are_counted_apart_from_what_was_received(
    nats_server: str, tmp_path: Path
) -> None:
    from application.dlq import get_dead_letter, record_action, retry_dead_letter

    config = private_config(duplicate_window=1.0)
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    apply_rules(app, RULES, "ops", "seed 002 dictionaries")
    outside = [form(n, department="神经外科") for n in range(3)]
    publish_raw(nats_server, config, [("web_form", encoded(e), e["touchpoint_id"]) for e in outside])

    async def re_drive(sequences: list[int]) -> None:
        nc = await nats.connect(nats_server)
        try:
            js = nc.jetstream()
            for sequence in sequences:
                letter = await get_dead_letter(js, config.names, sequence)
                fixed = encoded({**json.loads(letter.data), "payload": form(0)["payload"]})  # 科室 = 心内科
                retried = await retry_dead_letter(js, config.names, letter, 1.0, fixed_body=fixed)
                record_action(
                    app,
                    config.names,
                    letter,
                    actor="ops-li",
                    action="retried",
                    fixed_body=fixed,
                    republished_as=retried.republished_as,
                )
        finally:
            await nc.close()

    with running_worker(app, nats_server, config) as worker:
        assert wait_until(lambda: worker.stats.dead_lettered == 3, timeout=30), worker.stats
        time.sleep(1.5)  # past the duplicate window: the fixed copies keep their Nats-Msg-Id
        asyncio.run(re_drive([1, 2]))
        assert wait_until(lambda: worker.stats.recorded == 2, timeout=30), worker.stats
    project(app, tmp_path / "views.duckdb").close()
    with duckdb.connect(str(tmp_path / "views.duckdb"), read_only=True) as connection:
        row = connection.execute(
            "SELECT received, recorded, dead_lettered_dictionary, redriven, redriven_recorded, adds_up "
            "FROM intake_daily WHERE utm_campaign = 'spring2026'"
        ).fetchall()
    assert [(3, 0, 3, 2, 2, True)] == row
