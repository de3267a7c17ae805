"""CLI conventions (issue 17): --version, global options anywhere, env vars in --help, whole help
for bare groups, --json and --format csv on the read commands, full values through a pipe,
short id prefixes, names next to ids, NO_COLOR — run piped and under a pseudo-terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from eventchain.cli import main
from tests.cli import eventchain
from tests.e2e.test_cli_help import COMMANDS
from tests.pty_cli import eventchain_tty


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


GROUPS = [path for path in COMMANDS if isinstance(command_at(path), click.Group)]
ENVIRONMENT = (
    "EVENTCHAIN_DATA_DIR",
    "EVENTCHAIN_STORE_URL",
    "EVENTCHAIN_NATS_URL",
    "EVENTCHAIN_VIEWS_PATH",
    "EVENTCHAIN_SNAPSHOT_PATH",
    "EVENTCHAIN_KEK",
    "EVENTCHAIN_WEB_ADDR",
    "EVENTCHAIN_METRICS_ADDR",
    "EVENTCHAIN_TIMEZONE",
)
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def demo_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTCHAIN_") and k != "NO_COLOR"}
    return {**env, "EVENTCHAIN_KEK": (data_dir / "demo.kek").read_text(), **extra}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("conventions") / "data"
    result = eventchain(directory, "demo", "--customers", "30")
    assert result.returncode == 0, result.stderr
    return directory


def piped(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``eventchain ARGS…`` exactly as typed (no --data-dir put in front)."""
    return subprocess.run(
        [sys.executable, "-m", "eventchain", *args], capture_output=True, text=True, timeout=240, env=env
    )


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = piped("--version")
    assert (0, f"eventchain {version('eventchain')}") == (result.returncode, result.stdout.strip())


@pytest.mark.parametrize("path", GROUPS, ids=lambda path: " ".join(path) or "eventchain")
def test_a_bare_group_prints_its_whole_help_on_many_lines(path: tuple[str, ...], tmp_path: Path) -> None:
    result = piped("--data-dir", str(tmp_path), *path)

    lines = (result.stdout + result.stderr).splitlines()
    assert f"Usage: eventchain {' '.join(path)}".rstrip() in lines[0]
    assert "Commands:" in lines and len(lines) > 8
    assert "Traceback" not in result.stderr


def test_the_main_help_names_every_environment_variable_and_completion() -> None:
    result = piped("--help")
    for variable in ENVIRONMENT:
        assert variable in result.stdout, variable
    assert "_EVENTCHAIN_COMPLETE=bash_source" in result.stdout


@pytest.mark.parametrize("path", [p for p in COMMANDS if p], ids=" ".join)
def test_a_global_option_after_any_command_is_taken_as_the_global_one(
    path: tuple[str, ...], tmp_path: Path
) -> None:
    result = piped(*path, "--data-dir", str(tmp_path), "--help")

    assert 0 == result.returncode, result.stderr
    assert "No such option" not in result.stderr


def test_global_options_after_the_command_point_it_at_that_data_dir(demo_dir: Path) -> None:
    env = demo_env(demo_dir)
    after = piped("status", "--data-dir", str(demo_dir), "--json", env=env)
    before = piped("--data-dir", str(demo_dir), "status", "--json", env=env)
    assert json.loads(after.stdout)["store_position"] == json.loads(before.stdout)["store_position"] > 0
    history = piped("rules", "history", f"--data-dir={demo_dir}", env=env)
    assert 0 == history.returncode and history.stdout.startswith("v1")


READS = [
    ("customers", "--as", "exec"),
    ("duplicates", "--as", "exec"),
    ("status",),
    ("audit", "dlq"),
]


@pytest.mark.parametrize("read", READS, ids=" ".join)
def test_every_read_command_prints_json_csv_and_full_tab_separated_values_when_piped(
    read: tuple[str, ...], demo_dir: Path
) -> None:
    env = demo_env(demo_dir, EVENTCHAIN_READ_ALERT_HOURS="off")
    as_json = eventchain(demo_dir, *read, "--json", env=env)
    as_csv = eventchain(demo_dir, *read, "--format", "csv", env=env)
    as_tsv = eventchain(demo_dir, *read, env=env)

    expected = 1 if read[0] == "status" else 0  # status: 1, serve is stopped
    assert as_json.returncode == expected and "Traceback" not in as_json.stderr, as_json.stderr
    json.loads(as_json.stdout)
    header = next(csv.reader(io.StringIO(as_csv.stdout)))
    lines = as_tsv.stdout.splitlines()
    assert lines[0].split("\t") == header
    assert all(len(line.split("\t")) == len(header) for line in lines)
    assert "…" not in as_tsv.stdout  # nothing shortened
    code, shown = eventchain_tty(demo_dir, *read, env=env)
    assert code == expected and "\t" not in shown and "Traceback" not in shown


