"""User mistakes and unreachable servers, piped and in a terminal (issue 15): one line
on stderr, a non-zero exit, bounded in time, never a traceback; progress bars work in a
real terminal."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import xlsxwriter

from bench.workload import touchpoint_envelopes
from tests.cli import eventchain, eventchain_in_terminal

Run = Callable[..., tuple[int, str]]


def piped(data_dir: Path, *args: str) -> tuple[int, str]:
    result = eventchain(data_dir, *args)
    assert "" == result.stderr or result.stderr.endswith("\n")
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(params=["piped", "terminal"])
def run(request: pytest.FixtureRequest) -> Run:
    return piped if request.param == "piped" else eventchain_in_terminal


def error_lines(output: str) -> list[str]:
    """The error lines, without the progress bar's redraws and colours around them."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    return [line for line in re.split(r"[\r\n]+", text) if line.startswith("error")]


def test_ingest_shows_progress_in_a_terminal_and_records_the_file(run: Run, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(touchpoint_envelopes(1200, 50, seed=2, prefix="pty")) + b"\n")
    code, output = run(tmp_path / "data", "ingest", "--batch-size", "100", str(feed))
    assert 0 == code, output
    assert "Traceback" not in output


def test_import_shows_progress_in_a_terminal_and_reports_formula_cells(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "客户.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["姓名", "手机", "公司"])
    for row in range(1, 1500):
        sheet.write_row(row, 0, [f"客户{row}", f"1390571{row:04d}", "杭州某智能硬件有限公司"])
    sheet.write_formula(1500, 2, "=VLOOKUP(A2,Sheet2!A:B,2,0)", None, "成都某医疗设备有限公司")
    sheet.write_row(1500, 0, ["王芳", "13905719999"])
    workbook.close()
    code, output = run(tmp_path / "data", "import", str(path))
    assert 1 == code, output  # one row rejected
    assert "Traceback" not in output and "1500 rows read = 1499 accepted + 1 rejected" in output
    assert "note: 1 formula cells" in output


def test_publish_to_an_unreachable_nats_gives_up_in_one_line_naming_url_and_cause(
    run: Run, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(touchpoint_envelopes(3, 2, seed=1, prefix="gone")[0] + b"\n")
    args = ("--nats-url", "nats://127.0.0.1:1", "publish", "--timeout", "2", str(feed))
    code, output = run(tmp_path / "data", *args)
    assert 1 == code
    assert "Traceback" not in output
    [line] = error_lines(output)
    assert "cannot reach NATS at nats://127.0.0.1:1: connection refused" in line


def test_status_with_nats_unreachable_says_so_in_one_line_and_exits_non_zero(
    run: Run, tmp_path: Path
) -> None:
    code, output = run(tmp_path / "data", "--nats-url", "nats://127.0.0.1:1", "status", "--json")
    assert 1 == code
    assert "Traceback" not in output
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    [line] = [line for line in re.split(r"[\r\n]+", text) if line.startswith("unhealthy: NATS")]
    assert line.startswith("unhealthy: NATS at nats://127.0.0.1:1 not reachable")


def test_an_unreachable_postgresql_is_one_line_and_exit_1(run: Run, tmp_path: Path) -> None:
    code, output = run(tmp_path / "data", "--store-url", "postgresql://eventchain@127.0.0.1:1/none", "status")
    assert 1 == code
    assert "Traceback" not in output
    [line] = error_lines(output)
    assert "OperationalError" in line and "127.0.0.1" in line


def test_a_mistyped_sqlite_store_url_is_refused_by_status(run: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nonexistent' / 'dir' / 'events.db'}"
    code, output = run(tmp_path / "data", "--store-url", url, "status")
    assert 1 == code
    missing = tmp_path / "nonexistent" / "dir" / "events.db"
    assert [f"error: no event store at {missing} (check --store-url or --data-dir)"] == error_lines(output)
    assert not (tmp_path / "nonexistent").exists()


def test_team_join_with_a_malformed_toml_file_is_one_line(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[agents]]\nid = \n", encoding="utf-8")
    code, output = run(tmp_path / "data", "team", "join", "--file", str(bad))
    assert 1 == code
    assert "Traceback" not in output and 1 == len(error_lines(output))


def test_ingest_of_dev_zero_ends_with_one_line(run: Run, tmp_path: Path) -> None:
    code, output = run(tmp_path / "data", "ingest", "/dev/zero")
    assert 1 == code
    assert ["error: JsonLinesError: line 1 has no end within 67108864 bytes: not a JSON Lines file"] == (
        error_lines(output)
    )


def test_ingest_rejects_a_touchpoint_from_the_far_future_and_a_bad_bound_flag(
    run: Run, tmp_path: Path
) -> None:
    [line] = touchpoint_envelopes(1, 1, seed=1, prefix="future")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({**json.loads(line), "occurred_at": "9999-12-31T23:59:59-14:00"}) + "\n")
    code, output = run(tmp_path / "data", "ingest", str(feed))
    assert 1 == code
    assert "rejected line 1: $.occurred_at: 9999-12-31T23:59:59-14:00 is more than 300 s" in output
    code, output = run(tmp_path / "data", "--max-future-skew-s", "-5", "ingest", str(feed))
    assert 2 == code and "Traceback" not in output and "--max-future-skew-s" in output
