"""The safety net made visible: a lead nobody owns some seconds after the store recorded it is
counted (with the age of the oldest) by status, which calls it a problem, and by /metrics;
once the router assigns it, both are quiet again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from application.event_chain import EventChain
from eventchain.config import Settings
from eventchain.health import service_status
from eventchain.metrics import ServiceCollector, ServiceState
from followers.router import Router
from projections.snapshot import publish_snapshot
from tests.integration.test_followers import staffed
from tests.projection_support import T0, envelope, project


def published(app: EventChain, settings: Settings) -> None:
    views = project(app, settings.views_path)
    publish_snapshot(views, settings.snapshot_path)
    views.close()


def metric(state: ServiceState, name: str) -> float | None:
    for family in ServiceCollector(state).collect():
        if family.name == name:
            return float(family.samples[0].value)
    return None


def test_a_lead_without_an_owner_is_a_problem_until_the_router_assigns_it(tmp_path: Path) -> None:
    settings = Settings.load({}, data_dir=str(tmp_path))
    app = staffed(settings.store_url)
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    recorder = EventChain.from_url(settings.store_url, clock=lambda: a_minute_ago)
    recorder.record([envelope("lost", "web_form", T0, "13800000201")])
    published(app, settings)

    status = service_status(settings, app, ())
    assert status["unowned_leads"] == 1
    assert status["oldest_unowned_lead_age_s"] >= 60
    assert any("1 lead(s) have no owner" in problem for problem in status["problems"])
    assert metric(ServiceState(settings, app), "eventchain_unowned_leads") == 1.0

    assert Router(EventChain.from_url(settings.store_url)).tick() == 1
    published(app, settings)
    status = service_status(settings, app, ())
    assert (status["unowned_leads"], status["problems"]) == (0, [])
    assert metric(ServiceState(settings, app), "eventchain_unowned_leads") == 0.0
