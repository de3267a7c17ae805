"""Sessions in a real headless Chromium (issue 29): a rep signed in from two browsers sees both
on 我的设备 and ends the other, whose next request goes to sign-in; a rep reading past the
read-alert threshold, when the rules say freeze, is signed out everywhere and held until
their director releases them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_support import RunningWorkspace, start_workspace  # browser: tests/e2e/conftest.py

playwright = pytest.importorskip("playwright.sync_api")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
ALERT_ROWS = 60  # the freeze workspace's threshold: customers' rows per actor per window


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorkspace]:
    """Alerts that freeze, on the row count only (not on the hour the suite runs at)."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("EVENTCHAIN_READ_ALERT_ACTION", "freeze")
        environment.setenv("EVENTCHAIN_READ_ALERT_ROWS", str(ALERT_ROWS))
        environment.setenv("EVENTCHAIN_READ_ALERT_HOURS", "off")
        yield from start_workspace(tmp_path_factory.mktemp("sessions-browser"))


def signed_in(browser: object, workspace: RunningWorkspace, agent_id: str, user_agent: str) -> object:
    context = browser.new_context(locale="zh-CN", user_agent=user_agent)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{workspace.url}/login")
    page.fill("input[name=agent_id]", agent_id)
    page.fill("input[name=password]", workspace.passwords[agent_id])
    page.click("#sign-in")
    page.wait_for_selector("#who")
    return page


WINDOWS_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
ANDROID_WECHAT = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116.0 Mobile MicroMessenger/8.0"


def test_a_rep_sees_both_browsers_on_my_devices_and_ends_the_other(
    browser: object, workspace: RunningWorkspace
) -> None:
    office = signed_in(browser, workspace, "a-li", WINDOWS_CHROME)
    phone = signed_in(browser, workspace, "a-li", ANDROID_WECHAT)

    office.click("#my-devices")  # type: ignore[attr-defined]
    rows = office.locator("#my-sessions tr[data-session]")  # type: ignore[attr-defined]
    shown = [rows.nth(n).inner_text() for n in range(rows.count())]
    ARTIFACTS.mkdir(exist_ok=True)
    office.screenshot(path=str(ARTIFACTS / "my-devices.png"), full_page=True)  # type: ignore[attr-defined]
    other = office.locator("#my-sessions tr[data-session]:not(:has(.this-device))")  # type: ignore[attr-defined]
    other.locator("button.end-session").click()
    office.wait_for_url("**/devices")  # type: ignore[attr-defined]
    remaining = office.locator("#my-sessions tr[data-session]").count()  # type: ignore[attr-defined]
    phone.goto(f"{workspace.url}/desk")  # type: ignore[attr-defined]

    assert 2 == len(shown)
    assert any("Chrome · Windows" in row and "本机" in row for row in shown)
    assert any("微信 · Android" in row for row in shown)
    assert all("127.0.0.1" in row for row in shown)
    assert 1 == remaining
    assert phone.url.endswith("/login")  # type: ignore[attr-defined]
    office.goto(f"{workspace.url}/desk")  # type: ignore[attr-defined]
    assert office.url.endswith("/desk")  # type: ignore[attr-defined]


def test_a_rep_reading_past_the_threshold_is_frozen_until_the_director_releases(
    browser: object, workspace: RunningWorkspace
) -> None:
    exporting = signed_in(browser, workspace, "a-wang", WINDOWS_CHROME)
    elsewhere = signed_in(browser, workspace, "a-wang", ANDROID_WECHAT)

    statuses = []
    for _ in range(ALERT_ROWS + 1):  # every read returns at least one row, or the loop ends
        response = exporting.goto(f"{workspace.url}/customers")  # type: ignore[attr-defined]
        statuses.append(response.status)
        if response.status != 200 or exporting.url.endswith("/login"):  # type: ignore[attr-defined]
            break
    elsewhere.goto(f"{workspace.url}/desk")  # type: ignore[attr-defined]
    exporting.goto(f"{workspace.url}/login")  # type: ignore[attr-defined]
    exporting.fill("input[name=agent_id]", "a-wang")  # type: ignore[attr-defined]
    exporting.fill("input[name=password]", workspace.passwords["a-wang"])  # type: ignore[attr-defined]
    exporting.click("#sign-in")  # type: ignore[attr-defined]
    held_message = exporting.inner_text("#message")  # type: ignore[attr-defined]

    assert 200 == statuses[0] and 403 == statuses[-1]  # the read that crossed it never left
    assert elsewhere.url.endswith("/login")  # type: ignore[attr-defined]
    assert "冻结" in held_message

    director = signed_in(browser, workspace, "m-zhao", WINDOWS_CHROME)
    director.goto(f"{workspace.url}/devices")  # type: ignore[attr-defined]
    director.click("#held tr[data-agent='a-wang'] button.release")  # type: ignore[attr-defined]
    director.wait_for_selector("#notice")  # type: ignore[attr-defined]
    released = signed_in(browser, workspace, "a-wang", WINDOWS_CHROME)

    assert 0 == director.locator("#held tr[data-agent='a-wang']").count()  # type: ignore[attr-defined]
    assert released.url.endswith("/desk")  # type: ignore[attr-defined]
