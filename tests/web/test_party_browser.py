"""The Party's journey in a real browser (headless Chromium): a Party whose browser is in French posts a need
without JavaScript and reads its ranked providers in French; with JavaScript, shortlisting swaps only the
provider's card; axe-core finds no serious or critical violation on the form, the form with errors, the
ranked providers and "my needs"; no page scrolls sideways on a phone.

``POLLINATE_SCREENSHOTS=DIR`` also saves screenshots of these pages (desktop and phone, French and English).
Needs posted here are confidential, so the public listings other tests count do not change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.web.auth import SESSION_COOKIE
from tests.factories import web_session
from tests.web.conftest import Site, unique_name

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FAILING_IMPACTS = {"serious", "critical"}
FRENCH_VERDICTS = {"Très bonne adéquation", "Bonne adéquation", "Adéquation possible", "Faible adéquation"}
TITLE_FR = "Restauration des mangroves du delta"
DESCRIPTION_FR = (
    "Les mangroves du delta sont coupées pour le bois de chauffe. Nous avons besoin de conseils techniques et "
    "d'une formation pour restaurer les mangroves avec les communautés de pêcheurs et suivre les replantations."
)


def signed_in_context(site: Site, browser: Any, *, locale: str, country: str = "SEN", **options: Any) -> Any:
    """A browser context in ``locale`` signed in as a new Party of ``country`` (its session cookie)."""
    db = site.database()
    try:
        name = unique_name(f"browser-party-{country}")
        token = web_session(db, role="party", name=name, country=country)
    finally:
        db.dispose()
    context = browser.new_context(locale=locale, viewport=options.pop("viewport", DESKTOP), **options)
    context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": site.url}])
    return context


def post_french_need(tab: Any, site: Site) -> str:
    """Fill in and send the form as a French reader would; the address of the need's workspace."""
    tab.goto(f"{site.url}/needs/new")
    tab.get_by_label("Titre").fill(TITLE_FR)
    tab.get_by_label("Description").fill(DESCRIPTION_FR)
    tab.get_by_label(re.compile(r"^2\. ")).check()
    tab.get_by_label(re.compile(r"^8\. ")).check()
    tab.get_by_label(re.compile(r"^Formation")).check()
    tab.get_by_label(re.compile(r"^Conseil technique")).check()
    tab.get_by_label(re.compile(r"^Confidentiel")).check()
    tab.get_by_role("button", name="Publier le besoin et voir les prestataires").click()
    tab.wait_for_url(re.compile(r"/my/needs/\d+$"))
    return str(tab.url)


@pytest.fixture(scope="module")
def french_need(site: Site, browser: Any) -> Iterator[tuple[Any, str]]:
    """A French Party's browser (no JavaScript) that has just posted a need, and the need's workspace address."""
    context = signed_in_context(site, browser, locale="fr-FR", java_script_enabled=False)
    tab = context.new_page()
    try:
        yield context, post_french_need(tab, site)
    finally:
        context.close()


def test_a_french_party_posts_a_need_and_reads_its_providers_in_french(french_need: tuple[Any, str]) -> None:
    context, address = french_need
    tab = context.new_page()
    tab.goto(address)
    assert tab.locator("html").get_attribute("lang") == "fr"
    assert tab.get_by_role("heading", level=1).inner_text() == TITLE_FR
    assert tab.get_by_role("heading", name="Prestataires qui pourraient aider").count() == 1
    cards = tab.locator("li.match")
    assert cards.count() >= 1
    verdicts = {v.strip() for v in tab.locator(".verdict__label").all_inner_texts()}
    assert verdicts and verdicts <= FRENCH_VERDICTS, verdicts
    # The explanation in French (summary and reasons), not the engine's English.
    summary = cards.first.locator(".match__summary").inner_text()
    assert " propose « " in summary, summary
    reasons = " ".join(cards.first.locator(".match__reasons li").all_inner_texts())
    assert reasons and " offers " not in summary and "Shares" not in reasons, reasons
    assert tab.get_by_role("button", name=re.compile("^Ajouter à la présélection")).count() == cards.count()
    tab.close()


def test_without_javascript_a_french_party_shortlists_and_asks_for_contact(french_need: tuple[Any, str]) -> None:
    context, address = french_need
    tab = context.new_page()
    tab.goto(address)
    card = tab.locator("li.match").first
    offer = card.get_attribute("id")
    card.get_by_role("button", name=re.compile("^Ajouter à la présélection")).click()
    tab.wait_for_url(re.compile(rf"#{offer}$"))
    card = tab.locator(f"#{offer}")
    assert "Dans votre présélection" in card.inner_text()
    card.locator("summary").click()
    card.get_by_label(re.compile("^Votre message à")).fill("Nous aimerions parler d'une formation en 2027.")
    card.get_by_role("button", name="Envoyer la demande").click()
    tab.wait_for_url(re.compile(rf"#{offer}$"))
    assert "Mise en contact demandée le" in tab.locator(f"#{offer}").inner_text()
    tab.goto(address.split("/my/needs/")[0] + "/my/needs")
    assert "1 prestataire présélectionné" in tab.locator("main").inner_text()
    tab.close()


