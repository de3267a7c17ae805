"""Session rows are operational state, not history: a sign-in prunes the rows over for longer
than RETENTION (ended, or never seen again) and nothing else; the sign-ins and sign-outs stay
in the accounts' event history. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.sessions import SessionTable
from application.event_chain import EventChain
from application.sessions import end_session, open_for
from domain.sessions import RETENTION, SIGNED_OUT

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_sign_in_prunes_only_the_rows_over_for_longer_than_the_retention(store_url: str) -> None:
    clock = Clock(T0)
    app = EventChain.from_url(store_url, clock=clock)
    table = SessionTable(app.recorder)
    old_ended = open_for(app, table, "a-wang", "s-old-ended", "10.0.0.1", "Chrome")
    old_unseen = open_for(app, table, "a-li", "s-old-unseen", "10.0.0.2", "WeChat")  # never came back
    clock.now = T0 + timedelta(hours=1)
    end_session(app, table, old_ended, SIGNED_OUT)
    clock.now = T0 + timedelta(days=30)
    recent_ended = open_for(app, table, "a-wang", "s-recent", "10.0.0.1", "Chrome")
    end_session(app, table, recent_ended, SIGNED_OUT)
    kept_open = open_for(app, table, "a-zhao", "s-open", "10.0.0.3", "Safari")
    everything = {s.key for s in table.all_sessions()}

    clock.now = T0 + RETENTION + timedelta(hours=2)  # the two oldest are over for > 90 days
    signed_in = open_for(app, table, "a-wang", "s-today", "10.0.0.1", "Chrome")

    left = {s.key for s in table.all_sessions()}
    assert left == everything - {old_ended.key, old_unseen.key} | {signed_in.key}
    assert kept_open.key in left and recent_ended.key in left  # nothing else was touched
    assert table.prune(clock.now - RETENTION) == []  # said once, then nothing is left to prune
