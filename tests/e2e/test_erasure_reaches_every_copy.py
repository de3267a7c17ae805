"""Erasure as an auditor tries it (SPEC §7, docs/privacy.md): after `erase` and the documented
procedure (`keys rotate`, the old key-encryption key destroyed), no raw byte of the data dir,
the NATS store or the PostgreSQL data directory (heap and WAL) holds any spelling of the
erased customers' personal data, and no key material left decrypts their events."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.crypto import SEALED, _derive, new_kek, parse_kek
from adapters.local_servers import LocalNats, LocalPostgres
from adapters.nats import IngestConfig
from adapters.store import select_aggregate_events
from application.event_chain import EventChain
from tests.cli import eventchain
from tests.conftest import fresh_database
from tests.nats_support import dead_letters, publish_raw, recorded_touchpoint_ids, running_worker

# Zhao Min comes in through NATS; Zhang Wuji is ingested directly and merged into her.
ZHAO = {"name": "赵敏", "company": "汝阳王府贸易有限公司", "email": "Zhao.Min@Ruyang.example.cn"}
ZHANG = {"name": "张无忌", "company": "明教机械制造有限公司", "email": "wuji@mingjiao.example.cn"}
ZHAO_PHONE, ZHANG_PHONE, BYSTANDER_PHONE = "13912345678", "13712345670", "13600000001"
BYSTANDER = {"name": "周芷若", "company": "峨眉精密仪器有限公司"}


def spellings(phone: str) -> list[str]:
    wide = "".join(chr(ord(d) + 0xFEE0) for d in phone)
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return [phone, f"+86{phone}", f"+86 {spaced}", spaced, f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", wide]


def needles() -> list[bytes]:
    texts = [*spellings(ZHAO_PHONE), *spellings(ZHANG_PHONE)]
    for person in (ZHAO, ZHANG):
        texts += [person["name"], person["company"], person["email"], person["email"].lower()]
        texts += [json.dumps(person["name"])[1:-1], json.dumps(person["company"])[1:-1]]  # \\u escapes
    return sorted({t.encode() for t in texts})


def scan(*roots: Path) -> dict[str, list[str]]:
    """Every file under the roots whose raw bytes hold a needle: path → the needles found."""
    found: dict[str, list[str]] = {}
    wanted = needles()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            try:
                data = path.read_bytes()
            except OSError:  # a socket or a file removed while scanning
                continue
            hits = [n.decode() for n in wanted if n in data]
            if hits:
                found[str(path)] = hits
    return found


def envelope(touchpoint_id: str, phone: str, person: dict[str, str], at: datetime) -> str:
    return json.dumps(
        {
            "touchpoint_id": touchpoint_id,
            "channel": "web_form",
            "occurred_at": at.isoformat(),
            "direction": "inbound",
            "actor": None,
            "identities": [
                {"kind": "phone", "value": phone},
                *([{"kind": "email", "value": person["email"]}] if "email" in person else []),
            ],
            "contact": {"name": person["name"], "company": person["company"], "city": "成都"},
            "payload": {"form_id": "contact-us", "fields": {"留言": f"请{person['name']}回电 {phone}"}},
        },
        ensure_ascii=False,
    )


def late_envelope(touchpoint_id: str, phone: str, person: dict[str, str], at: datetime) -> str:
    """A rejected envelope (its time has no offset) whose identities still say whose it is."""
    document = json.loads(envelope(touchpoint_id, phone, person, at))
    document["occurred_at"] = at.replace(tzinfo=None).isoformat()
    return json.dumps(document, ensure_ascii=False)


def listed(output: str, verb: str) -> list[str]:
    """The receipt's message lines under ``verb``: ``seq N TOUCHPOINT_ID (why)``."""
    return [
        line.strip().removeprefix(f"{verb}: ")
        for line in output.splitlines()
        if line.startswith(f"  {verb}: ")
    ]


