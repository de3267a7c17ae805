"""Erasure and the key-encryption key, as an operator meets them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from adapters.crypto import new_kek, parse_kek
from adapters.local_servers import LocalNats
from adapters.nats import wait_until
from application.event_chain import EventChain
from followers.deferred_purge import pending_purges
from tests.cli import eventchain
from tests.nats_support import recorded_touchpoint_ids, stream_messages
from tests.pty_cli import eventchain_tty

ROOT = Path(__file__).resolve().parents[2]


def test_erase_then_views_show_erased_and_missing_or_wrong_keys_are_refused(tmp_path: Path) -> None:
    kek = new_kek()
    assert (
        eventchain(tmp_path, "ingest", str(ROOT / "examples" / "touchpoints.jsonl"), kek=kek).returncode == 0
    )
    missing = eventchain(tmp_path, "status")
    assert missing.returncode == 1 and "EVENTCHAIN_KEK is not set" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    wrong = eventchain(tmp_path, "status", kek=new_kek())
    assert wrong.returncode == 1 and "does not match" in wrong.stderr
    malformed = eventchain(tmp_path, "status", kek="not-a-key")
    assert (
        malformed.returncode == 1
        and "EVENTCHAIN_KEK" in malformed.stderr
        and "Traceback" not in malformed.stderr
    )
    serve = eventchain(tmp_path / "other", "serve", "--only", "project")
    assert serve.returncode == 1 and "EVENTCHAIN_KEK is not set" in serve.stderr
    erased = eventchain(
        tmp_path, "erase", "phone:13800138000", "--reason", "PIPL request 7", "--actor", "dpo-li", kek=kek
    )
    assert erased.returncode == 0, erased.stderr
    customer_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", erased.stdout).group(0)  # type: ignore[union-attr]
    refused = eventchain(
        tmp_path, "correct", customer_id, "name", "李雷", "--reason", "re-add", "--actor", "x", kek=kek
    )
    assert refused.returncode == 1 and "was erased" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert eventchain(tmp_path, "replay", "rebuild", kek=kek).returncode == 0
    with duckdb.connect(str(tmp_path / "analytics.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT display_name, erased FROM customer_360 WHERE erased").fetchall()
        names = {r[0] for r in connection.execute("SELECT display_name FROM customer_360").fetchall()}
    assert rows == [("[erased]", True)] and "李雷" not in names
    exported = eventchain(tmp_path, "export", "--as", "exec", kek=kek)
    assert exported.returncode == 0 and "李雷" not in exported.stdout and "13800138000" not in exported.stdout
    history = eventchain(tmp_path, "history", "phone:13800138000", "--as", "exec", kek=kek)
    assert history.returncode == 1  # the identity was released: nobody holds that phone now
    assert "13800138000" not in (tmp_path / "events.db").read_bytes().decode("utf-8", "replace")


def _touchpoint(touchpoint_id: str, phone: str, name: str, text: str) -> str:
    return json.dumps(
        {
            "touchpoint_id": touchpoint_id,
            "channel": "web_form",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "direction": "inbound",
            "identities": [{"kind": "phone", "value": phone}],
            "contact": {"name": name, "company": "华为"},
            "payload": {"form_id": "contact-us", "fields": {"留言": text}},
        },
        ensure_ascii=False,
    )


def _serve_ingest(data_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), "serve", "--only", "ingest"]
    return subprocess.Popen(
        [*command, "--metrics-addr", "off"], env=env, stderr=subprocess.DEVNULL, text=True
    )


def _stopped(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_a_message_waiting_while_serve_is_stopped_is_recorded_then_purged_by_serve(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    kek = new_kek()
    env = {**os.environ, "EVENTCHAIN_NATS_URL": local_nats.url, "EVENTCHAIN_KEK": kek}
    wang, other_wang = "13911112222", "13533334444"
    first, waiting = tmp_path / "first.jsonl", tmp_path / "waiting.jsonl"
    first.write_text(_touchpoint("a-1", wang, "王伟", "要报价") + "\n")
    waiting.write_text(
        _touchpoint("a-2", wang, "王伟", "还是我")
        + "\n"
        + _touchpoint("b-1", other_wang, "王伟", "另一个王伟")
        + "\n"
    )
    store = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}", kek=parse_kek(kek))
    assert eventchain(tmp_path, "publish", str(first), env=env).returncode == 0
    serve = _serve_ingest(tmp_path, env)
    assert wait_until(lambda: recorded_touchpoint_ids(store) == ["a-1"], 60)
    _stopped(serve)
    assert eventchain(tmp_path, "publish", str(waiting), env=env).returncode == 0  # serve is stopped

    erase = ["erase", f"phone:{wang}", "--reason", "PIPL request 9"]
    dry_run = eventchain(tmp_path, *erase, "--dry-run", env=env)
    in_terminal, shown = eventchain_tty(tmp_path, *erase, "--dry-run", env=env)
    assert in_terminal == 0 and shown.replace("\r\n", "\n").strip() == dry_run.stdout.strip()
    receipt = eventchain(tmp_path, *erase, env=env)
    assert dry_run.returncode == 0 and receipt.returncode == 0, receipt.stderr
    assert "  would be deleted: seq 1 a-1 (touchpoint id)" in dry_run.stdout.splitlines()
    assert "  deleted: seq 1 a-1 (touchpoint id)" in receipt.stdout.splitlines()
    deferred = [line for line in receipt.stdout.splitlines() if line.startswith("  deferred: ")]
    assert deferred == ["  deferred: seq 2 a-2 (identities)"]
    assert deferred == [line for line in dry_run.stdout.splitlines() if line.startswith("  deferred: ")]
    assert "pending until serve purges them" in receipt.stdout and "b-1" not in receipt.stdout
    assert pending_in_status(tmp_path, env) == 1

    serve = _serve_ingest(tmp_path, env)
    try:  # serve records both waiting messages, then purges the erased customer's raw copy
        assert wait_until(lambda: sorted(msg_ids(local_nats.url)) == ["b-1"], 60)
    finally:
        _stopped(serve)
    assert Counter(recorded_touchpoint_ids(store)) == Counter({"a-1": 1, "a-2": 1, "b-1": 1})
    assert store.find_customer(f"phone:{other_wang}").profile_value("name") == "王伟"
    assert pending_purges(store) == [] and pending_in_status(tmp_path, env) == 0


def pending_in_status(data_dir: Path, env: dict[str, str]) -> int:
    status = eventchain(data_dir, "status", "--json", env=env)  # exit 1: serve is not running
    return int(json.loads(status.stdout)["erasure_purges_pending"])


def msg_ids(url: str) -> list[str]:
    return [headers.get("Nats-Msg-Id", "") for _, _, headers in stream_messages(url, "TOUCHPOINTS")]