@pytest.mark.parametrize("read", [("team", "list"), ("rules", "history"), ("audit", "reads")], ids=" ".join)
def test_listing_commands_print_json_and_csv_on_request(read: tuple[str, ...], demo_dir: Path) -> None:
    env = demo_env(demo_dir)
    as_json = json.loads(eventchain(demo_dir, *read, "--json", env=env).stdout)
    header, *rows = list(
        csv.reader(io.StringIO(eventchain(demo_dir, *read, "--format", "csv", env=env).stdout))
    )
    assert as_json and len(as_json) == len(rows) and list(as_json[0]) == header
    times = [v for row in as_json for k, v in row.items() if k.endswith("_at")]
    assert all(str(t).endswith("+08:00") for t in times)


def test_piped_customers_carry_whole_ids_and_names(demo_dir: Path) -> None:
    result = eventchain(demo_dir, "customers", "--as", "exec", env=demo_env(demo_dir))
    header, *rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert ["customer_id", "display_name"] == header[:2]
    assert rows and all(re.fullmatch(r"[0-9a-f-]{36}", row[0]) for row in rows)
    assert any(row[1] == "李雷" for row in rows)
    assert re.search(r"^\d+ customers visible to exec$", result.stderr, re.M)


def test_a_unique_id_prefix_finds_the_customer_and_an_ambiguous_one_says_so(demo_dir: Path) -> None:
    env = demo_env(demo_dir)
    whole = json.loads(
        eventchain(demo_dir, "customer", "phone:13800138000", "--as", "exec", "--json", env=env).stdout
    )
    customer_id = whole["profile"]["customer_id"]

    by_prefix = eventchain(demo_dir, "customer", customer_id[:8], "--as", "exec", "--json", env=env)

    assert 0 == by_prefix.returncode, by_prefix.stderr
    assert customer_id == json.loads(by_prefix.stdout)["profile"]["customer_id"]
    ids = [
        row.split("\t")[0]
        for row in eventchain(demo_dir, "customers", "--as", "exec", env=env).stdout.splitlines()[1:]
    ]
    shared = next((a[:n] for n in range(4, 8) for a in ids for b in ids if a != b and a[:n] == b[:n]), None)
    if shared is not None:  # the demo's ids happen to share a 4+ character prefix
        ambiguous = eventchain(demo_dir, "customer", shared, "--as", "exec", env=env)
        assert 1 == ambiguous.returncode and "give more characters" in ambiguous.stderr


def test_duplicates_show_names_and_companies_next_to_the_ids(demo_dir: Path) -> None:
    result = eventchain(demo_dir, "duplicates", "--as", "exec", "--json", env=demo_env(demo_dir))
    pairs = json.loads(result.stdout)
    assert pairs, "the demo has duplicate candidates"
    assert all(
        {"customer_a", "name_a", "company_a", "customer_b", "name_b", "company_b"} <= set(p) for p in pairs
    )
    assert re.search(r"^\d+ candidate pairs? \(\d+ shown\)$", result.stderr, re.M)


def test_no_color_leaves_colour_codes_out_of_a_terminal(demo_dir: Path) -> None:
    colours = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7]|4[0-8]|10[0-7])(?:;[0-9;]*)?m")
    for read in (("customers", "--as", "exec"), ("status",), ("team", "list")):
        _, plain = eventchain_tty(demo_dir, *read, env=demo_env(demo_dir, NO_COLOR="1"))
        assert not colours.search(plain), read
        assert "Traceback" not in plain


@pytest.mark.parametrize("command", [("team", "list"), ("audit", "reads"), ("rules", "history")])
def test_a_reader_that_goes_away_ends_the_command_quietly(demo_dir: Path, command: tuple[str, ...]) -> None:
    """`eventchain … | head -1`: once the reader has closed the pipe, the command's next
    write fails; it stops with exit 0 and says nothing (no 'error: BrokenPipeError')."""
    env = {**os.environ, "EVENTCHAIN_KEK": (demo_dir / "demo.kek").read_text().strip()}
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the command writes its first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "eventchain", "--data-dir", str(demo_dir), *command],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=240,
            env=env,
        )
    finally:
        os.close(writer)
    assert 0 == done.returncode, done.stderr
    assert not re.search(r"error|Broken|Traceback", done.stderr), done.stderr
