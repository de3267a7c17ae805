"""The web workspace over real HTTP: each role sees exactly its customers, nothing more
by URL, API or self-asserted role; a call logged from the page is an outbound touchpoint
by the signed-in agent that stops the lead's first-response clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import UUID

import duckdb
import pytest

from application.read_audit import list_reads
from projections.service import project_pending
from projections.visibility import EXEC, load_visible_customers
from projections.workspace_queries import escalations_to
from tests.web_support import RunningWorkspace, csrf_of, expected_customers, start_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    yield from start_workspace(tmp_path_factory.mktemp("web"))


@pytest.mark.parametrize(
    ("agent_id", "role"),
    [("a-wang", "sales:a-wang"), ("m-zhao", "director:m-zhao"), ("d-qian", "exec")],
)
def test_each_signed_in_role_sees_exactly_its_customers(
    workspace: RunningWorkspace, agent_id: str, role: str
) -> None:
    client = workspace.sign_in(agent_id)

    me = client.get("/api/me").json()
    listed = {c["customer_id"] for c in client.get("/api/customers").json()["customers"]}

    assert role == me["role"]
    expected = expected_customers(workspace, agent_id)
    assert expected and expected == listed


def test_a_rep_gets_not_found_for_another_reps_customer_by_url_api_and_post(
    workspace: RunningWorkspace,
) -> None:
    client = workspace.sign_in("a-wang")
    others = sorted(c for c, o in workspace.owners().items() if o == "a-li")
    before = workspace.app.max_notification_id()

    page = client.get(f"/customers/{others[0]}", headers={"accept": "text/html"})
    api = client.get(f"/api/customers/{others[0]}")
    post = client.post(
        f"/customers/{others[0]}/log", data={"csrf": csrf_of(client, "/desk"), "kind": "call", "note": "x"}
    )
    absent = client.get("/api/customers/00000000-0000-0000-0000-000000000000")

    assert (404, 404, 404) == (page.status_code, api.status_code, post.status_code)
    assert absent.json() == api.json()  # another rep's customer looks exactly like no customer
    assert "李" not in api.text and others[0] not in page.text
    assert 1 == workspace.app.max_notification_id() - before  # the desk's read audit: nothing else


def test_a_self_asserted_role_is_ignored(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    own = expected_customers(workspace, "a-wang")

    for attempt in (
        client.get("/api/customers", params={"as": "exec", "role": "exec"}),
        client.get("/api/customers", headers={"x-role": "exec", "x-eventchain-role": "director:m-zhao"}),
    ):
        assert own == {c["customer_id"] for c in attempt.json()["customers"]}
    assert 403 == client.get("/api/board", params={"as": "exec"}).status_code


def test_a_post_without_a_csrf_token_is_refused_and_records_nothing(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    own = sorted(expected_customers(workspace, "a-wang"))
    before = workspace.app.max_notification_id()

    missing = client.post(f"/customers/{own[0]}/log", data={"kind": "call"})
    wrong = client.post(f"/customers/{own[0]}/log", data={"kind": "call", "csrf": "guess"})
    login_without = client.post(
        "/login", data={"agent_id": "a-wang", "password": workspace.passwords["a-wang"]}
    )

    assert (403, 403, 403) == (missing.status_code, wrong.status_code, login_without.status_code)
    assert before == workspace.app.max_notification_id()


def test_logging_a_call_from_the_desk_records_an_outbound_touchpoint_that_stops_the_sla_clock(
    workspace: RunningWorkspace,
) -> None:
    client = workspace.sign_in("a-wang")
    waiting = client.get("/api/desk").json()["waiting"]
    assert waiting, "the demo leaves one of a-wang's leads unanswered"
    lead = waiting[0]["customer_id"]

    response = client.post(
        f"/customers/{lead}/log",
        data={"csrf": csrf_of(client, "/desk"), "kind": "call", "outcome": "reached", "note": "回电确认需求"},
    )

    assert 303 == response.status_code and response.headers["location"] == f"/customers/{lead}"
    customer = workspace.app.get_customer(UUID(lead))
    first_response = customer.first_response
    assert first_response is not None
    assert ("call_400", "outbound", "a-wang") == (
        first_response.channel,
        first_response.direction,
        first_response.actor,
    )
    project_pending(workspace.app, workspace.settings)
    with duckdb.connect(str(workspace.settings.snapshot_path), read_only=True) as connection:
        answered = connection.execute(
            "SELECT first_response_at IS NOT NULL FROM lead_response WHERE customer_id = ?", [lead]
        ).fetchone()
    assert (True,) == answered
    assert lead not in {w["customer_id"] for w in client.get("/api/desk").json()["waiting"]}


def test_logging_a_visit_records_a_visit_touchpoint_by_the_agent(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    own = sorted(c for c, o in workspace.owners().items() if o == "a-wang")

    response = client.post(
        f"/customers/{own[-1]}/log",
        data={
            "csrf": csrf_of(client, "/desk"),
            "kind": "visit",
            "outcome": "reached",
            "note": "上门演示样机",
        },
    )

    assert 303 == response.status_code and response.headers["location"] == f"/customers/{own[-1]}"
    chain = workspace.app.get_customer(UUID(own[-1])).touchpoints.values()
    [visit] = [t for t in chain if t.channel == "visit"]
    assert ("outbound", "a-wang") == (visit.direction, visit.actor)
    assert "上门演示样机" in visit.summary


def test_a_director_sees_the_board_and_a_rep_does_not(workspace: RunningWorkspace) -> None:
    director = workspace.sign_in("m-zhao")
    rep = workspace.sign_in("a-wang")

    board = director.get("/api/board").json()
    owners = {row["owner_agent_id"] for row in board["per_rep"]}

    assert owners <= {"a-wang", "a-li", "a-chen", "m-zhao", "d-qian"} and "a-li" in owners
    assert board["visible"] == len(expected_customers(workspace, "m-zhao"))
    assert board["escalations"], "the demo escalates overdue leads to m-zhao"
    refused = rep.get("/board", headers={"accept": "text/html"})
    assert 403 == refused.status_code and "无权限" in refused.text


def test_reads_and_sign_ins_leave_audit_rows(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("m-zhao")
    client.get("/api/customers", params={"stage": "lead"})

    reads = [r for r in list_reads(workspace.app, actor="m-zhao") if r.via == "web"]

    assert any(r.action == "web.customers" and r.subject == "stage=lead" for r in reads)
    assert all(r.role == "director:m-zhao" for r in reads)
    from application.accounts import find_account

    account = find_account(workspace.app, "m-zhao")
    assert account is not None
    signed_in = [e for e in workspace.app.repository.get(account.id).collect_events()]
    assert [] == signed_in  # nothing pending: every sign-in was saved
    kinds = {
        type(e).__name__
        for e in workspace.app.events.get(account.id)  # the stored account events
    }
    assert {"Invited", "SignedIn"} <= kinds


def test_escalations_are_found_by_plain_and_prefixed_agent_ids_with_their_status() -> None:
    with duckdb.connect() as connection:
        connection.execute(
            "CREATE TABLE customer_360 AS SELECT * FROM (VALUES "
            "('00000000-0000-0000-0000-000000000001'::UUID, 'A', 'a-wang', NULL::TIMESTAMPTZ), "
            "('00000000-0000-0000-0000-000000000002'::UUID, 'B', 'a-wang', NULL::TIMESTAMPTZ), "
            "('00000000-0000-0000-0000-000000000003'::UUID, 'C', 'a-wang', NULL::TIMESTAMPTZ)) "
            "t(customer_id, display_name, owner_agent_id, first_response_at)"
        )
        connection.execute(
            "CREATE TABLE sla_breaches AS SELECT * FROM (VALUES "
            "('00000000-0000-0000-0000-000000000001'::UUID, now(), 'd-qian', 2), "
            "('00000000-0000-0000-0000-000000000002'::UUID, now(), 'director:d-qian', 2), "
            "('00000000-0000-0000-0000-000000000003'::UUID, now(), 'd-qian-2', 2)) "
            "t(customer_id, deadline_at, escalated_to, step)"
        )
        connection.execute(
            "CREATE TABLE lead_response AS SELECT * FROM (VALUES "
            "('00000000-0000-0000-0000-000000000001'::UUID, now(), 0.5), "
            "('00000000-0000-0000-0000-000000000002'::UUID, NULL::TIMESTAMPTZ, NULL::DOUBLE)) "
            "t(customer_id, first_response_at, response_hours)"
        )
        load_visible_customers(connection, EXEC)

        found = {row["display_name"]: row["answered"] for row in escalations_to(connection, "d-qian").dicts()}

    assert {"A": True, "B": False} == found


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/desk?days=abc", "天数须为整数"),
        ("/api/desk?channel=fax", "未知渠道 'fax'"),
        ("/api/board?from=yesterday", "日期 from='yesterday' 无效，请写成 2026-03-01 的形式"),
        ("/api/board?from=2026-03-05&to=2026-03-01", "开始日期须早于结束日期"),
    ],
)
def test_bad_query_input_is_a_one_line_error(workspace: RunningWorkspace, path: str, message: str) -> None:
    response = workspace.sign_in("m-zhao").get(path)

    assert 400 == response.status_code
    assert message in response.json()["error"] and "\n" not in response.json()["error"]


def test_the_boards_pipeline_value_is_the_budgets_the_visible_customers_stated(
    workspace: RunningWorkspace,
) -> None:
    director = workspace.sign_in("m-zhao")
    board = director.get("/api/board").json()
    pipeline = board["pipeline"]

    stated = [
        workspace.app.get_customer(UUID(c)).profile_value("budget_cny")
        for c in expected_customers(workspace, "m-zhao")
    ]
    budgets = [float(b) for b in stated if b is not None]
    assert budgets, "the demo's customers state budgets"
    assert (len(budgets), sum(budgets)) == (
        sum(row["with_budget"] for row in pipeline),
        sum(row["budget_cny"] for row in pipeline),
    )
    # the pipeline counts the funnel's customers (those with a lead), stage by stage
    funnel: dict[str, int] = {}
    for stage, _, customers, _ in board["funnel"]:
        funnel[stage] = funnel.get(stage, 0) + customers
    assert funnel == {row["stage"]: row["customers"] for row in pipeline}


def test_a_phone_in_any_spelling_finds_the_customer(workspace: RunningWorkspace) -> None:
    exec_client = workspace.sign_in("d-qian")
    customer = exec_client.get("/api/customers").json()["customers"][0]["customer_id"]
    phones = [i for i in workspace.app.get_customer(UUID(customer)).identity_keys if i.startswith("phone:")]
    assert phones, "the demo's customers have phones"
    digits = phones[0].removeprefix("phone:+86")
    spelled = f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"

    found = exec_client.get("/api/customers", params={"q": spelled}).json()["customers"]
    by_prefix = exec_client.get("/api/customers", params={"q": customer[:8]}).json()["customers"]

    assert [customer] == [c["customer_id"] for c in found]
    assert customer in {c["customer_id"] for c in by_prefix}


def test_the_customer_list_pages_sorts_and_exports_what_the_role_sees(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    own = expected_customers(workspace, "a-wang")

    first = client.get("/api/customers", params={"sort": "name", "page": 1}).json()
    exported = client.get("/customers.csv", params={"sort": "name"})

    names = [c["display_name"] for c in first["customers"]]
    assert names == sorted(names) and first["total"] == len(own)
    lines = exported.text.lstrip("\ufeff").splitlines()
    assert exported.headers["content-type"].startswith("text/csv") and len(lines) == 1 + len(own)
    exports = [r for r in list_reads(workspace.app, actor="a-wang") if r.action == "web.export"]
    assert [(len(own), "web")] == [(r.rows, r.via) for r in exports]


def test_no_follow_up_for_n_days_counts_from_the_service_clock(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("a-wang")
    everyone = client.get("/api/desk", params={"channel": "wecom_msg", "days": 0}).json()["no_follow_up"]
    followed = [c for c in everyone if c["last_follow_up"]]
    assert followed, "a-wang has WeCom customers followed up in the demo"
    customer = followed[-1]  # the most recently followed up
    days = (workspace.clock() - datetime.fromisoformat(customer["last_follow_up"])).days + 1  # not yet due
    query = {"channel": "wecom_msg", "days": days}

    before = {c["customer_id"] for c in client.get("/api/desk", params=query).json()["no_follow_up"]}
    workspace.clock.offset += timedelta(days=2)  # time passes; no event arrives
    try:
        later = workspace.sign_in("a-wang")  # the session of two days ago has expired
        after = {c["customer_id"] for c in later.get("/api/desk", params=query).json()["no_follow_up"]}
    finally:
        workspace.clock.offset -= timedelta(days=2)

    assert customer["customer_id"] not in before
    assert customer["customer_id"] in after


def test_a_douyin_lead_is_answered_on_douyin_through_the_json_api(workspace: RunningWorkspace) -> None:
    client = workspace.sign_in("d-qian")
    on_douyin = [
        c["customer_id"]
        for c in client.get("/api/customers", params={"channel": "douyin_dm"}).json()["customers"]
        if any(
            i.startswith("douyin_open_id:")
            for i in workspace.app.get_customer(UUID(c["customer_id"])).identity_keys
        )
    ]
    assert on_douyin, "the demo has Douyin leads"
    customer = on_douyin[0]
    token = csrf_of(client, "/desk")
    form = {
        "csrf": token,
        "kind": "douyin",
        "outcome": "sent",
        "note": "您好，样品下周寄出",
        "request_key": "a1b2c3d4e5f6",
    }

    first = client.post(f"/customers/{customer}/log", data=form, headers={"x-csrf-token": token})
    again = client.post(f"/customers/{customer}/log", data=form, headers={"x-csrf-token": token})

    assert first.json() == again.json() == {"recorded": "web-douyin-a1b2c3d4e5f6"}
    replies = [
        t
        for t in workspace.app.get_customer(UUID(customer)).touchpoints.values()
        if "样品下周寄出" in t.summary
    ]
    assert [("douyin_dm", "outbound", "d-qian")] == [(t.channel, t.direction, t.actor) for t in replies]


def test_a_lead_nobody_owns_after_the_grace_is_on_the_directors_board(workspace: RunningWorkspace) -> None:
    """The router's safety net (issue 25): this workspace runs no router, so a new lead stays
    unowned; the board lists it once it has waited longer than the grace, and not before."""
    from projections.schema import UNOWNED_GRACE_S
    from tests.projection_support import envelope

    lead = envelope("unowned-1", "web_form", workspace.clock() - timedelta(minutes=5), "13912340001")
    [result] = workspace.app.record([lead])
    [placed] = result.placements
    project_pending(workspace.app, workspace.settings)
    director = workspace.sign_in("d-qian")

    def listed() -> set[str]:
        return {u["customer_id"] for u in director.get("/api/board").json()["unowned"]}

    assert str(placed.customer_id) not in listed()  # just recorded: within the grace
    workspace.clock.offset += timedelta(seconds=UNOWNED_GRACE_S + 60)
    try:
        director = workspace.sign_in("d-qian")
        assert str(placed.customer_id) in listed()
        page = director.get("/board", headers={"accept": "text/html"}).text
        assert 'id="unowned-panel"' in page and "无人负责的线索" in page
    finally:
        workspace.clock.offset -= timedelta(seconds=UNOWNED_GRACE_S + 60)
