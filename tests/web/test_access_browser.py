"""Object-level access in a real browser (headless Chromium): a Party cannot open another Party's confidential
need, neither its public page nor its workspace, and cannot use its shortlist or contact forms, even with a
valid anti-forgery token of its own; the secretariat can open it, with its forms.

The need is posted through the form by a Party of Kenya (so it has ranked providers and their forms, as a real
one has); the other Party is Senegal's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.web.auth import SESSION_COOKIE
from models.repositories import ContactRequestRepository, ShortlistRepository, SuggestedMatchRepository
from tests.factories import web_session
from tests.web.conftest import Site, unique_name

TITLE = "Vexmoorian confidential wetland bird census"
DESCRIPTION = (
    "We need technical advice and training to count waterbirds in our coastal wetlands every season and to "
    "share the counts with the national biodiversity information system."
)


def browser_as(site: Site, browser: Any, *, role: str, country: str | None = None) -> Any:
    """A browser context (English) signed in as a new user with ``role`` (its session cookie)."""
    db = site.database()
    try:
        token = web_session(
            db, role=role, name=unique_name(f"access-{role}-{country or 'staff'}"), country=country
        )
    finally:
        db.dispose()
    context = browser.new_context(locale="en-GB")
    context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": site.url}])
    return context


@pytest.fixture(scope="module")
def kenyan_need(site: Site, browser: Any) -> Iterator[int]:
    """The id of a confidential need Kenya's Party has just posted through the form."""
    context = browser_as(site, browser, role="party", country="KEN")
    tab = context.new_page()
    try:
        tab.goto(f"{site.url}/needs/new")
        tab.get_by_label("Title").fill(TITLE)
        tab.get_by_label("Description").fill(DESCRIPTION)
        tab.get_by_label(re.compile(r"^21\. ")).check()
        tab.get_by_label(re.compile(r"^Training")).check()
        tab.get_by_label(re.compile(r"^Technical advice")).check()
        tab.get_by_label(re.compile(r"^Confidential")).check()
        tab.get_by_role("button", name="Post the need and see providers").click()
        tab.wait_for_url(re.compile(r"/my/needs/\d+$"))
        assert tab.locator("li.match").count() >= 1  # ranked providers, each with its forms
        yield int(tab.url.rsplit("/", 1)[1])
    finally:
        context.close()


def offer_on_the_need(site: Site, need_id: int) -> int:
    """An offer ranked for the need (what a forged shortlist or contact request would name)."""
    db = site.database()
    try:
        with db.transaction(read_only=True) as session:
            ranked = SuggestedMatchRepository(session).for_need(need_id)
            assert ranked, "the posted need has no stored ranked providers"
            return int(ranked[0].offer_id)
    finally:
        db.dispose()


def test_another_party_gets_the_not_found_page_and_never_the_title(
    site: Site, browser: Any, kenyan_need: int
) -> None:
    context = browser_as(site, browser, role="party", country="SEN")
    tab = context.new_page()
    try:
        for path in (f"/needs/{kenyan_need}", f"/my/needs/{kenyan_need}"):
            response = tab.goto(f"{site.url}{path}")
            assert response is not None
            assert response.status == 404, path
            assert tab.get_by_role("heading", level=1).inner_text() == "Page not found", path
            assert TITLE not in tab.content(), path
            assert tab.locator(f"form[action^='/my/needs/{kenyan_need}/']").count() == 0, path
        tab.goto(f"{site.url}/my/needs")
        assert TITLE not in tab.content()
    finally:
        context.close()


def test_another_party_cannot_shortlist_or_ask_for_contact_with_its_own_token(
    site: Site, browser: Any, kenyan_need: int
) -> None:
    offer = offer_on_the_need(site, kenyan_need)
    context = browser_as(site, browser, role="party", country="SEN")
    tab = context.new_page()
    try:
        tab.goto(f"{site.url}/needs/new")  # any page with a form gives this browser a valid token
        token = tab.locator("input[name=csrf_token]").first.get_attribute("value")
        assert token
        attempts = {
            "shortlist": {"csrf_token": token, "offer_id": str(offer)},
            "contact": {"csrf_token": token, "offer_id": str(offer), "message": "Let us talk about your census."},
        }
        for action, form in attempts.items():
            answer = context.request.post(
                f"{site.url}/my/needs/{kenyan_need}/{action}", form=form, max_redirects=0
            )
            assert answer.status == 404, (action, answer.status)
            assert TITLE not in answer.text()
    finally:
        context.close()
    # Nothing was recorded: the Kenyan need's owner sees no shortlist entry or contact request from it.
    db = site.database()
    try:
        with db.transaction(read_only=True) as session:
            assert ShortlistRepository(session).for_need(kenyan_need) == []
            assert ContactRequestRepository(session).for_need(kenyan_need) == []
    finally:
        db.dispose()


def test_the_secretariat_opens_the_confidential_need_with_its_forms(
    site: Site, browser: Any, kenyan_need: int
) -> None:
    context = browser_as(site, browser, role="secretariat")
    tab = context.new_page()
    try:
        response = tab.goto(f"{site.url}/needs/{kenyan_need}")
        assert response is not None
        assert response.status == 200
        assert tab.get_by_role("heading", level=1).inner_text() == TITLE
        response = tab.goto(f"{site.url}/my/needs/{kenyan_need}")
        assert response is not None
        assert response.status == 200
        assert tab.get_by_role("heading", level=1).inner_text() == TITLE
        assert tab.locator(f"form[action='/my/needs/{kenyan_need}/shortlist']").count() >= 1
        assert tab.locator(f"form[action='/my/needs/{kenyan_need}/contact']").count() >= 1
    finally:
        context.close()
