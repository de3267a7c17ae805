"""The DuckDB read models computed from hand-made histories with known answers."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from application.event_chain import EventChain
from domain.touchpoints import decode_touchpoint
from projections.projector import Projector
from projections.views import DuckDBViews
from tests.projection_support import T0, envelope, lead_and_reply, project

# Seed 000's "before": web 2.1 h, Douyin 5.3 h, expo 8.9 h; with lead shares 40/40/20 %
# CTRE = 0.4×2.1 + 0.4×5.3 + 0.2×8.9 = 4.74 h (the seed's 4.7 h).
SEED_BEFORE = {"web_form": (4, 2.1), "douyin_dm": (4, 5.3), "expo_scan": (2, 8.9)}


def record_channel_means(app: EventChain, means: dict[str, tuple[int, float]]) -> None:
    touchpoints, number = [], 0
    for channel, (leads, hours) in means.items():
        for _ in range(leads):
            number += 1
            touchpoints += lead_and_reply(number, channel, T0 + timedelta(days=number), hours)
    app.record(touchpoints)


def test_ctre_reproduces_the_seed_example(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    record_channel_means(app, SEED_BEFORE)
    views = project(app, tmp_path / "views.duckdb")
    rows = {r[0]: r[1:] for r in views.connection.execute("SELECT * FROM ctre").fetchall()}
    assert set(rows) == {"web_form", "douyin_dm", "expo_scan", "*"}
    for channel, (leads, hours) in SEED_BEFORE.items():
        count, responded, mean, share, _, _ = rows[channel]
        assert (count, responded) == (leads, leads)
        assert mean == pytest.approx(hours)
        assert share == pytest.approx(leads / 10)
    total = rows["*"]
    assert total[0:2] == (10, 10)
    assert total[4] == pytest.approx(4.74)
    assert round(total[4], 1) == 4.7
    # balance index: share-weighted coefficient of variation of the channel means
    variance = 0.4 * (2.1 - 4.74) ** 2 + 0.4 * (5.3 - 4.74) ** 2 + 0.2 * (8.9 - 4.74) ** 2
    assert total[5] == pytest.approx(variance**0.5 / 4.74)


def test_an_unanswered_lead_counts_with_its_elapsed_time_up_to_the_watermark(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record(
        [
            *lead_and_reply(1, "web_form", T0, 1.0),
            *lead_and_reply(2, "web_form", T0, None),  # never answered
            envelope("late", "douyin_dm", T0 + timedelta(hours=11), "13900000000"),  # watermark: T0 + 11 h
        ]
    )
    views = project(app, tmp_path / "views.duckdb")
    web = views.connection.execute(
        "SELECT leads, responded, mean_response_hours FROM ctre WHERE channel = 'web_form'"
    ).fetchone()
    assert web == (2, 1, pytest.approx((1.0 + 11.0) / 2))
    between = views.connection.execute(
        "SELECT leads, responded, mean_response_hours FROM ctre_between(?, ?, ?) WHERE channel = 'web_form'",
        [T0.isoformat(), (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(hours=3)).isoformat()],
    ).fetchone()
    assert between == (2, 1, pytest.approx((1.0 + 3.0) / 2))
    # As of half an hour, the reply (after one hour) had not happened: both leads unanswered.
    before_reply = views.connection.execute(
        "SELECT leads, responded, mean_response_hours FROM ctre_between(?, ?, ?) WHERE channel = 'web_form'",
        [T0.isoformat(), (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(minutes=30)).isoformat()],
    ).fetchone()
    assert before_reply == (2, 0, pytest.approx(0.5))
    response = views.connection.execute(
        "SELECT response_hours FROM lead_response ORDER BY response_hours NULLS LAST"
    ).fetchall()
    assert response == [(1.0,), (None,), (None,)]


def test_the_chain_and_the_heatmap_use_event_time_not_arrival_time(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    phone = "13700000000"
    # an expo scan uploaded two days late arrives after the reply it preceded
    app.record(
        [envelope("reply", "wecom_msg", T0 + timedelta(hours=2), phone, direction="outbound", actor="a-li")]
    )
    app.record([envelope("expo", "expo_scan", T0, phone)])
    views = project(app, tmp_path / "views.duckdb")
    con = views.connection
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    assert con.execute(
        "SELECT first_touch_channel, strftime(first_touch_at, '%H:%M'), touch_count FROM customer_360"
    ).fetchall() == [("expo_scan", "09:00", 2)]
    assert con.execute("SELECT channel, response_hours FROM lead_response").fetchall() == [("expo_scan", 2.0)]
    # 2026-03-02 is a Monday; the lead came at 09:00 China time
    assert con.execute(
        "SELECT weekday, hour, leads, mean_response_hours FROM response_heatmap"
    ).fetchall() == [(1, 9, 1, 2.0)]


def test_the_profile_keeps_the_latest_value_by_event_time(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    phone = "13600000000"
    app.record(
        [
            envelope(
                "new",
                "web_form",
                T0 + timedelta(days=3),
                phone,
                contact={"name": "李雷", "company": "杭州新公司有限公司", "budget_cny": 200000},
            )
        ]
    )
    app.record(
        [
            envelope(
                "old",
                "web_form",
                T0,
                phone,
                contact={
                    "name": "李雷",
                    "company": "杭州旧公司有限公司",
                    "city": "杭州",
                    "budget_cny": 500000,
                },
            )
        ]
    )
    views = project(app, tmp_path / "views.duckdb")
    assert views.connection.execute(
        "SELECT display_name, company, city, budget_cny FROM customer_360"
    ).fetchall() == [("李雷", "杭州新公司有限公司", "杭州", 200000.0)]


def test_a_views_file_from_before_the_budget_column_gets_it_filled(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    contact = {"name": "韩梅梅", "budget_cny": 80000}
    app.record([envelope("a", "web_form", T0, "13600000001", contact=contact)])
    path = tmp_path / "views.duckdb"
    project(app, path).close()
    with duckdb.connect(str(path)) as old:  # as the previous version wrote it
        old.execute("ALTER TABLE customer_360 DROP COLUMN budget_cny")

    views = DuckDBViews(path)
    Projector(app, views).catch_up()

    assert views.connection.execute("SELECT display_name, budget_cny FROM customer_360").fetchall() == [
        ("韩梅梅", 80000.0)
    ]


def test_the_funnel_counts_follow_ups_within_seven_days(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record(
        [
            *lead_and_reply(1, "web_form", T0, 2.0),
            *lead_and_reply(2, "web_form", T0, 24 * 8.0),  # answered, but after 7 days
            *lead_and_reply(3, "douyin_dm", T0, None),
        ]
    )
    views = project(app, tmp_path / "views.duckdb")
    rows = views.connection.execute("SELECT * FROM funnel ORDER BY channel").fetchall()
    # both web leads have a recorded first response, so they are 'contacted' (a fact, not data entry)
    assert rows == [("lead", "douyin_dm", 1, 0, 0.0), ("contacted", "web_form", 2, 1, 0.5)]


def test_a_merged_customer_disappears_and_its_chain_moves_to_the_survivor(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record([envelope("a", "web_form", T0, "13500000001")])
    app.record([envelope("b", "douyin_dm", T0 + timedelta(hours=1), "13500000002")])
    views = project(app, tmp_path / "views.duckdb")
    assert views.connection.execute("SELECT count(*) FROM customer_360").fetchone() == (2,)
    # one touchpoint carrying both phones bridges the two customers: the later one is absorbed
    two_phones = json.dumps(
        {
            "touchpoint_id": "bridge",
            "channel": "call_400",
            "direction": "inbound",
            "occurred_at": (T0 + timedelta(hours=2)).isoformat(),
            "identities": [
                {"kind": "phone", "value": "13500000001"},
                {"kind": "phone", "value": "13500000002"},
            ],
            "payload": {"call_id": "c-1"},
        }
    ).encode()
    app.record([decode_touchpoint(two_phones)])
    Projector(app, views).catch_up()
    rows = views.connection.execute(
        "SELECT touch_count, len(merged_from), list_sort(identities) FROM customer_360"
    ).fetchall()
    assert rows == [(3, 1, ["douyin_open_id:dy-13500000002", "phone:+8613500000001", "phone:+8613500000002"])]
    assert views.connection.execute("SELECT count(DISTINCT customer_id) FROM touchpoints").fetchone() == (1,)
    assert views.connection.execute("SELECT count(*) FROM lead_response").fetchone() == (1,)


def test_every_contract_relation_exists_with_its_columns() -> None:
    expected = {
        "customer_360": "customer_id display_name company city industry owner_agent_id stage tags identities "
        "first_touch_channel first_touch_at first_response_at last_touch_at touch_count "
        "merged_from erased budget_cny",
        "touchpoints": "touchpoint_id customer_id channel direction occurred_at recorded_at actor summary",
        "lead_response": "customer_id channel lead_at first_response_at response_hours owner_agent_id",
        "ctre": "channel leads responded mean_response_hours lead_share ctre_hours balance_index",
        "funnel": "stage channel customers followed_up_7d follow_up_rate_7d",
        "response_heatmap": "weekday hour leads mean_response_hours",
        "assignments": "customer_id agent_id decided_at rule_version matched_step reason",
        "sla_breaches": "customer_id deadline_at escalated_to step rule_version",
    }
    with tempfile.TemporaryDirectory() as directory:
        views = DuckDBViews(Path(directory) / "v.duckdb")
        for relation, columns in expected.items():
            described = views.connection.execute(f"DESCRIBE {relation}").fetchall()
            assert [row[0] for row in described] == columns.split(), relation
        for relation in ("silent_customers", "journey_breakpoints", "data_health"):
            views.connection.execute(f"SELECT * FROM {relation}").fetchall()
        views.close()


def test_data_health_counts_customers_sharing_a_name_and_company_as_duplicate_candidates(
    tmp_path: Path,
) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    same = {"name": "李雷", "company": "杭州某智能硬件有限公司"}
    app.record(
        [
            envelope("a", "web_form", T0, "13500000001", contact=same),
            envelope("b", "web_form", T0, "13500000002", contact=same),
            envelope("c", "web_form", T0, "13500000003", contact={"name": "韩梅梅"}),
        ]
    )
    views = project(app, tmp_path / "views.duckdb")
    health = overall_health(views)
    assert health["duplicate_candidate_rate"] == pytest.approx(2 / 3)
    assert health["null_rate_company"] == pytest.approx(1 / 3)


def test_data_health_counts_customers_whose_shared_identity_was_held(tmp_path: Path) -> None:
    from domain.touchpoints import decode_touchpoint
    from tests.integration.test_identity_limits_ingest import STORY

    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record([decode_touchpoint(raw) for raw in STORY[:2]])  # two companies, one phone
    app.record([envelope("c", "web_form", T0, "13500000003", contact={"name": "韩梅梅"})])
    views = project(app, tmp_path / "views.duckdb")
    health = overall_health(views)
    assert health["held_identity_rate"] == pytest.approx(2 / 3)


def overall_health(views: DuckDBViews) -> dict[str, float]:
    rows = views.connection.execute("SELECT metric, value FROM data_health WHERE import_batch = 'overall'")
    return dict(rows.fetchall())