def test_with_javascript_shortlisting_swaps_only_the_card(site: Site, browser: Any) -> None:
    context = signed_in_context(site, browser, locale="en-GB")
    tab = context.new_page()
    try:
        post_english = tab.goto(f"{site.url}/needs/new")
        assert post_english is not None and post_english.status == 200
        tab.get_by_label("Title").fill("Seed bank for drylands")
        tab.get_by_label("Description").fill(
            "We need training to run a seed bank for dryland plants in the Sahel."
        )
        tab.get_by_label(re.compile(r"^4\. ")).check()
        tab.get_by_label(re.compile(r"^Training")).check()
        tab.get_by_label(re.compile(r"^Confidential")).check()
        tab.get_by_role("button", name="Post the need and see providers").click()
        tab.wait_for_url(re.compile(r"/my/needs/\d+$"))
        tab.evaluate("window.__sameDocument = true")
        card = tab.locator("li.match").first
        offer = card.get_attribute("id")
        with tab.expect_response(lambda r: r.url.endswith("/shortlist") or "#offer-" in r.url):
            card.get_by_role("button", name=re.compile("^Add to shortlist")).click()
        tab.locator(f"#{offer} .match__state").wait_for()
        assert "On your shortlist" in tab.locator(f"#{offer}").inner_text()
        assert tab.evaluate("window.__sameDocument") is True
        assert tab.locator(f"#{offer}").count() == 1
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


def test_the_partys_pages_have_no_serious_accessibility_violations(
    site: Site, browser: Any, axe_source: str, french_need: tuple[Any, str]
) -> None:
    _context, address = french_need
    workspace = address.split("127.0.0.1")[1].split(":", 1)[1].split("/", 1)[1]
    found: dict[str, list[str]] = {}
    for locale in ("en-GB", "fr-FR"):
        context = signed_in_context(site, browser, locale=locale)
        tab = context.new_page()
        try:
            for path in ("/needs/new", "/my/needs"):
                tab.goto(f"{site.url}{path}")
                found[f"{locale} {path}"] = _axe(tab, axe_source)
            tab.goto(f"{site.url}/needs/new")
            tab.get_by_role("button", name=re.compile("^(Post the need|Publier le besoin)")).click()
            tab.locator("#error-summary").wait_for()
            found[f"{locale} form with errors"] = _axe(tab, axe_source)
        finally:
            context.close()
    # The ranked providers, read by the secretariat (the need's Party is another browser).
    staff = browser.new_context(locale="fr-FR", viewport=DESKTOP)
    db = site.database()
    try:
        token = web_session(db, role="secretariat", name=unique_name("browser-staff"))
    finally:
        db.dispose()
    staff.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": site.url}])
    tab = staff.new_page()
    try:
        tab.goto(f"{site.url}/{workspace}")
        assert tab.locator("li.match").count() >= 1
        tab.locator("li.match details").first.locator("summary").click()  # the contact form, open
        found["ranked providers"] = _axe(tab, axe_source)
    finally:
        staff.close()
    assert not any(found.values()), found


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_partys_pages_fit_a_phone_and_a_desktop(
    site: Site, browser: Any, language: str, french_need: tuple[Any, str]
) -> None:
    """No page scrolls sideways (and, when asked, screenshots are saved)."""
    shots = os.environ.get("POLLINATE_SCREENSHOTS")
    workspace = "/my/needs/" + french_need[1].rsplit("/", 1)[1]
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = signed_in_context(site, browser, locale=language, viewport=viewport)
        staff_token = None
        tab = context.new_page()
        try:
            pages = [("/my/needs", "my-needs"), ("/needs/new", "post-need")]
            for path, slug in pages:
                tab.goto(f"{site.url}{path}")
                _check_and_shoot(tab, shots, f"{slug}-{language}-{name}", (name, path))
            tab.get_by_role("button", name=re.compile("^(Post the need|Publier le besoin)")).click()
            tab.locator("#error-summary").wait_for()
            _check_and_shoot(tab, shots, f"post-need-errors-{language}-{name}", (name, "errors"))
        finally:
            context.close()
        db = site.database()
        try:
            staff_token = web_session(db, role="secretariat", name=unique_name("browser-staff"))
        finally:
            db.dispose()
        context = browser.new_context(locale=language, viewport=viewport)
        context.add_cookies([{"name": SESSION_COOKIE, "value": staff_token, "url": site.url}])
        tab = context.new_page()
        try:
            tab.goto(f"{site.url}{workspace}")
            _check_and_shoot(tab, shots, f"ranked-providers-{language}-{name}", (name, workspace))
        finally:
            context.close()


def _check_and_shoot(tab: Any, shots: str | None, slug: str, where: tuple[str, str]) -> None:
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, (*where, overflow)
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=f"{shots}/party-{slug}.png", full_page=True)
