"""The README's five-minute tour, run as written after `make run` (issue 17).

The commands are read from README.md, so the docs and this test cannot drift. They run in
one bash (``set -euo pipefail``: any failing line fails the tour) in a temporary copy of the
repository's ``examples/`` with ``.venv`` linked to this one, after ``eventchain demo`` — what
`make run` runs once it has installed the package. Only the ports of the web workspace and
the metrics endpoint are moved off their defaults (environment variables, not edits), so the
tour never meets another service on this machine.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.local_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
MARK = "@@@ "

pytestmark = pytest.mark.nats


def tour_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## A five-minute tour\n.*?^```sh\n(.*?)^```", readme, re.S | re.M)
    assert found, "README.md has no ```sh block under '## A five-minute tour'"
    return [line for line in found.group(1).splitlines() if line.strip()]


def command_of(line: str) -> str:
    return re.split(r"\s+# ", line)[0].strip()


def last(out: dict[str, str]) -> str:
    """The line the tour stopped at, and what it printed."""
    command = list(out)[-1] if out else "(none)"
    return f"stopped at: {command}\n{out.get(command, '')}"


def run_tour(clone: Path, env: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Runs every tour line in one bash; returns the exit code and each line's output."""
    script = ["set -euo pipefail"]
    for line in tour_lines():
        script += [f"printf '%s\\n' {shlex.quote(MARK + command_of(line))}", line]
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    outputs: dict[str, str] = {}
    current = ""
    for text in result.stdout.splitlines():
        if text.startswith(MARK):
            current = text.removeprefix(MARK)
            outputs[current] = ""
        else:
            outputs[current] = outputs.get(current, "") + text + "\n"
    return result.returncode, outputs


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """What `make run` leaves: the examples, the venv, and ./data made by `eventchain demo`."""
    work = tmp_path / "eventchain"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    (work / ".venv").symlink_to(ROOT / ".venv")
    return work


def tour_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTCHAIN_")}
    env["EVENTCHAIN_WEB_ADDR"] = f"127.0.0.1:{free_port()}"
    env["EVENTCHAIN_METRICS_ADDR"] = f"127.0.0.1:{free_port()}"
    return env


def test_the_readme_tour_works_line_by_line_after_make_run_and_again(clone: Path) -> None:
    env = tour_env()
    demo = subprocess.run(
        [".venv/bin/eventchain", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    assert 0 == demo.returncode, demo.stderr
    assert (clone / "data" / "demo.kek").is_file()

    code, out = run_tour(clone, env)

    assert 0 == code, last(out)
    assert [command_of(line) for line in tour_lines()] == list(out)  # every line ran
    assert "healthy\tTrue" in out["eventchain status --wait 60"]
    assert "1 agent joined" in out["eventchain team join --file examples/team-new.toml"]
    assert "leads replayed" in out["eventchain replay what-if --rules examples/rules-draft.toml --as exec"]
    assert (
        "rules version 2 applied"
        in out['eventchain rules apply examples/rules-draft.toml --note "10-minute SLA, Chengdu weighs more"']
    )
    diff = out["eventchain rules diff 1 2"]
    assert "sla.first_response_minutes: 15 → 10" in diff and "no changes" not in diff
    assert (
        "published 3 touchpoints (0 already in the stream)"
        in out["eventchain publish examples/touchpoints-new.jsonl"]
    )
    assert "李雷" in out["eventchain customer phone:13800138000 --as exec"]
    assert "ctre_hours" in out['duckdb -readonly data/analytics.duckdb "SELECT * FROM ctre"']
    assert "incremental == rebuilt" in out["eventchain replay rebuild ; eventchain replay verify"]
    assert (clone / "report.html").is_file()
    assert "0 dead letters" in out["eventchain dlq list"]

    again_code, again = run_tour(clone, env)  # every line can be run again
    assert 0 == again_code, last(again)
    assert "already on the team unchanged" in again["eventchain team join --file examples/team-new.toml"]
    assert "sla.first_response_minutes: 15 → 10" in again["eventchain rules diff 1 2"]

    wrong_key = subprocess.run(
        [".venv/bin/eventchain", "status"],
        cwd=clone,
        env={
            **env,
            "EVENTCHAIN_KEK": subprocess.check_output(
                [".venv/bin/eventchain", "keygen"], cwd=clone, text=True
            ).strip(),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 1 == wrong_key.returncode
    [line] = wrong_key.stderr.splitlines()
    assert "does not match" in line and "export EVENTCHAIN_KEK=$(cat data/demo.kek)" in line
