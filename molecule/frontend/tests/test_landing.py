"""The landing page in a real browser (Debian's headless Chromium driven by Playwright)."""

from __future__ import annotations

import base64
import hashlib
import ssl
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def chromium(endpoint):
    """Chromium resolving the test names to the containers and trusting only the site's
    certificate (pinned by its public key: the browser's own CA store stays untouched)."""
    public = urlsplit(endpoint["public_url"])
    pem = ssl.get_server_certificate(
        (endpoint["hosts"].get(public.hostname, public.hostname), public.port or 443)
    )
    spki = (
        x509.load_pem_x509_certificate(pem.encode())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    rules = ",".join(f"MAP {name} {address}" for name, address in endpoint["hosts"].items())
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--host-resolver-rules={rules}",
                f"--ignore-certificate-errors-spki-list={pin}",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium, site):
    contexts = []

    def run(viewport):
        context = chromium.new_context(viewport=viewport, locale="en-US")
        contexts.append(context)
        page = context.new_page()
        problems = []
        page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
        page.on("pageerror", lambda err: problems.append(str(err)))
        response = page.goto(site + "/", wait_until="load")
        assert response.status == 200
        return page, problems

    yield run
    for context in contexts:
        context.close()


def test_cards_are_exactly_the_inventory_clusters(open_page, endpoint, artifacts):
    page, problems = open_page(DESKTOP)
    assert page.title() == endpoint["site_title"]
    assert page.locator("h1").inner_text() == endpoint["site_title"]
    assert page.locator("html").get_attribute("lang") == "en"
    cards = page.locator("li.cluster")
    assert cards.count() == len(endpoint["clusters"])
    for index, cluster in enumerate(endpoint["clusters"]):
        card = cards.nth(index)
        assert card.get_attribute("data-segment") == cluster["segment"]
        assert card.locator("h3").inner_text() == cluster["title"]
        assert card.locator(".description").inner_text() == cluster["description"]
        # accessible names say which cluster a link is for, not just "Launch"
        launch = page.get_by_role("link", name=f"Launch {cluster['title']}", exact=True)
        assert launch.get_attribute("href") == f"/jupyterhub/{cluster['segment']}/"
        info = page.get_by_role("link", name=f"More info about {cluster['title']}", exact=True)
        if cluster["info_url"]:
            assert info.get_attribute("href") == cluster["info_url"]
        else:
            # neither the cluster nor the site names a page: no link to nowhere
            assert info.count() == 0
    page.screenshot(path=str(artifacts / "landing-desktop.png"), full_page=True)
    assert problems == [], problems


def test_readable_on_a_phone(open_page, endpoint, artifacts):
    page, problems = open_page(PHONE)
    # no sideways scrolling; cards stack in one column
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    boxes = [page.locator("li.cluster").nth(i).bounding_box() for i in range(2)]
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]
    # touch targets of at least 44 CSS pixels
    launch = page.locator("a.launch").first.bounding_box()
    assert launch["height"] >= 44
    font = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert font >= 16
    page.screenshot(path=str(artifacts / "landing-phone.png"), full_page=True)
    assert problems == [], problems


def test_style_sheet_loads_under_the_content_security_policy(open_page):
    page, problems = open_page(DESKTOP)
    background = page.evaluate(
        "getComputedStyle(document.querySelector('a.launch')).backgroundColor"
    )
    # the button colour comes from sitehub.css: blocked CSS would leave it transparent
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert problems == [], problems


def test_keyboard_reaches_the_skip_link_first(open_page):
    page, _ = open_page(DESKTOP)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
