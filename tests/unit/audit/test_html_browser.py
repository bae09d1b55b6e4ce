"""The HTML report in real Chromium: readable, offline, the facts an auditor looks for visible."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitehub.audit.render import to_html

from .conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts" / "audit"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make setup)"
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def test_example_site_report_in_chromium(browser, example_report):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page_file = ARTIFACTS / "example-site.html"
    page_file.write_text(to_html(example_report), encoding="utf-8")
    page = browser.new_page()
    requests = []
    # anything the page asks for besides itself is a fetch it must not make
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    assert requests == [page_file.as_uri()]
    assert page.title() == "Audit of site example (Example Facility JupyterHub)"
    heading = page.locator("h1")
    assert heading.is_visible() and "Audit of site example" in heading.inner_text()
    for title in (
        "Public URL paths",
        "Authentication chain",
        "Who may use what",
        "Listening ports and who may connect",
        "Secrets (names and origins, never values)",
        "Departures from the recommended settings",
    ):
        assert page.get_by_role("heading", name=title).is_visible()
    # a balancer member row as a table row, and a grant an auditor looks for
    row = page.locator("tr", has_text="hpc-ic-ic20")
    assert "jupyter20.example.org" in row.first.inner_text()
    assert page.get_by_text(
        "account tier3 may use partition usatlas on cluster hpc-ic"
    ).is_visible()
    # public paths are marked (red, bold) so they stand out
    marked = page.locator("td.public").first
    assert marked.inner_text() == "none"
    assert marked.evaluate("e => getComputedStyle(e).fontWeight") == "600"
    # the table of contents jumps to a section
    page.get_by_role("link", name="Secrets (names and origins, never values)").click()
    assert page.url.endswith("#secrets")
    page.screenshot(path=str(ARTIFACTS / "example-site.png"), full_page=True)
    assert (ARTIFACTS / "example-site.png").stat().st_size > 10_000
    page.close()
