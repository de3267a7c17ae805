"""Pages show times to the minute in China time (issue 29): the snapshot's ISO UTC time with
microseconds used to be shown as stored."""

from __future__ import annotations

from datetime import UTC, datetime

from eventchain.web.context import templates


def test_times_on_pages_are_to_the_minute_in_china_time() -> None:
    when = templates.env.filters["when"]

    assert "2026-03-02 09:15" == when("2026-03-02T01:15:42.123456+00:00")
    assert "2026-03-03 07:59" == when(datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC))
    assert "2026-03-02 01:15" == when(datetime(2026, 3, 2, 1, 15))  # naive: already local
    assert "—" == when(None)
    assert "not a time" == when("not a time")
