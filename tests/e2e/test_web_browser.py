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
