"""Bulk import, cleaning, merges, duplicates and export on real files and stores."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.event_chain import EventChain
from application.importer import import_file, write_rejects
from application.merging import merge, unmerge
from domain.cleaning import CleanRow, RejectedRow, clean_row
from domain.customer import MergeRefusedError
from domain.duplicates import Profile, find_candidates
from domain.touchpoints import accept
from eventchain.commands.export import neutralise
from tests.import_files import HEADERS, customer_sheet, write_xlsx
from tests.projection_support import T0, contents, envelope, project

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def test_an_xlsx_with_bad_rows_imports_with_exactly_those_rows_rejected_and_explained(tmp_path: Path) -> None:
    sheet = customer_sheet(2_000, seed=3)
    path = write_xlsx(sheet, tmp_path / "客户.xlsx")
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    summary = import_file(app, path, occurred_at=NOW)
    assert summary.rows_read == 2_000
    assert summary.accepted + summary.rejected_rows == summary.rows_read
    assert {
        number: column for number, column in ((n, p.column) for n, p in summary.rejected)
    } == sheet.bad_rows
    assert summary.abnormal_rows >= len(sheet.cleaned_rows)
    assert summary.recorded == summary.accepted - len(sheet.duplicate_rows)
    cleaned = next(iter(sheet.cleaned_rows))
    assert app.find_customer(f"phone:139{cleaned - 2:08d}").profile_value("name") == f"客户{cleaned - 2}"
    write_rejects(tmp_path / "rejects.csv", summary)
    with (tmp_path / "rejects.csv").open(encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["row", "column", "reason"] and len(lines) - 1 == len(summary.rejected)
    assert any("formula" in line[2] for line in lines[1:])
    again = import_file(app, path, occurred_at=NOW)  # the same file again: nothing new
    assert (again.recorded, again.already_imported) == (0, True)
    views = project(app, tmp_path / "views.duckdb")
    health = dict(
        views.connection.execute(
            "SELECT metric, value FROM data_health WHERE import_batch = ?", [summary.batch_id]
        ).fetchall()
    )
    assert health["rows_read"] == 2_000
    assert health["rejected_rate"] == pytest.approx(summary.rejected_rows / 2_000)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_in_chinese_encodings_imports_with_correct_headers_and_names(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / f"leads-{encoding}.csv"
    lines = [",".join(HEADERS), "李雷,13800138000,li@example.cn,杭州某智能硬件有限公司,杭州,智能硬件,a-wang"]
    path.write_bytes("\r\n".join(lines).encode(encoding))
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    summary = import_file(app, path, occurred_at=NOW)
    assert (summary.accepted, summary.rejected_rows) == (1, 0)
    customer = app.find_customer("phone:13800138000")
    assert customer.profile_value("name") == "李雷"
    assert customer.profile_value("company") == "杭州某智能硬件有限公司"


def test_undecodable_bytes_reject_their_row_and_are_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    good = "李雷,13800138000,li@example.cn,杭州某智能硬件有限公司,杭州,智能硬件,a-wang".encode()
    path.write_bytes(b"\n".join([",".join(HEADERS).encode(), good, b"\xff\xfe\xfa broken,13900000000,,,,,"]))
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    summary = import_file(app, path, occurred_at=NOW)
    assert (summary.rows_read, summary.accepted, summary.rejected_rows) == (2, 1, 1)
    assert summary.rejected[0][0] == 3 and "not utf-8" in summary.rejected[0][1].reason
    with pytest.raises(LookupError):
        app.find_customer("phone:13900000000")


def test_merge_then_unmerge_restores_both_customers_and_their_views(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record(
        [
            envelope("a1", "web_form", T0, "13500000001", contact={"name": "李雷", "city": "杭州"}),
            envelope("b1", "douyin_dm", T0.replace(hour=11), "13500000002", contact={"name": "李磊"}),
        ]
    )
    app.record(
        [
            envelope(
                "a2", "wecom_msg", T0.replace(hour=12), "13500000001", direction="outbound", actor="a-wang"
            )
        ]
    )
    first, second = app.find_customer("phone:13500000001"), app.find_customer("phone:13500000002")
    states = {c.id: {k: v for k, v in c.state().items() if k != "version"} for c in (first, second)}
    before = project(app, tmp_path / "before.duckdb")
    merge(app, str(first.id), str(second.id), reason="same buyer", actor="ops")
    assert app.find_customer("phone:13500000002").id == first.id
    merged = project(app, tmp_path / "merged.duckdb")
    assert merged.connection.execute(
        "SELECT count(*), max(len(merged_from)) FROM customer_360"
    ).fetchone() == (1, 1)
    unmerge(app, str(first.id), str(second.id), reason="different people", actor="ops")
    for customer_id, state in states.items():
        restored = app.get_customer(customer_id, follow_merges=False)
        assert {k: v for k, v in restored.state().items() if k != "version"} == state
    assert app.find_customer("phone:13500000002").id == second.id  # resolution reaches it again
    after = project(app, tmp_path / "after.duckdb")
    for relation in ("customer_360", "touchpoints", "lead_response", "ctre"):
        assert contents(after.connection, relation) == contents(before.connection, relation), relation


def test_merging_customers_with_different_usccs_is_refused_unless_forced(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    for number, uscc in ((1, "91350100M000100Y43"), (2, "91110108551385082Q")):
        touchpoint = envelope(f"u{number}", "web_form", T0, f"1350000000{number}").touchpoint
        app.record(
            [
                accept(
                    type(touchpoint)(
                        **{
                            **{f: getattr(touchpoint, f) for f in touchpoint.__struct_fields__},
                            "identities": [
                                *touchpoint.identities,
                                type(touchpoint.identities[0])(kind="uscc", value=uscc),
                            ],
                        }
                    )
                )
            ]
        )
    with pytest.raises(MergeRefusedError, match="merge protection"):
        merge(app, "phone:13500000001", "phone:13500000002", reason="looks same", actor="ops")
    kept = merge(
        app, "phone:13500000001", "phone:13500000002", reason="group company", actor="ops", force=True
    )
    assert len(kept.absorbed_from) == 1


def test_duplicate_candidates_come_from_similar_names_and_companies() -> None:
    profiles = [
        Profile("c1", "李雷", "杭州某智能硬件有限公司", frozenset({"phone:+8613800000001"})),
        Profile("c2", "李雷", "杭州某智能硬件有限公司 ", frozenset({"phone:+8613800000002"})),
        Profile("c3", "韩梅梅", "成都某医疗设备有限公司", frozenset({"phone:+8613800000003"})),
        Profile("c4", "王芳", "北京新能源集团", frozenset({"uscc:91110108551385082Q"})),
        Profile("c5", "王芳芳", "上海某贸易公司", frozenset({"uscc:91110108551385082Q"})),
    ]
    found = {(c.a, c.b): c.reason for c in find_candidates(profiles)}
    assert found == {("c1", "c2"): "similar name and company", ("c4", "c5"): "same uscc:91110108551385082Q"}


def test_an_exported_formula_opens_as_text() -> None:
    assert neutralise('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert neutralise("@SUM(1)") == "'@SUM(1)" and neutralise("李雷") == "李雷"
    assert neutralise(["phone:+86138", "=1+1"]) == "phone:+86138|=1+1"


cells = st.fixed_dictionaries(
    {
        "name": st.one_of(st.none(), st.text(max_size=12)),
        "phone": st.one_of(
            st.none(),
            st.sampled_from(["13800138000", "１３８００１３８０００", "138\u200e00138000", "12345", "=A1"]),
        ),
        "company": st.one_of(st.none(), st.text(max_size=8)),
    }
)


@settings(max_examples=200)
@given(st.lists(cells, max_size=20))
def test_every_row_is_either_accepted_or_rejected_and_cleaning_is_idempotent(
    rows: list[dict[str, str | None]],
) -> None:
    outcomes = [clean_row(row, {}) for row in rows]
    assert sum(isinstance(o, CleanRow) for o in outcomes) + sum(
        isinstance(o, RejectedRow) for o in outcomes
    ) == len(rows)
    for outcome in outcomes:
        if isinstance(outcome, CleanRow):
            again = clean_row(outcome.values, {})
            assert isinstance(again, CleanRow) and again.values == outcome.values
        else:
            assert outcome.problems and all(p.reason for p in outcome.problems)


def test_exported_views_read_through_the_projector(tmp_path: Path) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}")
    app.record([envelope("x1", "web_form", T0, "13500000009", contact={"name": '=HYPERLINK("http://x")'})])
    views = project(app, tmp_path / "v.duckdb")
    name = views.connection.execute("SELECT display_name FROM customer_360").fetchone()
    assert name is not None and neutralise(name[0]).startswith("'=")
