"""`eventchain ingest` as a user runs it: a separate process on a real SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from application.event_chain import EventChain
from eventchain.scenarios import seed_touchpoints


def eventchain(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines))
    return path


def test_bad_lines_are_reported_with_line_and_field_while_good_lines_are_recorded(tmp_path: Path) -> None:
    good = seed_touchpoints(3)
    bad_type = {**good[0], "touchpoint_id": "bad-1", "payload": {"form_id": 42}}
    naive_time = {**good[0], "touchpoint_id": "bad-2", "occurred_at": "2026-03-02T09:00:00"}
    feed = write_jsonl(tmp_path / "feed.jsonl", [good[0], bad_type, *good[1:5], "{oops", naive_time])

    result = eventchain(tmp_path / "data", "ingest", str(feed))

    assert 1 == result.returncode
    assert "line 2: $.payload.form_id: Expected `str`, got `int`" in result.stderr
    assert "line 7: $: not valid JSON" in result.stderr
    assert "line 8: $.occurred_at: Expected `datetime` with a timezone component" in result.stderr
    assert "5 recorded, 0 duplicates, 3 rejected" in result.stdout
    assert "Traceback" not in result.stderr
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'data' / 'events.db'}")
    recorded = {t for i in app.customer_ids() for t in app.get_customer(i, follow_merges=False).touchpoints}
    assert {e["touchpoint_id"] for e in [good[0], *good[1:5]]} == recorded


def test_ingesting_the_same_file_twice_records_nothing_new(tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", seed_touchpoints(5))
    first = eventchain(tmp_path / "data", "ingest", str(feed))
    second = eventchain(tmp_path / "data", "ingest", str(feed))
    assert 0 == first.returncode == second.returncode
    assert f"{len(seed_touchpoints(5))} recorded" in first.stdout
    assert "0 recorded" in second.stdout


def test_a_missing_file_or_a_bad_store_url_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    missing = eventchain(tmp_path, "ingest", str(tmp_path / "nope.jsonl"))
    bad_url = eventchain(
        tmp_path,
        "--store-url",
        "mysql://x",
        "ingest",
        str(write_jsonl(tmp_path / "f.jsonl", seed_touchpoints(1))),
    )
    assert 2 == missing.returncode == bad_url.returncode
    assert "does not exist" in missing.stderr
    assert "the scheme must be sqlite:// or postgresql://" in bad_url.stderr
    assert "Traceback" not in missing.stderr + bad_url.stderr
