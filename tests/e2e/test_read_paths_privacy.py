"""Read paths as an auditor checks them: private files, the KEK checked on every read of
personal data, every read recorded (and alarming ones alerted), roles on duplicates and
what-if."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import nats
import pytest

from adapters.crypto import new_kek
from adapters.local_servers import LocalNats
from tests.cli import eventchain
from tests.pty_cli import eventchain_tty


def demo_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTCHAIN_")}
    return {**env, "EVENTCHAIN_KEK": (data_dir / "demo.kek").read_text(), **extra}


def run(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return eventchain(data_dir, *args, env=demo_env(data_dir, **extra))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reads") / "data"
    result = eventchain(directory, "demo", "--customers", "30")
    assert result.returncode == 0, result.stderr
    return directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_files_commands_create_are_private_unless_a_umask_is_configured(
    demo_dir: Path, tmp_path: Path
) -> None:
    assert run(demo_dir, "report", "--as", "exec", "--html", str(demo_dir / "mine.html")).returncode == 0
    assert run(demo_dir, "export", "--as", "exec", "--out", str(demo_dir / "mine.csv")).returncode == 0
    for name in ("events.db", "views.duckdb", "analytics.duckdb", "mine.html", "mine.csv", "demo.kek"):
        assert mode(demo_dir / name) == 0o600, name
    assert mode(demo_dir) == 0o700 and mode(demo_dir / "nats") == 0o700
    shared = run(
        demo_dir, "export", "--as", "exec", "--out", str(tmp_path / "group.csv"), EVENTCHAIN_UMASK="027"
    )
    assert shared.returncode == 0 and mode(tmp_path / "group.csv") == 0o640
    bad = run(demo_dir, "export", "--as", "exec", EVENTCHAIN_UMASK="rw-r")
    assert bad.returncode == 2 and "EVENTCHAIN_UMASK" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("customers", "--as", "exec"),
        ("customer", "phone:13800138000", "--as", "exec"),
        ("export", "--as", "exec"),
        ("report", "--as", "exec", "--html", "r.html"),
        ("history", "phone:13800138000", "--as", "exec"),
        ("duplicates", "--as", "exec"),
        ("replay", "what-if", "--rules", "1", "--as", "exec"),
        ("audit", "reads"),
    ],
)
def test_every_read_of_personal_data_refuses_a_missing_or_wrong_key(
    demo_dir: Path, args: tuple[str, ...]
) -> None:
    missing = eventchain(demo_dir, *args)
    wrong = eventchain(demo_dir, *args, kek=new_kek())
    for result, words in ((missing, "EVENTCHAIN_KEK is not set"), (wrong, "does not match")):
        assert result.returncode == 1 and words in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "李雷" not in result.stdout


def test_each_read_is_recorded_with_who_role_what_and_rows_and_listed_by_audit_reads(
    demo_dir: Path, tmp_path: Path
) -> None:
    reads = [
        ("customers", "--as", "sales:a-wang"),
        ("customer", "phone:13800138000", "--as", "exec"),
        ("export", "--as", "director:d-qian", "--out", str(tmp_path / "team.csv")),
        ("report", "--html", str(tmp_path / "r.html"), "--as", "sales:a-li"),
        ("history", "phone:13800138000", "--as", "exec"),
        ("duplicates", "--as", "exec"),
        ("replay", "what-if", "--rules", "1", "--as", "sales:a-li"),
    ]
    for args in reads:
        result = run(demo_dir, *args, "--actor", "auditor-7", EVENTCHAIN_READ_ALERT_HOURS="off")
        assert result.returncode == 0, (args, result.stderr)
    team_rows = sum(1 for _ in csv.reader(io.StringIO((tmp_path / "team.csv").read_text("utf-8-sig")))) - 1
    piped = run(demo_dir, "audit", "reads", "--by", "auditor-7")
    assert piped.returncode == 0 and piped.stderr.strip() == "7 reads"
    lines = piped.stdout.splitlines()
    assert [line.split("  ")[4] for line in lines] == [
        "customers",
        "customer",
        "export",
        "report",
        "history",
        "duplicates",
        "what-if",
    ]
    assert all(line.split("  ")[1] == "auditor-7" and line.split("  ")[3] == "cli" for line in lines)
    assert lines[2].split("  ")[2] == "director:d-qian" and lines[2].endswith(f"  {team_rows} rows")
    assert "13800138000" not in piped.stdout  # the subject is the customer's id, never the phone typed
    code, shown = eventchain_tty(demo_dir, "audit", "reads", "--by", "auditor-7", env=demo_env(demo_dir))
    assert code == 0 and "7 reads" in shown and shown.count("auditor-7") == 7


def test_a_bulk_export_over_the_limit_alerts_on_the_notification_subjects(
    demo_dir: Path, local_nats: LocalNats
) -> None:
    received: list[tuple[str, bytes]] = []
    subscribed, done = threading.Event(), threading.Event()

    async def listen() -> None:
        nc = await nats.connect(local_nats.url)

        async def got(message: nats.aio.msg.Msg) -> None:
            received.append((message.subject, message.data))
            done.set()

        await nc.subscribe("notifications.read_alert.>", cb=got)
        await nc.flush()
        subscribed.set()
        while not done.is_set():
            await asyncio.sleep(0.05)
        await nc.close()

    listener = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
    listener.start()
    assert subscribed.wait(20)
    result = run(
        demo_dir,
        "export",
        "--as",
        "exec",
        "--actor",
        "leaving.rep",
        EVENTCHAIN_NATS_URL=local_nats.url,
        EVENTCHAIN_READ_ALERT_ROWS="5",
        EVENTCHAIN_READ_ALERT_HOURS="off",
    )
    assert result.returncode == 0 and "read alert for leaving.rep" in result.stderr
    assert done.wait(20)
    listener.join(20)
    [(subject, body)] = received
    alert = json.loads(body)
    assert subject == "notifications.read_alert.leaving_rep"
    assert (alert["actor"], alert["action"], alert["role"]) == ("leaving.rep", "export", "exec")
    assert alert["rows"] > 5 and "limit 5" in alert["reasons"][0]
    quiet = run(demo_dir, "export", "--as", "exec", "--actor", "someone", EVENTCHAIN_READ_ALERT_HOURS="off")
    assert quiet.returncode == 0 and "read alert" not in quiet.stderr


def _visible(demo_dir: Path, role: str) -> set[str]:
    result = run(demo_dir, "export", "--as", role)
    return {row["customer_id"] for row in csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff")))}


def test_duplicates_and_what_if_show_a_role_only_its_own_customers(demo_dir: Path) -> None:
    def pairs(role: str) -> list[tuple[str, str]]:
        result = run(demo_dir, "duplicates", "--as", role, "--limit", "1000", "--json")
        assert result.returncode == 0, result.stderr
        return [(pair["customer_a"], pair["customer_b"]) for pair in json.loads(result.stdout)]

    everyone = pairs("exec")
    for role in ("sales:a-li", "director:d-qian"):
        mine = _visible(demo_dir, role)
        shown = pairs(role)
        assert all(a in mine and b in mine for a, b in shown), role
        assert set(shown) == {(a, b) for a, b in everyone if a in mine and b in mine}
    assert any(a not in _visible(demo_dir, "sales:a-li") for a, _ in everyone)  # so filtering removed some
    leads = {
        role: json.loads(run(demo_dir, "replay", "what-if", "--rules", "1", "--json", "--as", role).stdout)[
            "leads"
        ]
        for role in ("exec", "sales:a-li")
    }
    assert 0 < leads["sales:a-li"] < leads["exec"]
