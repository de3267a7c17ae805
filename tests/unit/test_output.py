"""One time format and plurals for every command's output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventchain.output import cell, emit_rows, instant, plural

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


ROWS = [
    {
        "channel": "web_form",
        "day": "2026-03-02",
        "received_messages": 1200,
        "at": MOMENT,
        "note": "市场部口径",
    },
    {"channel": "douyin_dm", "day": "2026-03-03", "received_messages": 830, "at": MOMENT, "note": "销售口径"},
]


def test_a_table_that_fits_the_terminal_is_one_table_in_china_time_to_the_minute(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVENTCHAIN_TIMEZONE", raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    emit_rows(ROWS, list(ROWS[0]), "table")
    out = capsys.readouterr().out
    assert "received messages" in out and "┃" in out  # the header on one line of one table
    assert 2 == out.count("2026-03-02 09:15 ") and "+08:00" not in out.replace("UTC+08:00", "")
    assert "times: Asia/Shanghai (UTC+08:00)" in out


def test_a_table_too_wide_for_the_terminal_is_shown_a_field_a_line_never_folded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVENTCHAIN_TIMEZONE", raising=False)
    monkeypatch.setenv("COLUMNS", "40")
    emit_rows(ROWS, list(ROWS[0]), "table", title="intake")
    lines = capsys.readouterr().out.splitlines()
    assert "intake" == lines[0] and lines[1].startswith("─[ 1 ]") and max(map(len, lines)) <= 40
    assert "received messages │ 1200" in lines and "received messages │ 830" in lines
    assert "note              │ 市场部口径" in lines and "at                │ 2026-03-02 09:15" in lines


def test_no_rows_is_said_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    emit_rows([], ["channel", "day"], "table", title="intake")
    assert "intake: no rows" == capsys.readouterr().out.strip()
