"""Browser fixtures for the workspace's tests: the system's Chromium (never a downloaded one),
driven by Playwright, and pages signed in through the form. A module provides ``workspace``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_report import CHROMIUM_FLAGS
from tests.web_support import RunningWorkspace

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="module")
def chromium_path() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.skip("CHROMIUM NOT AVAILABLE (make test installs Debian's chromium as root): NOT checked")
    return found


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page_for(browser: Any, workspace: RunningWorkspace) -> Iterator[Any]:
    contexts = []

    def signed_in(agent_id: str, width: int = WIDTHS["desktop"]) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.errors = errors
        page.goto(f"{workspace.url}/login")
        page.fill("input[name=agent_id]", agent_id)
        page.fill("input[name=password]", workspace.passwords[agent_id])
        page.click("#sign-in")
        page.wait_for_selector("#who")
        return page

    yield signed_in
    for context in contexts:
        context.close()


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
