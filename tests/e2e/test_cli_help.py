"""Every command explains itself with an example, and a wrong argument is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from eventchain.cli import main


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = command_paths(main)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "eventchain")
def test_every_command_has_help_with_an_example(path: tuple[str, ...], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), *path, "--help"], prog_name="eventchain")

    assert 0 == result.exit_code, result.output
    assert f"Usage: eventchain {' '.join(path)}".rstrip() in result.output
    assert "Example" in result.output, f"`eventchain {' '.join(path)} --help` shows no example"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "eventchain")
def test_an_unknown_option_is_one_line_naming_it_and_a_non_zero_exit(
    path: tuple[str, ...], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path), *path, "--no-such-option"], prog_name="eventchain"
    )

    assert 2 == result.exit_code
    assert 1 == len(result.stderr.strip().splitlines()), result.stderr
    assert "No such option '--no-such-option'" in result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_command_is_one_line_from_the_installed_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eventchain", "--data-dir", str(tmp_path), "reprot"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert 2 == result.returncode
    [line] = result.stderr.splitlines()
    assert line.startswith("eventchain: No such command 'reprot'.")
    assert "'report'" in line and line.endswith("(see eventchain --help)")
