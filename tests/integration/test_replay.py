"""Replay: rebuild equals incremental, as-of equals a store that stopped there, verify, locks."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.event_chain import EventChain
from domain.touchpoints import accept
from projections.projector import Projector
from projections.snapshot import publish_snapshot
from projections.views import DuckDBViews
from replay.rebuild import RebuildRunningError, build_views, checksums, rebuild, rebuild_lock, verify
from tests.projection_support import T0, all_contents, lead_and_reply, project
from tests.strategies import touchpoint_histories


class Clock:
    """Commit times chosen by the test (the application never reads a real clock here)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@settings(max_examples=10)
@given(touchpoint_histories(), st.integers(1, 6))
def test_a_rebuild_equals_the_incrementally_projected_views(history: list[Any], batch: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = EventChain.from_url(f"sqlite:///{directory}/events.db", max_batch=batch)
        app.record([accept(t) for t in history])
        incremental = project(app, Path(directory) / "live.duckdb", batch_size=batch)
        publish_snapshot(incremental, Path(directory) / "snapshot.duckdb")
        expected = all_contents(incremental.connection)
        incremental.close()
        rebuilt = build_views(app, Path(directory) / "rebuilt.duckdb")
        with duckdb.connect(str(rebuilt.path), read_only=True) as connection:
            assert all_contents(connection) == expected
        assert verify(app, Path(directory) / "snapshot.duckdb", Path(directory) / "scratch.duckdb").ok


@settings(max_examples=8)
@given(touchpoint_histories(max_size=16), st.integers(1, 15))
def test_views_as_of_an_instant_equal_a_store_that_only_received_the_events_up_to_it(
    history: list[Any], cut: int
) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as directory:
        clock = Clock(start)
        full = EventChain.from_url(f"sqlite:///{directory}/full.db", clock=clock)
        partial = EventChain.from_url(f"sqlite:///{directory}/partial.db", clock=Clock(start))
        for number, touchpoint in enumerate(history):  # one commit per minute
            clock.now = start + timedelta(minutes=number)
            full.record([accept(touchpoint)])
            if number < cut:
                partial.clock = Clock(clock.now)
                partial.record([accept(touchpoint)])
        as_of = start + timedelta(minutes=cut - 1, seconds=30)
        past = build_views(full, Path(directory) / "asof.duckdb", as_of=as_of)
        expected = project(partial, Path(directory) / "partial.duckdb")
        with duckdb.connect(str(past.path), read_only=True) as connection:
            assert all_contents(connection) == all_contents(expected.connection)


def test_verify_names_the_tables_that_differ(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record([*lead_and_reply(1, "web_form", T0, 1.0), *lead_and_reply(2, "douyin_dm", T0, None)])
    views = project(app, tmp_path / "views.duckdb")
    views.connection.execute("UPDATE touchpoints SET summary = 'tampered' WHERE touchpoint_id = 'lead-1'")
    publish_snapshot(views, tmp_path / "snapshot.duckdb")
    result = verify(app, tmp_path / "snapshot.duckdb", tmp_path / "scratch.duckdb")
    assert result.mismatched == ["touchpoints"]
    assert not (tmp_path / "scratch.duckdb").exists()


def test_a_second_rebuild_is_refused_while_one_runs(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    with rebuild_lock(tmp_path / "views.duckdb"), pytest.raises(RebuildRunningError, match="already running"):
        rebuild(app, tmp_path / "views.duckdb", None)
    rebuild(app, tmp_path / "views.duckdb", None)  # free again


def test_a_rebuild_swaps_the_file_atomically_and_republishes_the_snapshot(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record(lead_and_reply(1, "web_form", T0, 1.0))
    live = project(app, tmp_path / "views.duckdb")
    live.close()
    app.record(lead_and_reply(2, "web_form", T0, 2.0))
    result = rebuild(app, tmp_path / "views.duckdb", tmp_path / "snapshot.duckdb")
    assert result.position == app.max_notification_id()
    assert checksums(tmp_path / "snapshot.duckdb")["lead_response"][0] == 2
    reopened = DuckDBViews(tmp_path / "views.duckdb")
    assert Projector(app, reopened).catch_up() == 0
    assert not list(tmp_path.glob(".views.duckdb.rebuild*"))
