"""Erasure and the key-encryption key, as an operator meets them."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from adapters.crypto import new_kek
from tests.cli import eventchain

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
