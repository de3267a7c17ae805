"""``eventchain intake`` as operators run it: piped and under a pseudo-terminal."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from application.event_chain import EventChain
from domain.intake import IntakeEntry, IntakeTally
from projections.snapshot import publish_snapshot
from tests.cli import eventchain
from tests.projection_support import project
from tests.pty_cli import eventchain_tty

AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def entry(sequence: int, outcome: str, campaign: str = "spring2026", reason: str = "") -> IntakeEntry:
    return IntakeEntry(
        sequence, "web_form", "2026-03-02", outcome, f"wf-{sequence}", "baidu", "cpc", campaign, reason
    )


def ledger_dir(tmp_path: Path, entries: list[IntakeEntry]) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = EventChain.from_url(f"sqlite:///{data_dir / 'events.db'}")
    app.save(IntakeTally.count(uuid4(), "TOUCHPOINTS", AT, entries))
    views = project(app, data_dir / "views.duckdb")
    try:
        publish_snapshot(views, data_dir / "analytics.duckdb")
    finally:
        views.close()
    return data_dir


@pytest.fixture
def accounted(tmp_path: Path) -> Path:
    return ledger_dir(
        tmp_path,
        [
            entry(1, "recorded"),
            entry(2, "recorded"),
            entry(3, "duplicate"),
            entry(4, "dead_lettered", reason="dictionary"),
            entry(5, "held", reason="over-merge"),
            entry(6, "recorded", campaign="autumn2026"),
        ],
    )


def test_piped_it_prints_every_column_per_channel_and_day_and_exits_0(accounted: Path) -> None:
    result = eventchain(accounted, "intake", "--campaign", "spring2026")
    assert 0 == result.returncode, result.stderr
    header, row = result.stdout.splitlines()
    values = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert ("web_form", "2026-03-02", "5", "2", "1", "1", "1", "1", "True") == (
        values["channel"],
        values["day"],
        values["received"],
        values["recorded"],
        values["duplicates"],
        values["dead_lettered"],
        values["dead_lettered_dictionary"],
        values["held"],
        values["adds_up"],
    )


def test_json_covers_every_campaign_unless_one_is_named(accounted: Path) -> None:
    result = eventchain(accounted, "intake", "--json", "--since", "2026-03-01")
    assert 0 == result.returncode, result.stderr
    [row] = json.loads(result.stdout)
    assert (6, 3) == (row["received"], row["recorded"])
    later = eventchain(accounted, "intake", "--json", "--since", "2026-03-03")
    assert [] == json.loads(later.stdout)


def test_under_a_terminal_it_shows_a_table(accounted: Path) -> None:
    code, shown = eventchain_tty(accounted, "intake", "--campaign", "spring2026", env=dict(os.environ))
    assert 0 == code, shown
    assert "web_form" in shown and "2026-03-02" in shown and "received" in shown


def test_a_message_no_tally_accounts_for_exits_1_naming_the_row(tmp_path: Path) -> None:
    data_dir = ledger_dir(tmp_path, [entry(1, "recorded"), entry(3, "recorded")])  # sequence 2: lost
    piped = eventchain(data_dir, "intake")
    assert 1 == piped.returncode
    assert "does not add up: ? 2026-03-02 (1 unaccounted)" in piped.stderr
    code, shown = eventchain_tty(data_dir, "intake", env=dict(os.environ))
    assert 1 == code
    assert "does not add up" in shown and "Traceback" not in shown


def test_a_file_ingested_by_hand_is_accounted_for_line_by_line_and_once(tmp_path: Path) -> None:
    """`eventchain ingest FILE.jsonl` is a door into the store like the stream: the ledger counts
    each of its lines (recorded, duplicate, rejected with the kind of reason), and ingesting the
    same file again adds nothing to any column."""
    lines = (
        (Path(__file__).parents[2] / "examples" / "touchpoints.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    good = [json.loads(line) for line in lines[:3]]  # web_form, wecom_msg (outbound), douyin_dm
    broken_form = {**good[0], "touchpoint_id": "wf-broken", "occurred_at": "yesterday"}
    file = tmp_path / "leads.jsonl"
    file.write_text(
        "\n".join(
            [
                *(json.dumps(t, ensure_ascii=False) for t in good),
                json.dumps(good[0], ensure_ascii=False),  # the form vendor re-sent it
                json.dumps(broken_form, ensure_ascii=False),  # schema: occurred_at
                "{not json",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    data_dir = tmp_path / "data"
    first = eventchain(data_dir, "ingest", str(file))
    again = eventchain(data_dir, "ingest", str(file))
    assert 0 == eventchain(data_dir, "replay", "rebuild").returncode
    ledger = json.loads(eventchain(data_dir, "intake", "--json").stdout)

    assert 1 == first.returncode and "3 recorded, 1 duplicates, 2 rejected" in first.stdout
    assert "0 recorded, 4 duplicates, 2 rejected" in again.stdout
    columns = ("received", "recorded", "duplicates", "dead_lettered")
    by_channel: dict[str, list[int]] = {}
    for row in ledger:
        assert row["adds_up"], row
        totals = by_channel.setdefault(row["channel"], [0, 0, 0, 0])
        for index, column in enumerate(columns):
            totals[index] += row[column]
    assert {
        "web_form": [3, 1, 1, 1],  # the form, its re-send, the broken form (on the day it came)
        "wecom_msg": [1, 1, 0, 0],
        "douyin_dm": [1, 1, 0, 0],
        "unknown": [1, 0, 0, 1],  # "{not json": nothing tells its channel
    } == by_channel


def test_a_file_of_bad_lines_is_tallied_as_it_is_read_and_a_device_is_never_read_twice(
    tmp_path: Path,
) -> None:
    """Rejected lines are tallied a batch at a time (a file of nothing but bad lines never
    builds one huge tally), and a device or a pipe is read once (it has no digest to take)."""
    file = tmp_path / "bad.jsonl"
    file.write_text("".join(f'{{"touchpoint_id": "bad-{n}", "channel": "web_form"}}\n' for n in range(5)))
    data_dir = tmp_path / "data"
    ingested = eventchain(data_dir, "ingest", "--batch-size", "2", str(file))
    zero = eventchain(data_dir, "ingest", "/dev/null")
    assert 0 == eventchain(data_dir, "replay", "rebuild").returncode
    ledger = json.loads(eventchain(data_dir, "intake", "--json").stdout)
    app = EventChain.from_url(f"sqlite:///{data_dir / 'events.db'}")
    tallies = [
        n for n in app.recorder.select_notifications(1, 100) if n.topic.endswith("IntakeTally.Counted")
    ]

    assert 1 == ingested.returncode and "0 recorded, 0 duplicates, 5 rejected" in ingested.stdout
    assert 0 == zero.returncode and "0 recorded, 0 duplicates, 0 rejected" in zero.stdout
    assert 3 == len(tallies)  # 2 + 2 + 1 rejected lines
    assert [("web_form", 5, 5, True)] == [
        (r["channel"], r["received"], r["dead_lettered"], r["adds_up"]) for r in ledger
    ]