def run(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return eventchain(data_dir, *args, env=env)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path | None]:
    """(store URL, the directory of its raw files)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'events.db'}", None
    if os.environ.get("EVENTCHAIN_TEST_PG_URL"):
        pytest.skip("EVENTCHAIN_TEST_PG_URL names an external server: its data directory cannot be scanned")
    server: LocalPostgres = request.getfixturevalue("local_postgres")
    return fresh_database(server.url), server.data_dir


def test_after_erase_and_key_rotation_no_copy_holds_the_data_and_no_key_opens_it(
    store: tuple[str, Path | None], local_nats: LocalNats, tmp_path: Path
) -> None:
    store_url, pg_dir = store
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    old_kek, new_kek_text = new_kek(), new_kek()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EVENTCHAIN_")},
        "EVENTCHAIN_KEK": old_kek,
        "EVENTCHAIN_STORE_URL": store_url,
        "EVENTCHAIN_NATS_URL": local_nats.url,
        "EVENTCHAIN_READ_ALERT_HOURS": "off",
    }
    now = datetime.now(UTC) - timedelta(hours=2)
    # 1. Zhao Min through NATS, with dead letters that mention both in several spellings.
    config = IngestConfig()
    wide = spellings(ZHAO_PHONE)[-1]
    publish_raw(
        local_nats.url,
        config,
        [
            ("web_form", envelope("wf-zhao-1", f"+86 {ZHAO_PHONE}", ZHAO, now).encode(), "wf-zhao-1"),
            ("web_form", f'{{"touchpoint_id": "bad-1", "phone": "{wide}"}}'.encode(), "bad-1"),
            ("web_form", b'{"touchpoint_id": "bad-2", "note": "call +86 139 1234 5678"}', "bad-2"),
            ("web_form", f'{{"email": "{ZHAO["email"].upper()}"}}'.encode(), "bad-3"),
            ("web_form", f"not json: {ZHANG['name']} asked for a quote".encode(), "bad-4"),
            ("web_form", late_envelope("bad-5", ZHAO_PHONE, ZHAO, now).encode(), "bad-5"),
            ("web_form", envelope("wf-other", BYSTANDER_PHONE, BYSTANDER, now).encode(), "wf-other"),
        ],
    )
    app = EventChain.from_url(store_url, kek=parse_kek(old_kek))
    with running_worker(app, local_nats.url, config):
        wait_until(
            lambda: len(recorded_touchpoint_ids(app)) == 2 and len(dead_letters(local_nats.url, config)) == 5
        )
    app.close()
    # 2. Zhang Wuji directly, then merged into Zhao Min.
    direct = tmp_path / "direct.jsonl"
    direct.write_text(envelope("wf-zhang-1", ZHANG_PHONE, ZHANG, now + timedelta(minutes=5)) + "\n")
    ok(run(data_dir, env, "ingest", str(direct)))
    ok(run(data_dir, env, "merge", f"phone:{ZHAO_PHONE}", f"phone:{ZHANG_PHONE}", "--reason", "same buyer"))
    # 3. Views, an as-of rebuild, exports (inside and outside the data dir) and a report.
    ok(run(data_dir, env, "replay", "rebuild"))
    ok(run(data_dir, env, "replay", "rebuild", "--as-of", datetime.now(UTC).isoformat()))
    ok(run(data_dir, env, "export", "--as", "exec", "--out", str(data_dir / "all.csv")))
    outside = tmp_path / "outbox" / "all.csv"
    outside.parent.mkdir()
    ok(run(data_dir, env, "export", "--as", "exec", "--out", str(outside)))
    ok(run(data_dir, env, "report", "--as", "exec", "--html", str(data_dir / "report.html")))
    reader = EventChain.from_url(store_url, kek=parse_kek(old_kek))  # sees the CLI's merge
    merged = reader.find_customer(f"phone:{ZHAO_PHONE}")
    erased_ids = [str(merged.id), *map(str, merged.absorbed_from)]
    stored = select_aggregate_events(reader.recorder, [merged.id, *merged.absorbed_from])
    reader.close()
    sealed = [
        (str(e.originator_id), e.originator_version, json.loads(e.state)[SEALED])
        for events in stored.values()
        for e in events
        if SEALED in json.loads(e.state)
    ]
    wrapped_before = _wrapped_keys(store_url, erased_ids)

    roots = [data_dir, local_nats.store_dir, outside.parent, *([pg_dir] if pg_dir else [])]
    _checkpoint(store_url)
    before = scan(*roots)
    # the scan can fail: before erasure the plaintext is in the NATS store, the views and the files
    assert any(local_nats.store_dir.as_posix() in p for p in before), before
    assert {str(data_dir / "all.csv"), str(outside), str(data_dir / "analytics.duckdb")} <= set(before)
    assert len(sealed) >= 2 and len(wrapped_before) == 2

    # 4. Erase (first as a dry run: it lists the same messages), settle what it quarantined,
    # then the procedure: stop writers (none run now), rotate, destroy the old KEK.
    erase = ["erase", f"phone:{ZHAO_PHONE}", "--reason", "PIPL Art. 47 #1"]
    dry_run = ok(run(data_dir, env, *erase, "--dry-run"))
    receipt = ok(run(data_dir, env, *erase))
    assert "erased 2 customer(s)" in receipt
    # exactly theirs: the raw envelope by its touchpoint id and a rejected envelope by its
    # identities; the bystander's stays; the four unreadable rejects that mention them by
    # text only are quarantined, in both streams, for a person to decide
    assert "TOUCHPOINTS: 2 messages deleted" in receipt and "TOUCHPOINTS_DLQ: 1 messages deleted" in receipt
    assert (
        "TOUCHPOINTS: 4 messages quarantined" in receipt
        and "TOUCHPOINTS_DLQ: 4 messages quarantined" in receipt
    )
    assert (
        listed(receipt, "deleted") == listed(dry_run, "would be deleted")
        and len(listed(receipt, "deleted")) == 3
    )
    assert listed(receipt, "quarantined") == listed(dry_run, "quarantined")
    assert {"wf-zhao-1", "bad-5"} == {line.split()[2] for line in listed(receipt, "deleted")}
    assert f"removed (it held the customer): {outside}" in receipt
    [recorded] = [json.loads(line) for line in (data_dir / "erasures.jsonl").read_text().splitlines()]
    quarantined = [
        m for s in recorded["streams"] if s["stream"] == "TOUCHPOINTS_DLQ" for m in s["quarantined"]
    ]
    assert {m["touchpoint_id"] for m in quarantined} == {"bad-1", "bad-2", "bad-3", "bad-4"}
    # the person decides: they are the erased customers' (dropping also deletes the originals)
    sequences = [str(m["sequence"]) for m in quarantined]
    ok(run(data_dir, env, "dlq", "drop", *sequences, "--note", "erasure PIPL Art. 47 #1: theirs"))
    if pg_dir is not None:  # the threat the rotation answers: the deleted wrapped keys are still on disk
        _checkpoint(store_url)
        leftovers = _raw_copies(pg_dir, wrapped_before)
        assert leftovers, "expected the deleted key rows in PostgreSQL's WAL or heap"
        old_wrap = AESGCM(_derive(parse_kek(old_kek), b"wrap data keys"))
        for customer_id, wrapped in leftovers.items():  # with the old KEK they still open
            assert len(old_wrap.decrypt(wrapped[:12], wrapped[12:], customer_id.encode())) == 32
    ok(run(data_dir, {**env, "EVENTCHAIN_NEW_KEK": new_kek_text}, "keys", "rotate"))
    env["EVENTCHAIN_KEK"] = new_kek_text
    del old_kek  # destroyed: nothing below may use it

    _checkpoint(store_url)
    assert scan(*roots) == {}
    # every key material left: the new KEK, and every data key it unwraps
    survivor = EventChain.from_url(store_url, kek=parse_kek(new_kek_text))
    assert survivor.keys is not None
    live = [survivor.keys.key(c) for c in _all_key_ids(store_url)]
    opened = 0
    for customer_id, version, blob in sealed:
        raw = base64.b64decode(blob)
        for key in [k for k in live if k is not None]:
            try:
                key.decrypt(raw[:12], raw[12:], f"{customer_id}:{version}".encode())
                opened += 1
            except InvalidTag:
                pass
    assert opened == 0
    new_wrap = AESGCM(_derive(parse_kek(new_kek_text), b"wrap data keys"))
    for customer_id, wrapped in wrapped_before.items():  # copies in dead tuples, WAL, backups
        with pytest.raises(InvalidTag):
            new_wrap.decrypt(wrapped[:12], wrapped[12:], customer_id.encode())
    # the bystander is still readable under the new key, and the erased one reads as erased
    bystander = ok(run(data_dir, env, "customer", f"phone:{BYSTANDER_PHONE}", "--as", "exec"))
    assert BYSTANDER["name"] in bystander
    erased = run(data_dir, env, "customer", erased_ids[0], "--as", "exec")
    assert "erased: True" in erased.stdout and ZHAO["name"] not in erased.stdout, erased.stdout


def _raw_copies(root: Path, wrapped: dict[str, bytes]) -> dict[str, bytes]:
    """The wrapped keys whose bytes appear somewhere in the raw files under ``root``."""
    found: dict[str, bytes] = {}
    for path in (p for p in root.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        found.update({c: w for c, w in wrapped.items() if w in data})
    return found


def _wrapped_keys(store_url: str, customer_ids: list[str]) -> dict[str, bytes]:
    rows = _query(store_url, "SELECT customer_id, wrapped FROM eventchain_data_keys")
    return {str(c): bytes(w) for c, w in rows if str(c) in customer_ids}


def _all_key_ids(store_url: str) -> list[str]:
    return [str(r[0]) for r in _query(store_url, "SELECT customer_id FROM eventchain_data_keys")]


def _query(store_url: str, sql: str) -> list[tuple[object, ...]]:
    if store_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as connection:
            return list(connection.execute(sql).fetchall())
    with psycopg.connect(store_url) as connection:
        return list(connection.execute(sql).fetchall())  # type: ignore[arg-type]


def _checkpoint(store_url: str) -> None:
    """Pages PostgreSQL holds in memory go to the heap files the scan reads."""
    if store_url.startswith("postgresql"):
        with psycopg.connect(store_url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")
