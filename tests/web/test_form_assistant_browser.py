"""The need-writing assistant in a real browser (headless Chromium): with JavaScript, a French Party types its
draft and htmx brings the suggestions and prompts in French into the form — after a pause in typing, not at
every keystroke, and without leaving the page; "Cocher" ticks the box in the form. axe-core finds no serious or
critical violation on the form with the suggestions shown, and no page scrolls sideways on a phone.

``POLLINATE_SCREENSHOTS=DIR`` also saves screenshots (desktop and phone, English and French):
``assistant-<language>-<width>.png``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from api.web.auth import SESSION_COOKIE
from tests.factories import web_session
from tests.web.conftest import Site, unique_name

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FAILING_IMPACTS = {"serious", "critical"}
DRAFTS = {
    "fr": (
        "Restauration des mangroves du delta",
        "Les mangroves du delta sont coupées pour le bois de chauffe. Nous avons besoin de conseils techniques "
        "et d'une formation pour restaurer les mangroves avec les communautés de pêcheurs.",
    ),
    "en": (
        "Restoring mangroves on our coast",
        "Our coastal mangroves are cut for charcoal and firewood. We need technical advice and training to "
        "restore mangrove forests with fishing communities, and to monitor the replanted areas.",
    ),
}
LABELS = {"fr": ("Titre", "Description"), "en": ("Title", "Description")}


def party_context(site: Site, browser: Any, *, locale: str, viewport: dict[str, int] = DESKTOP) -> Any:
    """A browser context in ``locale`` signed in as a new Party of Senegal."""
    db = site.database()
    try:
        token = web_session(db, role="party", name=unique_name("browser-assist-SEN"), country="SEN")
    finally:
        db.dispose()
    context = browser.new_context(locale=locale, viewport=viewport)
    context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": site.url}])
    return context


def draft_with_suggestions(tab: Any, site: Site, language: str) -> None:
    """Open the form, write the draft, and wait for htmx to bring the assistant's answer."""
    tab.goto(f"{site.url}/needs/new")
    title, description = DRAFTS[language]
    title_label, description_label = LABELS[language]
    tab.get_by_label(title_label, exact=True).fill(title)
    with tab.expect_response(lambda r: r.url.endswith("/needs/new/assist")):
        tab.get_by_label(description_label, exact=True).fill(description)
    tab.locator("#assistant .suggestion").first.wait_for()


def test_with_javascript_a_french_party_gets_suggestions_as_it_types(site: Site, browser: Any) -> None:
    context = party_context(site, browser, locale="fr-FR")
    tab = context.new_page()
    calls: list[str] = []
    tab.on("request", lambda r: calls.append(r.url) if r.url.endswith("/needs/new/assist") else None)
    try:
        tab.goto(f"{site.url}/needs/new")
        tab.evaluate("window.__sameDocument = true")
        title, description = DRAFTS["fr"]
        tab.get_by_label("Titre", exact=True).fill(title)
        # Typed key by key: the assistant is asked after a pause, not at every keystroke.
        with tab.expect_response(lambda r: r.url.endswith("/needs/new/assist")):
            tab.get_by_label("Description", exact=True).press_sequentially(description[:60], delay=5)
        assert 1 <= len(calls) < 10, calls
        tab.get_by_label("Description", exact=True).fill(description)
        assistant = tab.locator("#assistant")
        assistant.locator(".suggestion").first.wait_for()
        text = assistant.inner_text()
        assert "Cibles du CMBKM dont parle votre texte" in text
        assert "Indiquez pour quand vous avez besoin de l'appui" in text
        assert re.search(r"(très probable|probable|possible) \(\d+\s%\)", text), text
        assert tab.evaluate("window.__sameDocument") is True  # the page was never reloaded
        assert tab.locator("#assistant-status").inner_text() == "Suggestions mises à jour pour votre brouillon."
        # Nothing is ticked until the Party clicks; then exactly that box.
        assert tab.locator("input[name=targets]:checked").count() == 0
        button = assistant.get_by_role("button", name=re.compile(r"^Cocher \d+\.")).first
        number = button.get_attribute("value")
        with tab.expect_response(lambda r: r.url.endswith("/needs/new/assist")):
            button.click()
        assert tab.locator(f"#target-{number}").is_checked()
        assert tab.locator("input[name=targets]:checked").count() == 1
        tab.locator(f"#assistant button[name=tick_target][value='{number}']").wait_for(state="detached")
        assert "Coché" in assistant.inner_text()
        assert tab.evaluate("window.__sameDocument") is True
        assert tab.url.endswith("/needs/new")
    finally:
        context.close()


def _axe(tab: Any, axe_source: str) -> list[str]:
    tab.evaluate(axe_source)
    result = tab.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in FAILING_IMPACTS
    ]


def test_the_form_with_suggestions_has_no_serious_accessibility_violations(
    site: Site, browser: Any, axe_source: str
) -> None:
    found: dict[str, list[str]] = {}
    for language in ("en", "fr"):
        context = party_context(site, browser, locale=language)
        tab = context.new_page()
        try:
            draft_with_suggestions(tab, site, language)
            found[language] = _axe(tab, axe_source)
        finally:
            context.close()
    assert not any(found.values()), found


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_form_with_suggestions_fits_a_phone_and_a_desktop(site: Site, browser: Any, language: str) -> None:
    shots = os.environ.get("POLLINATE_SCREENSHOTS")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = party_context(site, browser, locale=language, viewport=viewport)
        tab = context.new_page()
        try:
            draft_with_suggestions(tab, site, language)
            overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, overflow)
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                tab.locator("#assistant").scroll_into_view_if_needed()
                tab.screenshot(path=f"{shots}/assistant-{language}-{name}.png", full_page=True)
        finally:
            context.close()
