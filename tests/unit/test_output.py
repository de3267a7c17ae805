"""One time format and plurals for every command's output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventchain.output import cell, instant, plural

MOMENT = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)


def test_instants_are_iso_8601_in_china_time_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTCHAIN_TIMEZONE", raising=False)
    assert "2026-03-02T09:15:00+08:00" == instant(MOMENT)


def test_the_time_zone_is_configurable_and_a_wrong_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTCHAIN_TIMEZONE", "Europe/Berlin")
    assert "2026-03-02T02:15:00+01:00" == cell(MOMENT)
    monkeypatch.setenv("EVENTCHAIN_TIMEZONE", "Mars/Olympus")
    with pytest.raises(Exception, match="EVENTCHAIN_TIMEZONE='Mars/Olympus'"):
        instant(MOMENT)


@pytest.mark.parametrize(("count", "text"), [(0, "0 touchpoints"), (1, "1 touchpoint"), (2, "2 touchpoints")])
def test_counts_agree_with_their_noun(count: int, text: str) -> None:
    assert text == plural(count, "touchpoint")
