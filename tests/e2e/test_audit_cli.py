"""Corrections are events; history shows who did what and when."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb

from tests.cli import eventchain

ROOT = Path(__file__).resolve().parents[2]


def test_a_correction_is_an_event_in_the_history_and_reaches_the_views(tmp_path: Path) -> None:
    assert eventchain(tmp_path, "ingest", str(ROOT / "examples" / "touchpoints.jsonl")).returncode == 0
    corrected = eventchain(
        tmp_path,
        "correct",
        "phone:13800138000",
        "company",
        "杭州某智能硬件股份有限公司",
        "--reason",
        "renamed in 2026",
        "--actor",
        "a-wang",
    )
    assert corrected.returncode == 0, corrected.stderr
    history = eventchain(tmp_path, "history", "phone:13800138000", "--as", "exec").stdout.splitlines()
    assert any(
        "Corrected" in line and "actor=a-wang" in line and "renamed in 2026" in line for line in history
    )
    assert any("TouchpointRecorded" in line for line in history)
    assert eventchain(tmp_path, "replay", "rebuild").returncode == 0
    with duckdb.connect(str(tmp_path / "analytics.duckdb"), read_only=True) as connection:
        company = connection.execute(
            "SELECT company FROM customer_360 WHERE list_contains(identities, 'phone:+8613800138000')"
        ).fetchone()
    assert company == ("杭州某智能硬件股份有限公司",)
    refused = eventchain(
        tmp_path, "correct", "phone:13800138000", "company", "x", "--reason", " ", "--actor", "a"
    )
    assert refused.returncode == 1 and "reason" in refused.stderr
    hidden = eventchain(tmp_path, "history", "phone:13800138000", "--as", "sales:a-nobody")
    assert hidden.returncode == 1 and "not found" in hidden.stderr


def test_history_on_an_encrypted_store_shows_the_corrected_value(tmp_path: Path) -> None:
    """Regression: the history read the sealed stored JSON and failed with KeyError: 'value'."""
    from adapters.crypto import new_kek

    kek = new_kek()
    ingested = eventchain(tmp_path, "ingest", str(ROOT / "examples" / "touchpoints.jsonl"), kek=kek)
    assert ingested.returncode == 0, ingested.stderr
    corrected = eventchain(
        tmp_path,
        "correct",
        "phone:13800138000",
        "city",
        "杭州市",
        "--reason",
        "typo",
        "--actor",
        "a-wang",
        kek=kek,
    )
    assert corrected.returncode == 0, corrected.stderr

    history = eventchain(tmp_path, "history", "phone:13800138000", "--as", "exec", kek=kek)

    assert history.returncode == 0, history.stderr
    assert any(
        "Corrected" in line and "city := '杭州市' (typo)" in line for line in history.stdout.splitlines()
    ), history.stdout
    with sqlite3.connect(tmp_path / "events.db") as store:  # and the value is sealed at rest
        states = [
            row[0] for row in store.execute("SELECT state FROM stored_events WHERE topic LIKE '%Corrected'")
        ]
    assert states and all("杭州市".encode() not in state for state in states)
