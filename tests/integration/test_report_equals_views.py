"""The report, the demo and ``replay what-if`` show the views' own figures (one definition).

The seed scenarios go through the real pipeline (record → route → SLA → silence → the
projector); every figure the report shows is then compared with the view that defines it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from application.event_chain import EventChain
from application.rules import last_rule_version, ruleset
from domain.rules import rules_from_dict
from eventchain.config import Settings
from eventchain.demo_views import project_and_show
from projections.queries import TIME_FORMAT, ReportData, Window, load_report_data, open_views
from projections.schema import EVERYONE_SCOPE
from projections.visibility import EXEC, VISIBLE_TABLE
from replay.what_if import what_if
from tests.seed_views import build_seed_views


@dataclass(frozen=True)
class Seed:
    workdir: Path
    views: Path

    @property
    def app(self) -> EventChain:
        return EventChain.from_url(f"sqlite:///{self.workdir / 'events.db'}")


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    workdir = tmp_path_factory.mktemp("seed-views")
    return Seed(workdir, build_seed_views(workdir, customers=40))


@pytest.fixture
def views(seed: Seed) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_views(seed.views) as connection:
        yield connection


@pytest.fixture(params=[EVERYONE_SCOPE, VISIBLE_TABLE])
def scope(request: pytest.FixtureRequest) -> str:
    """Exec's figures over everyone (the views' own plan) and over its visible customers (the
    scoped branch every other role takes): both must be the views' figures."""
    return str(request.param)


def report(connection: duckdb.DuckDBPyConnection, scope: str, window: Window | None = None) -> ReportData:
    return load_report_data(connection, EXEC, window or Window(), scope=scope)


def test_the_seed_has_every_kind_of_figure(views: duckdb.DuckDBPyConnection) -> None:
    """Guards the comparisons below against comparing empty sets."""
    counts = {
        name: views.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
        for name in ("funnel", "ctre", "response_heatmap", "sla_breaches", "ec.breached_leads")
    }
    assert all(counts.values()), counts
    steps, leads = counts["sla_breaches"], counts["ec.breached_leads"]
    assert steps > leads  # escalation steps and breached leads are different counts: name them


def test_the_reports_funnel_is_the_funnel_view(views: duckdb.DuckDBPyConnection, scope: str) -> None:
    rows = views.execute("SELECT stage, channel, customers, followed_up_7d FROM funnel").fetchall()

    assert sorted(report(views, scope).funnel) == sorted(rows)


def test_the_reports_ctre_is_the_ctre_view(views: duckdb.DuckDBPyConnection, scope: str) -> None:
    rows = {r[0]: r[1:] for r in views.execute("SELECT * FROM ctre").fetchall()}
    ctre = report(views, scope).ctre

    assert {c.channel: (c.leads, c.responded) for c in ctre.channels} == {
        channel: row[:2] for channel, row in rows.items() if channel != "*"
    }
    for channel in ctre.channels:
        assert (channel.mean_response_hours, channel.lead_share) == pytest.approx(rows[channel.channel][2:4])
    assert (ctre.ctre_hours, ctre.balance_index) == pytest.approx(rows["*"][4:6])


def test_the_reports_ctre_for_a_period_is_ctre_between(views: duckdb.DuckDBPyConnection, scope: str) -> None:
    start = datetime.fromisoformat("2026-03-02T00:00+08:00")
    window = Window(start, start + timedelta(days=3))
    between = views.execute(
        "SELECT leads, ctre_hours FROM ctre_between(?, ?, (SELECT as_of FROM ec.watermark)) "
        "WHERE channel = '*'",
        [window.start, window.end],
    ).fetchone()
    ctre = report(views, scope, window).ctre

    assert between is not None and 0 < between[0]
    assert sum(c.leads for c in ctre.channels) == between[0]
    assert ctre.ctre_hours == pytest.approx(between[1])


def test_the_reports_heatmap_is_the_heatmap_view(views: duckdb.DuckDBPyConnection, scope: str) -> None:
    rows = views.execute("SELECT weekday, hour, leads, mean_response_hours FROM response_heatmap").fetchall()
    shown = report(views, scope).heatmap

    assert [r[:3] for r in sorted(shown)] == [r[:3] for r in sorted(rows)]
    assert [r[3] for r in sorted(shown)] == pytest.approx([r[3] for r in sorted(rows)])


def test_breaches_count_leads_everywhere(seed: Seed, views: duckdb.DuckDBPyConnection, scope: str) -> None:
    breached = views.execute("SELECT count(*) FROM ec.breached_leads").fetchone()
    overdue = views.execute(
        "SELECT now + repaired FROM journey_breakpoints WHERE breakpoint = 'first contact overdue'"
    ).fetchone()
    steps = views.execute(
        "SELECT count(*) FROM sla_breaches WHERE customer_id IN (SELECT customer_id FROM ec.leads)"
    ).fetchone()
    shown = report(views, scope)
    app = seed.app
    in_force = rules_from_dict(ruleset(app).document(last_rule_version(app) or 0))
    back_test = what_if(app, in_force)

    assert breached is not None and overdue is not None and steps is not None
    assert shown.breached_leads == breached[0] == overdue[0] == back_test.breaches_actual
    assert shown.sla_breaches.total == steps[0]  # the table lists each lead's escalation steps


def test_what_if_reads_the_views_leads_and_ctre(seed: Seed, views: duckdb.DuckDBPyConnection) -> None:
    total = views.execute("SELECT leads, ctre_hours FROM ctre WHERE channel = '*'").fetchone()
    app = seed.app
    in_force = rules_from_dict(ruleset(app).document(last_rule_version(app) or 0))
    back_test = what_if(app, in_force)

    assert total is not None
    assert back_test.leads == total[0]
    assert back_test.ctre_hours == pytest.approx(total[1])
    assert back_test.breaches_predicted == back_test.breaches_actual  # the rules in force reproduce them


def test_the_reports_silent_customers_are_the_view(views: duckdb.DuckDBPyConnection, scope: str) -> None:
    silent = views.execute("SELECT count(*) FROM silent_customers").fetchone()

    assert silent is not None and report(views, scope).silent_customers.total == silent[0]


def test_the_demos_report_is_in_china_standard_time(seed: Seed, tmp_path: Path) -> None:
    settings = Settings.load(
        {},
        data_dir=str(tmp_path),
        store_url=f"sqlite:///{seed.workdir / 'events.db'}",
    )
    written = project_and_show(Console(file=io.StringIO()), seed.app, settings)
    html = written.read_text(encoding="utf-8")
    with open_views(settings.snapshot_path) as connection:
        latest = connection.execute("SELECT max(deadline_at) FROM sla_breaches").fetchone()
    assert latest is not None
    local = latest[0].strftime(TIME_FORMAT)  # DuckDB hands it back in the connection's zone

    assert latest[0].utcoffset() == timedelta(hours=8)
    assert local in html
    assert (latest[0] - timedelta(hours=8)).strftime(TIME_FORMAT) not in html
