"""`eventchain dlq list|show|retry|drop` on a real nats-server, with `serve` dead-lettering
(SPEC §9: dead letters can be listed, retried and dropped; every action is audited)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.crypto import new_kek
from adapters.local_servers import LocalNats
from adapters.nats import IngestConfig, wait_until
from application.event_chain import EventChain
from tests.cli import eventchain
from tests.nats_support import publish_raw, recorded_touchpoint_ids, stream_messages
from tests.pty_cli import eventchain_tty

pytestmark = pytest.mark.nats

KEK = new_kek()


def envelope(touchpoint_id: str, occurred_at: datetime, **payload: object) -> dict[str, object]:
    return {
        "touchpoint_id": touchpoint_id,
        "channel": "web_form",
        "occurred_at": occurred_at.isoformat(),
        "direction": "inbound",
        "actor": None,
        "identities": [{"kind": "email", "value": f"{touchpoint_id}@example.cn"}],
        "contact": {"name": "王芳", "company": "成都某医疗设备有限公司"},
        "payload": {"form_id": "contact-us", **payload},
    }


def encoded(document: dict[str, object]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def cli_env(nats: LocalNats, duplicate_window: str) -> dict[str, str]:
    return {
        **os.environ,
        "EVENTCHAIN_NATS_URL": nats.url,
        "EVENTCHAIN_KEK": KEK,
        "EVENTCHAIN_DUPLICATE_WINDOW_S": duplicate_window,
    }


def dlq(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return eventchain(data_dir, "dlq", *args, kek=KEK, env=env)


def listed(data_dir: Path, env: dict[str, str], *filters: str) -> list[dict[str, object]]:
    result = dlq(data_dir, env, "list", "--json", *filters)
    assert 0 == result.returncode, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def serve_ingest(data_dir: Path, env: dict[str, str], *global_options: str) -> subprocess.Popen[str]:
    listed(data_dir, env)  # the store is created (and migrated) before two processes open it at once
    command = [sys.executable, "-m", "eventchain", "--data-dir", str(data_dir), *global_options]
    return subprocess.Popen(
        [*command, "serve", "--only", "ingest", "--metrics-addr", "off", "--ack-wait", "2"],
        env=env,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_dead_letters_are_listed_shown_fixed_retried_and_dropped_with_an_audit_trail(
    local_nats: LocalNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTCHAIN_DUPLICATE_WINDOW_S", "1")
    env = cli_env(local_nats, "1")
    now = datetime.now(UTC)
    wrong_type = encoded(envelope("wf-dlq-type", now - timedelta(hours=1), form_id=123))
    too_old = encoded(envelope("wf-dlq-old", now - timedelta(days=20)))
    douyin = encoded(
        {
            **envelope("dy-dlq-1", now - timedelta(hours=2)),
            "channel": "douyin_dm",
            "payload": {"text": "在吗"},
        }
    )
    publish_raw(
        local_nats.url,
        IngestConfig(),
        [
            ("web_form", wrong_type, "wf-dlq-type"),
            ("web_form", too_old, "wf-dlq-old"),
            ("douyin_dm", douyin, "dy-dlq-1"),
        ],
    )
    worker = serve_ingest(tmp_path, env, "--max-age-days", "10")  # the old one is rejected too
    try:
        assert wait_until(lambda: len(listed(tmp_path, env)) == 3, timeout=60)
    finally:
        stop(worker)

    letters = {str(letter["msg_id"]): letter for letter in listed(tmp_path, env)}
    assert {"wf-dlq-type", "wf-dlq-old", "dy-dlq-1"} == set(letters)
    assert "$.payload.form_id" == letters["wf-dlq-type"]["path"]
    assert "douyin_dm" == letters["dy-dlq-1"]["channel"]
    assert ["dy-dlq-1"] == [x["msg_id"] for x in listed(tmp_path, env, "--channel", "douyin_dm")]
    assert ["wf-dlq-old"] == [x["msg_id"] for x in listed(tmp_path, env, "--reason", "10 DAYS")]
    future = (now + timedelta(days=1)).isoformat()
    assert [] == listed(tmp_path, env, "--since", future)
    assert 3 == len(listed(tmp_path, env, "--until", future))
    assert str(letters["wf-dlq-type"]["stored_at"]).endswith("+08:00")  # China time by default

    type_seq = str(letters["wf-dlq-type"]["sequence"])
    shown = dlq(tmp_path, env, "show", type_seq, "--json")
    assert 0 == shown.returncode, shown.stderr
    details = json.loads(shown.stdout)
    assert "touchpoints.web_form" == details["original_subject"]
    assert details["reason"] and wrong_type.decode() == details["body"]
    body = subprocess.run(
        [sys.executable, "-m", "eventchain", "--data-dir", str(tmp_path), "dlq", "show", type_seq, "--body"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert wrong_type == body.stdout  # the original bytes, exactly

    fix = tmp_path / "fix.json"
    fix.write_text(body.stdout.decode().replace('"form_id": 123', '"form_id": "contact-us"'))
    still_bad = tmp_path / "still-bad.json"
    still_bad.write_bytes(body.stdout)
    refused = dlq(tmp_path, env, "retry", type_seq, "--fix", str(still_bad))
    assert 1 == refused.returncode
    assert "$.payload.form_id" in refused.stderr and 1 == len(refused.stderr.splitlines())

    fixed = dlq(tmp_path, env, "retry", type_seq, "--fix", str(fix), "--note", "form_id was a number")
    assert 0 == fixed.returncode, fixed.stderr
    assert "wf-dlq-type" in fixed.stdout and "1 dead letter retried" in fixed.stderr
    as_was = dlq(tmp_path, env, "retry", "--reason", "days before", "--actor", "ops-li")
    assert 0 == as_was.returncode, as_was.stderr
    assert ["dy-dlq-1"] == [x["msg_id"] for x in listed(tmp_path, env)]
    unnamed = dlq(tmp_path, env, "drop", "--note", "nothing named")
    assert 2 == unnamed.returncode and "--all" in unnamed.stderr
    dropped = dlq(tmp_path, env, "drop", "--channel", "douyin_dm", "--note", "integrator test message")
    assert 0 == dropped.returncode, dropped.stderr
    assert [] == listed(tmp_path, env)

    republished = {
        h.get("Nats-Msg-Id"): data for _, data, h in stream_messages(local_nats.url, "TOUCHPOINTS")
    }
    assert too_old == republished["wf-dlq-old"]  # the original bytes, the original Nats-Msg-Id
    worker = serve_ingest(tmp_path, env)  # default limits: both retried messages are recorded
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    try:
        assert wait_until(lambda: {"wf-dlq-type", "wf-dlq-old"} <= set(recorded_touchpoint_ids(app)), 60)
    finally:
        stop(worker)
    assert [] == listed(tmp_path, env)

    audit = eventchain(tmp_path, "audit", "dlq", "--json", kek=KEK, env=env)
    assert 0 == audit.returncode, audit.stderr
    actions = {(a["action"], a["msg_id"]): a for a in json.loads(audit.stdout)}
    assert {("retried", "wf-dlq-type"), ("retried", "wf-dlq-old"), ("dropped", "dy-dlq-1")} == set(actions)
    assert (
        hashlib.sha256(fix.read_bytes().strip()).hexdigest()
        == actions["retried", "wf-dlq-type"]["fix_sha256"]
    )
    assert "" == actions["retried", "wf-dlq-old"]["fix_sha256"]
    assert "ops-li" == actions["retried", "wf-dlq-old"]["actor"]
    assert "integrator test message" == actions["dropped", "dy-dlq-1"]["note"]
    reads = eventchain(tmp_path, "audit", "reads", kek=KEK, env=env)
    assert "dlq show" in reads.stdout and "dlq list" in reads.stdout


def test_a_retry_inside_the_duplicate_window_keeps_the_dead_letter_and_says_when(
    local_nats: LocalNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTCHAIN_DUPLICATE_WINDOW_S", "600")
    env = cli_env(local_nats, "600")
    bad = encoded(envelope("wf-dlq-window", datetime.now(UTC), form_id=7))
    publish_raw(local_nats.url, IngestConfig(), [("web_form", bad, "wf-dlq-window")])
    worker = serve_ingest(tmp_path, env)
    try:
        assert wait_until(lambda: len(listed(tmp_path, env)) == 1, timeout=60)
    finally:
        stop(worker)
    [letter] = listed(tmp_path, env)

    result = dlq(tmp_path, env, "retry", str(letter["sequence"]))

    assert 1 == result.returncode
    assert "duplicate window" in result.stderr and "retry after" in result.stderr
    assert [letter] == listed(tmp_path, env)


def test_dlq_list_on_a_terminal_is_a_table_and_piped_is_tab_separated(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    env = cli_env(local_nats, "1")
    bad = encoded(envelope("wf-dlq-tty", datetime.now(UTC), form_id=False))
    publish_raw(local_nats.url, IngestConfig(), [("web_form", bad, "wf-dlq-tty")])
    worker = serve_ingest(tmp_path, env)
    try:
        assert wait_until(lambda: len(listed(tmp_path, env)) == 1, timeout=60)
    finally:
        stop(worker)

    piped = dlq(tmp_path, env, "list")
    header, row = piped.stdout.splitlines()
    assert "sequence\tstored_at\tchannel\tmsg_id\tdeliveries\tpath\treason" == header
    assert "wf-dlq-tty" == row.split("\t")[3] and "$.payload.form_id" == row.split("\t")[5]
    code, shown = eventchain_tty(tmp_path, "dlq", "list", env=env)
    assert 0 == code, shown
    assert "wf-dlq-tty" in shown and "1 dead letter" in shown and "\t" not in shown
