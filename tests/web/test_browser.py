"""The pages in a real browser (headless Chromium): browsing with and without JavaScript, languages, keyboard
focus, accessibility (axe-core), the offline API documentation, and layouts that fit a phone.

``POLLINATE_SCREENSHOTS=DIR`` also saves a screenshot of every page at desktop (1280 px) and phone (390 px)
width, in English and French, into DIR (for people to look at; the tests never compare pictures).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import CONFIDENTIAL_TITLE, Site

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# axe-core impacts that fail a page.
FAILING_IMPACTS = {"serious", "critical"}


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own cookies) in English, with JavaScript; console errors are collected on it."""
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    tab = context.new_page()
    tab.console_errors = []
    tab.on("console", lambda m: tab.console_errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()


def results_count(page: Any) -> int:
    text = page.locator(".results__count").inner_text()
    match = re.match(r"\s*([\d,]+)", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def query_of(url: str) -> str:
    return urlsplit(url).query


# ------------------------------------------------------------------------------------------ browsing


def test_facets_update_the_results_in_place_with_javascript(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/offers")
    everything = results_count(page)
    page.evaluate("window.__sameDocument = true")  # survives htmx swaps, not a page load
    with page.expect_response(lambda r: "type=training" in r.url):
        page.get_by_label(re.compile(r"^Training")).check()
    page.wait_for_url(re.compile(r"type=training"))
    assert 0 < results_count(page) < everything
    assert page.evaluate("window.__sameDocument") is True
    # Focus stays on the checkbox that was used, so keyboard users keep their place.
    assert page.evaluate("document.activeElement.id") == "f-type-training"
    page.locator("summary", has_text="KMGBF target").click()  # the long list of targets starts folded
    with page.expect_response(lambda r: "target=6" in r.url):
        page.locator("#f-target-6").check()
    page.wait_for_url(re.compile(r"target=6"))
    narrowed = results_count(page)
    # The address is the state: loading it again shows the same listing.
    page.goto(page.url)
    assert results_count(page) == narrowed
    assert page.locator("#f-type-training").is_checked() and page.locator("#f-target-6").is_checked()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_facets_and_search_work_without_javascript(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False, locale="en-GB")
    tab = context.new_page()
    try:
        tab.goto(f"{site.url}/offers")
        everything = results_count(tab)
        tab.get_by_label(re.compile(r"^Training")).check()
        tab.get_by_role("button", name="Apply filters").click()
        tab.wait_for_url(re.compile(r"type=training"))
        training = results_count(tab)
        assert 0 < training < everything
        tab.get_by_label("Describe the help you need").fill("rats seabird eggs islands")
        tab.get_by_role("button", name="Search").click()
        tab.wait_for_url(re.compile(r"q=rats"))
        assert "most relevant first" in tab.locator(".results__count").inner_text()
        assert "type=training" in query_of(tab.url)
        # A chosen filter is removed by its link.
        tab.get_by_role("link", name=re.compile("Training")).first.click()
        tab.wait_for_url(lambda url: "type=training" not in url)
    finally:
        context.close()


def test_search_with_javascript_ranks_and_keeps_the_address(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/offers")
    box = page.get_by_label("Describe the help you need")
    box.fill("rats seabird eggs islands")
    with page.expect_response(lambda r: "q=rats" in r.url):
        box.press("Enter")
    page.wait_for_url(re.compile(r"q=rats"))
    assert "most relevant first" in page.locator(".results__count").inner_text()
    first = page.locator(".card__title a").first
    first.click()
    page.wait_for_url(re.compile(r"/offers/\d+$"))
    assert "rat" in page.locator(".prose").inner_text().lower()


def test_confidential_need_is_not_found_in_the_browser(site: Site, page: Any) -> None:
    response = page.goto(f"{site.url}/needs/{site.confidential_need}")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    page.goto(f"{site.url}/needs?country=KEN")
    assert CONFIDENTIAL_TITLE not in page.content()


# ----------------------------------------------------------------------------------------- languages


def test_the_language_switcher_sets_french_for_the_next_pages(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/offers?target=6")
    page.get_by_role("link", name="Français").click()
    page.wait_for_url(re.compile(r"/offers\?target=6$"))
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", level=1).inner_text() == "Offres d'appui"
    assert page.locator("#f-target-6 + label").inner_text().startswith("6. Espèces exotiques envahissantes")
    page.get_by_role("link", name="Besoins", exact=True).click()  # the choice is remembered
    assert page.get_by_role("heading", level=1).inner_text() == "Besoins"


def test_a_french_browser_gets_french_pages(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    tab = context.new_page()
    try:
        tab.goto(f"{site.url}/")
        assert tab.locator("html").get_attribute("lang") == "fr"
        assert "Cibles" in tab.content() or "cible" in tab.content()
        assert tab.get_by_role("link", name=re.compile(r"Espèces exotiques envahissantes")).count() == 1
    finally:
        context.close()


# ------------------------------------------------------------------------------------------ keyboard


def test_keyboard_focus_is_visible(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/offers")
    page.keyboard.press("Tab")
    skip = page.evaluate("document.activeElement.className")
    assert skip == "skip-link"
    box = page.evaluate(
        "(() => { const r = document.activeElement.getBoundingClientRect(); return [r.top, r.bottom]; })()"
    )
    assert box[0] >= 0 and box[1] > box[0], "the skip link shows itself when focused"
    for _ in range(6):
        page.keyboard.press("Tab")
        style = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth, s.boxShadow]; })()"
        )
        _tag, outline, width, shadow = style
        visible_outline = outline != "none" and float(width.removesuffix("px")) >= 2
        assert visible_outline or shadow != "none", style


# ------------------------------------------------------------------------------------ accessibility


def axe_pages(site: Site) -> list[str]:
    return [
        "/",
        "/offers",
        "/needs",
        f"/needs/{site.public_need}",
        f"/offers/{site.active_offer}",
        "/providers",
    ]


def test_pages_have_no_serious_accessibility_violations(site: Site, browser: Any, axe_source: str) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    tab = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for path in axe_pages(site):
            tab.goto(f"{site.url}{path}")
            tab.evaluate(axe_source)  # evaluated by the driver: the page's CSP (no inline script) stays on
            result = tab.evaluate("axe.run(document, {resultTypes: ['violations']})")
            failing = [v for v in result["violations"] if v["impact"] in FAILING_IMPACTS]
            found[path] = [f"{v['id']} ({v['impact']}): {len(v['nodes'])} nodes" for v in failing]
    finally:
        context.close()
    assert not any(found.values()), found


# ------------------------------------------------------------------------------------ API documentation


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")])
def test_api_docs_render_with_no_request_leaving_localhost(site: Site, page: Any, path: str, ready: str) -> None:
    """Every request goes to 127.0.0.1, except ReDoc's attempt to show its vendor's logo from a CDN (hard-coded
    in its bundle), which the page's Content Security Policy stops before it is sent."""
    requests: list[str] = []
    responses: list[str] = []
    blocked: dict[str, str | None] = {}
    page.on("request", lambda r: requests.append(r.url))
    page.on("response", lambda r: responses.append(r.url))
    page.on("requestfailed", lambda r: blocked.update({r.url: r.failure}))
    page.goto(f"{site.url}{path}")
    heading = page.locator(ready).first
    heading.wait_for(timeout=30_000)
    assert "Pollinate" in heading.inner_text()
    page.wait_for_load_state("networkidle")
    assert requests and responses

    def local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob") or (parts.scheme == "http" and parts.hostname == "127.0.0.1")

    outside = [u for u in requests if not local(u)]
    assert all(blocked.get(u) in ("csp", "net::ERR_BLOCKED_BY_CSP") for u in outside), (outside, blocked)
    assert all(local(u) for u in responses), responses


# ---------------------------------------------------------------------------------------- phone layout


@pytest.mark.parametrize("language", ["en", "fr"])
def test_pages_fit_a_phone_and_a_desktop(site: Site, browser: Any, language: str) -> None:
    """No page scrolls sideways at phone or desktop width (and, when asked, screenshots are saved)."""
    shots = os.environ.get("POLLINATE_SCREENSHOTS")
    paths = [*axe_pages(site), f"/providers/{site.provider}", "/offers?type=training&region=Africa", "/nope"]
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, locale=language)
        tab = context.new_page()
        try:
            for path in paths:
                tab.goto(f"{site.url}{path}")
                overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, (name, path, overflow)
                if shots:
                    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
                    Path(shots).mkdir(parents=True, exist_ok=True)
                    tab.screenshot(path=f"{shots}/{slug}-{language}-{name}.png", full_page=True)
        finally:
            context.close()
