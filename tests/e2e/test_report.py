"""`eventchain report` as a user runs it, opened in a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs

from eventchain.cli import main
from tests.seed_views import build_seed_views

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHARTS = ("chart-funnel", "chart-ctre", "chart-heatmap")


def eventchain(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (``make test`` installs it, with a CJK font, when missing and root)."""
    found = shutil.which("chromium")
    if found is None:
        pytest.skip(
            "CHROMIUM NOT AVAILABLE (make test installs it as root with apt-get): "
            "the report was NOT checked in a browser"
        )
    return found


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir whose analyst snapshot holds the seed scenarios' read models."""
    work = tmp_path_factory.mktemp("report")
    data = work / "data"
    data.mkdir()
    build_seed_views(work).rename(data / "analytics.duckdb")
    yield data


# Headless, offline, nothing phoning home: shared with the workspace's browser tests.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def customers_owned_by(snapshot: Path, agent: str) -> set[str]:
    with duckdb.connect(str(snapshot), read_only=True) as connection:
        rows = connection.execute(
            "SELECT CAST(customer_id AS VARCHAR), owner_agent_id FROM customer_360"
        ).fetchall()
    return {customer for customer, owner in rows if owner == agent}


def page_without_plotly_js(html: str) -> str:
    return html.replace(get_plotlyjs(), "")


def test_the_demo_report_draws_every_chart_in_headless_chromium_without_errors(
    data_dir: Path, chromium: str, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = eventchain(data_dir, "report", "--html", str(out), "--as", "exec")
    assert 0 == result.returncode, result.stderr
    html = out.read_text(encoding="utf-8")
    assert 1 == html.count(get_plotlyjs())  # inlined once for the whole page
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?https?:", html)  # nothing to fetch

    dom = run_chromium(chromium, tmp_path / "profile", "--dump-dom", out.as_uri())
    screenshot = tmp_path / "report.png"
    shot = run_chromium(
        chromium,
        tmp_path / "profile-shot",
        "--window-size=1400,2600",
        f"--screenshot={screenshot}",
        out.as_uri(),
    )

    assert 0 == dom.returncode, dom.stderr[-2000:]
    for chart in CHARTS:  # plotly replaced each placeholder div with its drawn SVG
        drawn = dom.stdout.split(f'id="{chart}"', 1)[1][:20000]
        assert 'class="main-svg"' in drawn, f"{chart} was not drawn"
    assert dom.stdout.count('class="main-svg"') >= len(CHARTS)
    assert re.search(r'class="[^"]*\bbars\b', dom.stdout)  # bar traces have marks
    assert "<image" in dom.stdout.split('id="chart-heatmap"', 1)[1]  # heatmap cells rendered
    assert [] == console_messages(dom.stderr) + console_messages(shot.stderr)
    assert screenshot.stat().st_size > 50_000


def test_a_sales_reps_report_contains_only_that_reps_customers(data_dir: Path, tmp_path: Path) -> None:
    snapshot = data_dir / "analytics.duckdb"
    wang = customers_owned_by(snapshot, "a-wang")
    everyone_else = customers_owned_by(snapshot, "a-li") | customers_owned_by(snapshot, "a-zhang")
    assert wang and everyone_else

    sales = eventchain(data_dir, "report", "--html", str(tmp_path / "wang.html"), "--as", "sales:a-wang")
    full = eventchain(data_dir, "report", "--html", str(tmp_path / "exec.html"), "--as", "exec")

    assert 0 == sales.returncode, sales.stderr
    assert f"{len(wang)} customers visible to sales:a-wang" in sales.stdout
    page = page_without_plotly_js((tmp_path / "wang.html").read_text(encoding="utf-8"))
    shown = set(UUID_PATTERN.findall(page))
    assert shown and shown <= wang
    assert not re.search(r"\ba-(li|zhang|chen)\b", page)
    exec_page = page_without_plotly_js((tmp_path / "exec.html").read_text(encoding="utf-8"))
    assert set(UUID_PATTERN.findall(exec_page)) & everyone_else  # the exec report does show them
    assert 0 == full.returncode


def test_a_period_keeps_only_the_leads_that_arrived_in_it(data_dir: Path, tmp_path: Path) -> None:
    everything = eventchain(data_dir, "report", "--html", str(tmp_path / "all.html"), "--as", "exec")
    period = eventchain(
        data_dir,
        "report",
        "--html",
        str(tmp_path / "week.html"),
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-04",
        "--as",
        "exec",
    )
    empty = eventchain(
        data_dir, "report", "--html", str(tmp_path / "none.html"), "--from", "2030-01-01", "--as", "exec"
    )

    leads = [int(re.search(r"(\d+) leads\)", r.stdout).group(1)) for r in (everything, period, empty)]  # type: ignore[union-attr]
    assert 0 < leads[1] < leads[0]
    assert 0 == leads[2]
    assert "no data for this role and period" in (tmp_path / "none.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "boss"], "role 'boss': expected sales:<agent>, director:<agent> or exec"),
        (["--from", "yesterday", "--as", "exec"], "'yesterday' is not an ISO date or date-time"),
        (["--from", "2026-03-05", "--to", "2026-03-01", "--as", "exec"], "--from must be before --to"),
    ],
)
def test_a_wrong_report_argument_is_one_line_and_a_non_zero_exit(
    data_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = eventchain(data_dir, "report", "--html", str(tmp_path / "r.html"), *args)

    assert 2 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines())
    assert message in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_a_report_without_a_snapshot_says_what_to_run_first(tmp_path: Path) -> None:
    result = eventchain(tmp_path / "empty", "report", "--html", str(tmp_path / "r.html"), "--as", "exec")

    assert 1 == result.returncode
    assert [
        f"error: no analyst snapshot at {tmp_path / 'empty' / 'analytics.duckdb'}: run `eventchain "
        "demo` or `eventchain serve` first (or pass --snapshot-path)"
    ] == result.stderr.splitlines()


def test_a_period_without_an_offset_is_china_standard_time(data_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()

    def leads_from(moment: str) -> str:
        result = runner.invoke(
            main,
            [
                *("--data-dir", str(data_dir), "report", "--html", str(tmp_path / "r.html")),
                *("--from", moment, "--as", "exec"),
            ],
            prog_name="eventchain",
        )
        assert 0 == result.exit_code, result.output
        return result.output.rsplit(",", 1)[1]

    assert leads_from("2026-03-02T09:00") == leads_from("2026-03-02T01:00+00:00")
    assert leads_from("2026-03-02T09:00") != leads_from("2026-03-02T09:00+00:00")  # 8 h later
