"""Crypto-shredding: after erase, the plain data is nowhere — store rows, views, snapshot,
exports, dead letters, rebuilds — and identity resolution carries on."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import duckdb
import nats
import psycopg
import pytest

from adapters.crypto import KeyError_, new_kek, parse_kek
from adapters.nats import ensure_streams
from application.erasure import erase
from application.event_chain import EventChain
from application.stream_purge import PurgeTarget, erased_party, purge_streams
from eventchain.commands.export import neutralise
from projections.snapshot import publish_snapshot
from replay.rebuild import build_views
from tests.nats_support import private_config, stream_messages
from tests.projection_support import T0, envelope, project

KEK = parse_kek(new_kek())
PHONE, NAME, TEXT, COMPANY = "13812345678", "欧阳娜娜", "我今天急需报价单", "杭州某机器人有限公司"
NEEDLES = [PHONE, NAME, TEXT, COMPANY]


def li_na(app: EventChain) -> None:
    app.record([envelope("na-1", "web_form", T0, PHONE, contact={"name": NAME, "company": COMPANY})])
    douyin = envelope("na-2", "douyin_dm", T0.replace(hour=11), PHONE)
    app.record(
        [
            type(douyin)(
                douyin.touchpoint.__class__(
                    **{  # a DM whose text is personal
                        **{f: getattr(douyin.touchpoint, f) for f in douyin.touchpoint.__struct_fields__},
                        "payload": douyin.touchpoint.payload.__class__(open_id="dy-na", text=TEXT),
                    }
                ),
                douyin.identity_keys,
            )
        ]
    )
    app.record([envelope("other-1", "web_form", T0, "13900000000", contact={"name": "韩梅梅"})])


def raw_store_text(store_url: str) -> str:
    """Every row of every table of the store, as text (bytea/blob as hex and as UTF-8)."""
    if store_url.startswith("sqlite"):
        data = Path(store_url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(store_url.removeprefix("sqlite:///") + "-wal")
        data += wal.read_bytes() if wal.exists() else b""
        return data.decode("utf-8", errors="replace")
    parts = []
    with psycopg.connect(store_url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        for (table,) in tables:
            parts += [row for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t')]
            columns = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND data_type = 'bytea'",
                (table,),
            ).fetchall()
            for (column,) in columns:  # bytea renders as hex in t::text: decode it too
                parts += [
                    bytes(v).decode("utf-8", "replace")
                    for (v,) in conn.execute(f'SELECT "{column}" FROM "{table}"')
                ]
    return "\n".join(parts)


def test_personal_fields_are_never_stored_in_plain_text_and_erasure_shreds_them_everywhere(
    store_url: str, tmp_path: Path
) -> None:
    app = EventChain.from_url(store_url, kek=KEK)
    li_na(app)
    raw = raw_store_text(store_url)
    assert "douyin_dm" in raw  # the structure is readable...
    assert not [n for n in NEEDLES if n in raw]  # ...the personal data is not, even before erasure
    reader = EventChain.from_url(store_url, kek=KEK)
    assert reader.find_customer(f"phone:{PHONE}").profile_value("name") == NAME  # the key opens it
    views = project(app, tmp_path / "views.duckdb")
    assert views.connection.execute(
        "SELECT count(*) FROM customer_360 WHERE display_name = ?", [NAME]
    ).fetchone() == (1,)

    result = erase(app, f"phone:{PHONE}", "PIPL request", "dpo")
    assert result.identities_released == 2  # the phone and the Douyin open id
    fresh = EventChain.from_url(store_url, kek=KEK)
    gone = fresh.get_customer(result.customer_id, follow_merges=False)
    assert gone.erased and gone.profile_value("name") is None
    assert {f.summary for f in gone.touchpoints.values()} == {"[erased]"}
    from projections.projector import Projector

    Projector(fresh, views).catch_up()
    publish_snapshot(views, tmp_path / "snapshot.duckdb")
    rebuilt = build_views(fresh, tmp_path / "rebuilt.duckdb")
    for path in (tmp_path / "snapshot.duckdb", rebuilt.path):
        with duckdb.connect(str(path), read_only=True) as connection:
            assert connection.execute(
                "SELECT erased, display_name FROM customer_360 WHERE customer_id = ?",
                [str(result.customer_id)],
            ).fetchone() == (True, "[erased]")
            text = _all_text(connection)
            assert not [n for n in NEEDLES if n in text], path
            exported = "".join(
                neutralise(v)
                for row in connection.execute("SELECT * FROM customer_360").fetchall()
                for v in row
            )
            assert not [n for n in NEEDLES if n in exported]
    assert not [n for n in NEEDLES if n in raw_store_text(store_url)]

    # resolution carries on: others are found, the erased phone starts a new customer
    assert fresh.find_customer("phone:13900000000").profile_value("name") == "韩梅梅"
    fresh.record([envelope("na-3", "wecom_msg", T0.replace(day=9), PHONE)])
    newcomer = fresh.find_customer(f"phone:{PHONE}")
    assert newcomer.id != result.customer_id and set(newcomer.touchpoints) == {"na-3"}


def test_erasing_a_survivor_shreds_the_customers_merged_into_it(tmp_path: Path) -> None:
    from application.merging import merge

    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = EventChain.from_url(url, kek=KEK)
    app.record([envelope("a", "web_form", T0, "13500000001", contact={"name": NAME})])
    app.record([envelope("b", "web_form", T0.replace(hour=12), "13500000002", contact={"name": "欧阳小娜"})])
    merge(app, "phone:13500000001", "phone:13500000002", reason="same person", actor="ops")
    result = erase(app, "phone:13500000002", "request", "dpo")  # found through the absorbed phone
    assert len(result.erased_ids) == 2
    assert app.keys is not None and all(app.keys.key(str(i)) is None for i in result.erased_ids)
    assert "欧阳小娜" not in raw_store_text(url) and NAME not in raw_store_text(url)


def test_a_wrong_key_encryption_key_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    EventChain.from_url(url, kek=KEK)
    with pytest.raises(KeyError_, match="does not match"):
        EventChain.from_url(url, kek=parse_kek(new_kek()))
    with pytest.raises(KeyError_, match="not set"):
        parse_kek("")


def test_unreadable_dead_letters_mentioning_an_erased_customer_in_any_spelling_are_quarantined(
    nats_server: str,
) -> None:
    config = private_config()
    wide = "".join(chr(ord(d) + 0xFEE0) for d in "13912345678")  # full-width digits
    mentions = [
        f'{{"phone": "{wide}", "bad": 1}}',
        '{"identities": [{"kind": "phone", "value": "+86 139 1234 5678"}], "x": [',
        '{"contact": {"email": "Zhao.Min@Example.CN"}}',
        '{"contact": {"name": "\\u8d75\\u654f"}, "occurred_at": "yesterday"}',  # 赵敏, JSON-escaped
        "not json at all: call 赵敏 back",
    ]
    others = ['{"phone": "13999999999"}', '{"contact": {"name": "周芷若", "email": "zhou@example.cn"}}']

    async def seed() -> None:
        nc = await nats.connect(nats_server)
        await ensure_streams(nc, config)
        js = nc.jetstream()
        for body in [*mentions, *others]:
            await js.publish(f"{config.names.dlq_prefix}.web_form", body.encode())
        await nc.close()

    asyncio.run(seed())
    party = erased_party(
        ["4ba5387c-155c-547c-86a0-f0c41daddff4"],
        ["phone:+8613912345678", "email:zhao.min@example.cn"],
        ["赵敏"],
        [],
    )
    [purge] = purge_streams(nats_server, [PurgeTarget(config.names.dlq_stream)], party)
    # no identity can be read from them: a person decides, nothing is deleted silently
    assert (purge.scanned, purge.deleted) == (len(mentions) + len(others), [])
    assert [m.sequence for m in purge.quarantined] == list(range(1, len(mentions) + 1))
    assert len(stream_messages(nats_server, config.names.dlq_stream)) == len(mentions) + len(others)


def test_a_missing_notifications_stream_is_skipped_not_an_error(nats_server: str) -> None:
    party = erased_party(["4ba5387c-155c-547c-86a0-f0c41daddff4"], [], [], [])
    [purge] = purge_streams(nats_server, [PurgeTarget("NO_SUCH_STREAM_X1")], party)
    assert (purge.present, purge.deleted) == (False, [])


def _all_text(connection: duckdb.DuckDBPyConnection) -> str:
    tables = connection.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
    ).fetchall()
    return "\n".join(
        str(row)
        for schema, table in tables
        for row in connection.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
    )


def test_notifications_of_an_erased_customer_are_purged_by_their_customer_id_header(nats_server: str) -> None:
    stream, erased, other = f"NOTE_{uuid.uuid4().hex[:8]}", str(uuid.uuid4()), str(uuid.uuid4())

    async def seed() -> None:
        nc = await nats.connect(nats_server)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"], max_age=3600)
        for customer_id in (erased, other, erased):
            body = b'{"display_name": "someone"}'  # the body alone names nobody we could match
            await js.publish(
                f"{stream.lower()}.lead_assigned.a-wang",
                body,
                headers={"Eventchain-Customer-Id": customer_id},
            )
        await nc.close()

    asyncio.run(seed())
    target = PurgeTarget(stream, headers_only=True)
    [purge] = purge_streams(nats_server, [target], erased_party([erased.upper()], [], [], []))
    assert (purge.scanned, [m.sequence for m in purge.deleted]) == (3, [1, 3])
