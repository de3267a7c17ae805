"""The workspace in a real headless Chromium (the system's, never a downloaded one):
reps, directors and execs sign in through the form and see exactly their customers, a forged
cookie lands on the sign-in page, and every page fits a 390 px phone. Screenshots go to
tests/artifacts/. The rep's day (answering, correcting, live desk) is test_web_rep_day.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ARTIFACTS, WIDTHS, fits
from tests.web_support import RunningWorkspace, expected_customers, start_workspace

pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    yield from start_workspace(tmp_path_factory.mktemp("web-browser"))


def customers_on(page: object, url: str) -> set[str]:
    page.goto(url)  # type: ignore[attr-defined]
    return set(
        page.eval_on_selector_all("#customers tr[data-customer]", "rows => rows.map(r => r.dataset.customer)")
    )  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("agent_id", "role", "home"),
    [
        ("a-wang", "sales:a-wang", "/desk"),
        ("m-zhao", "director:m-zhao", "/board"),
        ("d-qian", "exec", "/board"),
    ],
)
def test_each_role_signs_in_and_sees_exactly_its_customers(
    page_for: object, workspace: RunningWorkspace, agent_id: str, role: str, home: str
) -> None:
    page = page_for(agent_id)  # type: ignore[operator]

    assert page.url.endswith(home)
    assert role == page.get_attribute("#who", "data-role")
    assert expected_customers(workspace, agent_id) == customers_on(page, f"{workspace.url}/customers")
    assert [] == page.errors


@pytest.mark.parametrize("agent_id", ["a-wang", "m-zhao", "d-qian"])
@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_every_page_fits_the_screen_and_is_saved_as_a_screenshot(
    page_for: object, workspace: RunningWorkspace, agent_id: str, width_name: str
) -> None:
    page = page_for(agent_id, WIDTHS[width_name])  # type: ignore[operator]
    customer = sorted(expected_customers(workspace, agent_id))[0]
    paths = ["/desk", "/customers", f"/customers/{customer}"] + ([] if agent_id == "a-wang" else ["/board"])
    ARTIFACTS.mkdir(exist_ok=True)

    overflowing = []
    for path in paths:
        page.goto(f"{workspace.url}{path}")
        name = path.strip("/").split("/")[0] + ("-one" if path.count("/") > 1 else "")
        shot = ARTIFACTS / f"web-{agent_id}-{name}-{width_name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5_000
        if not fits(page):
            overflowing.append(path)

    assert [] == overflowing
    assert [] == page.errors


def test_a_rep_opening_another_reps_customer_by_url_sees_not_found(
    page_for: object, workspace: RunningWorkspace
) -> None:
    page = page_for("a-wang")  # type: ignore[operator]
    other = sorted(c for c, o in workspace.owners().items() if o == "a-li")[0]

    response = page.goto(f"{workspace.url}/customers/{other}")

    assert 404 == response.status
    assert "未找到" in page.inner_text("#message")


def test_a_forged_cookie_in_the_browser_lands_on_the_sign_in_page(
    browser: object, workspace: RunningWorkspace
) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    context.add_cookies(
        [
            {
                "name": "eventchain_session",
                "value": "eyJhZ2VudCI6ICJkLXFpYW4iLCAicm9sZSI6ICJleGVjIn0=.forged",
                "url": workspace.url,
            }
        ]
    )
    page = context.new_page()

    page.goto(f"{workspace.url}/board")

    assert page.url.endswith("/login")
    context.close()


def test_the_workspace_switches_to_english(page_for: object, workspace: RunningWorkspace) -> None:
    page = page_for("m-zhao")  # type: ignore[operator]

    page.goto(f"{workspace.url}/board?lang=en")

    assert "Per rep" in page.inner_text("main") and "销售明细" not in page.inner_text("main")


def snapshot(workspace: RunningWorkspace, sql: str, parameters: list[object]) -> list[tuple]:  # type: ignore[type-arg]
    import duckdb

    with duckdb.connect(str(workspace.settings.snapshot_path), read_only=True) as connection:
        return connection.execute(sql, parameters).fetchall()


def test_the_escalation_list_shows_which_are_answered_and_the_response(
    page_for: object, workspace: RunningWorkspace
) -> None:
    page = page_for("m-zhao")  # type: ignore[operator]
    page.goto(f"{workspace.url}/board")

    rows = page.eval_on_selector_all(
        "#escalations tr[data-customer]", "rows => rows.map(r => [r.dataset.customer, r.className])"
    )
    assert rows, "the demo escalates overdue leads to m-zhao"
    answered = dict(
        snapshot(
            workspace,
            "SELECT customer_id::VARCHAR, first_response_at IS NOT NULL FROM lead_response "
            "WHERE list_contains(?, customer_id::VARCHAR)",
            [[c for c, _ in rows]],
        )
    )
    assert {c: ("answered" if answered[c] else "unanswered") for c, _ in rows} == dict(rows)
    statuses = page.eval_on_selector_all("#escalations td.status", "cells => cells.map(c => c.innerText)")
    assert set(statuses) <= {"已响应", "未响应"}


def test_the_team_waiting_leads_are_on_the_directors_desk(
    page_for: object, workspace: RunningWorkspace
) -> None:
    page = page_for("m-zhao")  # type: ignore[operator]
    page.goto(f"{workspace.url}/desk")

    shown = set(
        page.eval_on_selector_all(
            "#team-waiting li[data-customer]", "rows => rows.map(r => r.dataset.customer)"
        )
    )
    team = expected_customers(workspace, "m-zhao")
    waiting = {
        c
        for (c, owner) in snapshot(
            workspace,
            "SELECT customer_id::VARCHAR, owner_agent_id FROM lead_response WHERE first_response_at IS NULL",
            [],
        )
        if c in team and owner != "m-zhao"
    }
    assert waiting, "the demo leaves team leads unanswered"
    assert waiting == shown


def test_a_period_chosen_once_is_honoured_by_every_panel_and_drill_down(
    page_for: object, workspace: RunningWorkspace
) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    china = ZoneInfo("Asia/Shanghai")
    [(first, last)] = snapshot(workspace, "SELECT min(lead_at), max(lead_at) FROM lead_response", [])
    start = first.astimezone(china).date() + timedelta(days=1)
    end = last.astimezone(china).date() - timedelta(days=1)
    page = page_for("d-qian")  # type: ignore[operator]
    page.goto(f"{workspace.url}/board")
    page.fill("#period input[name=from]", start.isoformat())
    page.fill("#period input[name=to]", end.isoformat())
    page.click("#period button")
    page.wait_for_url("**/board?from=*")

    from_ts = datetime.combine(start, datetime.min.time(), tzinfo=china)
    to_ts = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=china)
    expected = dict(
        snapshot(
            workspace,
            "SELECT channel, leads FROM ctre_between(?, ?, (SELECT as_of FROM ec.watermark))",
            [from_ts, to_ts],
        )
    )
    [(ctre_hours,)] = snapshot(
        workspace,
        "SELECT ctre_hours FROM ctre_between(?, ?, (SELECT as_of FROM ec.watermark)) WHERE channel = '*'",
        [from_ts, to_ts],
    )
    assert f"{ctre_hours:,.2f}" in page.inner_text("#ctre-total")
    lead_cells = page.eval_on_selector_all(
        "#funnel-channel tr", "rows => rows.slice(1).map(r => [r.cells[0].innerText, r.cells[1].innerText])"
    )
    funnel = {channel: int(n.split()[0]) for channel, n in lead_cells}
    labels = {
        "web_form": "官网表单",
        "douyin_dm": "抖音私信",
        "expo_scan": "展会扫码",
        "call_400": "400 电话",
    }
    assert {labels.get(c, c): n for c, n in expected.items() if c != "*"} == funnel
    links = page.eval_on_selector_all("main a[href^='/customers?']", "links => links.map(a => a.href)")
    assert links and all(f"from={start}" in link and f"to={end}" in link for link in links)
    drill = page.eval_on_selector("#funnel-channel tr:nth-child(2) td a", "a => [a.href, a.innerText]")
    page.goto(drill[0])
    assert int(drill[1]) == int(page.inner_text("#customers-total"))
