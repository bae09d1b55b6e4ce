"""Fixtures of the end-to-end test: the demo site (skipped when it is not up), Chromium, and
the artifacts folder (artifacts/e2e/, git-ignored) for screenshots and failure dumps.

Run: `pytest -q tests/e2e` after `make demo`. SITEHUB_E2E_REQUIRE=1 turns "demo not up"
into a failure (for CI, where a skip would hide a broken demo).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from e2e_site import CHROMIUM, REPO, DemoDown, DemoSite, check_up, chromium_args, load_site

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def pytest_runtest_makereport(item, call):
    # remembered on the item, so fixtures can dump the browser only when the test failed
    if call.when == "call":
        item.e2e_failed = call.excinfo is not None


@pytest.fixture(scope="session")
def demo() -> DemoSite:
    try:
        site = load_site()
        check_up(site)
    except (DemoDown, OSError, ValueError) as exc:
        message = f"the demo site is not up ({exc}); deploy it with `make demo`"
        if os.environ.get("SITEHUB_E2E_REQUIRE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return site


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """artifacts/e2e/, emptied at the start so its screenshots are this run's."""
    path = Path(os.environ.get("SITEHUB_E2E_ARTIFACTS", REPO / "artifacts" / "e2e"))
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="session")
def chromium(demo):
    """Debian's Chromium (never a downloaded browser), headless."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(demo)
        )
        yield browser
        browser.close()


@pytest.fixture
def flow(request, demo, chromium, artifacts):
    from e2e_flow import BrowserFlow

    browser_flow = BrowserFlow(demo, chromium, artifacts)
    yield browser_flow
    if getattr(request.node, "e2e_failed", False) and browser_flow.page.url != "about:blank":
        # an assertion outside a step (those dump themselves): the page as it was
        png, txt = browser_flow.dump("FAILED-final")
        print(f"\nfailure screenshot: {png}\npage text: {txt}")
    browser_flow.close()
