"""Regenerates the workspace screenshots in docs/ (``make screenshots`` or
``python -m tests.screenshots``): the demo's data in a real workspace, the system's headless
Chromium, the rep's desk and the director's board at 1400 px and on a 390 px phone."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.e2e.test_report import CHROMIUM_FLAGS
from tests.web_support import start_workspace

DOCS = Path(__file__).parents[1] / "docs"
SHOTS = {  # file in docs/ → (agent, path, width)
    "workspace-desk.png": ("a-wang", "/desk", 1400),
    "workspace-desk-phone.png": ("a-wang", "/desk", 390),
    "workspace-board.png": ("m-zhao", "/board", 1400),
    "workspace-board-phone.png": ("m-zhao", "/board", 390),
}


def main() -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium fonts-wqy-zenhei)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as data_dir:
        for workspace in start_workspace(Path(data_dir)):
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
                for name, (agent_id, path, width) in SHOTS.items():
                    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
                    page = context.new_page()
                    page.goto(f"{workspace.url}/login")
                    page.fill("input[name=agent_id]", agent_id)
                    page.fill("input[name=password]", workspace.passwords[agent_id])
                    page.click("#sign-in")
                    page.wait_for_selector("#who")
                    page.goto(f"{workspace.url}{path}")
                    page.screenshot(path=str(DOCS / name), full_page=True)
                    context.close()
                    print(f"docs/{name}")
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
