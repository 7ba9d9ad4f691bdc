"""The account pages in a real browser (headless Chromium): sign-in and sign-out, an invitation to a first
sign-in and a password reset through the local SMTP sink, accessibility (axe-core) of every account page, and
layouts that fit a phone.

``POLLINATE_SCREENSHOTS=DIR`` also saves a screenshot of each account page at desktop and phone width, in
English and French (for people to look at; the tests never compare pictures).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from api.web.auth import SESSION_COOKIE
from matcher.access import people
from models.repositories import UserRepository
from tests.factories import person, web_session
from tests.web.conftest import MailSink, Site, unique_name

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FAILING_IMPACTS = {"serious", "critical"}
PASSWORD = "a long and quiet river"
_numbers = itertools.count(1)


def new_person(site: Site, role: str = "party", **scope: Any) -> str:
    n = next(_numbers)
    email = f"browser-{role}{n}@accounts.example.org"
    db = site.database()
    try:
        person(db, role=role, name=f"Browser {role.title()} {n}", email=email, password=PASSWORD, **scope)
    finally:
        db.dispose()
    return email


def staff_cookie(site: Site) -> dict[str, str]:
    db = site.database()
    try:
        token = web_session(db, role="secretariat", name=unique_name("browser-staff"))
    finally:
        db.dispose()
    return {"name": SESSION_COOKIE, "value": token, "url": site.url}


def link_in(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"http://127\.0\.0\.1:\d+/password/choose/[A-Za-z0-9_-]+", body.get_content())
    assert match, body.get_content()
    return match.group(0)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    yield context.new_page()
    context.close()


def test_sign_in_and_sign_out_in_a_browser(site: Site, page: Any) -> None:
    email = new_person(site, "party", country="KEN")
    page.goto(f"{site.url}/needs")
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url(re.compile(r"/sign-in\?next=%2Fneeds$"))
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill("not the password, sorry")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "The e-mail address or the password is not right."
    assert page.get_by_label("E-mail address").input_value() == email  # kept; the password is not
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/needs$"))
    account = page.get_by_role("link", name=re.compile(r"Browser Party"))
    assert account.is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site.url}/")
    assert page.get_by_role("link", name="Sign in").is_visible()
    assert page.get_by_role("link", name=re.compile(r"Browser Party")).count() == 0
    page.goto(f"{site.url}/account")  # the session has ended: back to sign-in
    page.wait_for_url(re.compile(r"/sign-in\?next=%2Faccount$"))


def test_a_form_without_its_token_is_refused_in_a_browser(site: Site, page: Any) -> None:
    email = new_person(site, "party", country="KEN")
    page.goto(f"{site.url}/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.evaluate("document.querySelector('form input[name=csrf_token]').remove()")  # as a forged form would
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("heading", level=1).inner_text() == "This form could not be accepted"
    page.goto(f"{site.url}/")
    assert page.get_by_role("link", name="Sign in").is_visible()  # not signed in


def test_an_invitation_leads_to_a_first_sign_in_in_a_browser(
    site: Site, browser: Any, page: Any, mail_sink: MailSink
) -> None:
    invitee = f"invited{next(_numbers)}@provider.example.org"
    page.context.add_cookies([staff_cookie(site)])
    page.goto(f"{site.url}/secretariat/invitations")
    page.get_by_label("A provider, for an organisation").check()
    page.get_by_label("Name", exact=True).fill("Lucía Invited")
    page.get_by_label("E-mail address").fill(invitee)
    page.get_by_label("Organisation (for a provider)").select_option(index=1)
    page.get_by_label("Language of the e-mail").select_option("es")
    page.get_by_role("button", name="Send the invitation").click()
    assert invitee in page.get_by_role("status").inner_text()

    message = mail_sink.wait_for(invitee)
    assert message["Subject"] == "Está invitado/a a Pollinate"
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    try:
        tab = context.new_page()
        tab.goto(link_in(message))
        assert tab.get_by_role("heading", level=1).inner_text() == "Welcome to Pollinate"
        tab.get_by_label("New password").fill("a tree of many blue leaves")
        tab.get_by_label("The same password again").fill("a tree of many blue leaves")
        tab.get_by_role("button", name="Save the password and sign in").click()
        tab.wait_for_url(re.compile(r"/account\?done=password$"))
        assert tab.locator("html").get_attribute("lang") == "es"  # the language of the invitation
        assert "Proveedor" in tab.locator("main").inner_text()
        assert tab.get_by_role("link", name=re.compile("Lucía Invited")).is_visible()
    finally:
        context.close()


def test_a_password_reset_through_the_mail_sink_in_a_browser(site: Site, page: Any, mail_sink: MailSink) -> None:
    email = new_person(site, "secretariat")
    page.goto(f"{site.url}/sign-in")
    page.get_by_role("link", name="Forgotten your password?").click()
    page.get_by_label("E-mail address").fill(email)
    page.get_by_role("button", name="Send the link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your e-mail"
    link = link_in(mail_sink.wait_for(email))
    page.goto(link)
    page.get_by_label("New password").fill("short")
    page.get_by_label("The same password again").fill("short")
    page.get_by_role("button", name="Save the password and sign in").click()
    assert "at least 15 characters" in page.locator(".field__error").inner_text()
    page.get_by_label("New password").fill("winter light on the salt marsh")
    page.get_by_label("The same password again").fill("winter light on the salt marsh")
    page.get_by_role("button", name="Save the password and sign in").click()
    page.wait_for_url(re.compile(r"/account\?done=password$"))
    page.get_by_role("button", name="Sign out").click()
    page.goto(link)
    assert page.get_by_role("heading", level=1).inner_text() == "This link no longer works"
    page.goto(f"{site.url}/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill("winter light on the salt marsh")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")
    assert page.get_by_role("button", name="Sign out").is_visible()


# ------------------------------------------------------------------------ accessibility and layout


def _choose_link(site: Site) -> str:
    email = new_person(site, "party", country="SEN")
    db = site.database()
    try:
        with db.transaction() as session:
            user = UserRepository(session).by_email(email)
            assert user is not None
            token = people.issue_link(session, user, "invitation").token
    finally:
        db.dispose()
    return f"/password/choose/{token}"


def _pending_registration(site: Site) -> None:
    n = next(_numbers)
    db = site.database()
    try:
        with db.transaction() as session:
            people.register_provider(
                session,
                organisation=f"Coastal Wetlands Trust {n}",
                org_type="ngo",
                country="GHA",
                website="https://wetlands.example.org",
                name=f"Kofi Mensah {n}",
                email=f"kofi{n}@wetlands.example.org",
                locale="en",
            )
    finally:
        db.dispose()


def account_pages(site: Site) -> tuple[list[str], list[str]]:
    """(pages for visitors, pages for the signed-in secretariat; a registration awaits it)."""
    _pending_registration(site)
    visitor = ["/sign-in", "/password/reset", "/register", _choose_link(site), "/password/choose/spent"]
    staff = ["/account", "/account/keys", "/secretariat/invitations", "/secretariat/registrations"]
    return visitor, staff


def _violations(tab: Any, axe_source: str) -> list[str]:
    tab.evaluate(axe_source)
    result = tab.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {len(v['nodes'])} nodes"
        for v in result["violations"]
        if v["impact"] in FAILING_IMPACTS
    ]


def test_account_pages_have_no_serious_accessibility_violations(site: Site, browser: Any, axe_source: str) -> None:
    visitor, staff = account_pages(site)
    found: dict[str, list[str]] = {}
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    try:
        tab = context.new_page()
        for path in visitor:
            tab.goto(f"{site.url}{path}")
            found[path] = _violations(tab, axe_source)
        # A form sent back with its errors beside the fields.
        tab.goto(f"{site.url}/register")
        tab.get_by_role("button", name="Send the registration").click()
        tab.locator(".field__error").first.wait_for()
        found["/register (errors)"] = _violations(tab, axe_source)
        context.add_cookies([staff_cookie(site)])
        for path in staff:
            tab.goto(f"{site.url}{path}")
            found[path] = _violations(tab, axe_source)
        tab.goto(f"{site.url}/account/keys")
        tab.get_by_role("button", name="Make the key").click()
        tab.get_by_label("Key", exact=True).wait_for()
        found["/account/keys (new key)"] = _violations(tab, axe_source)
    finally:
        context.close()
    assert not any(found.values()), found


@pytest.mark.parametrize("language", ["en", "fr"])
def test_account_pages_fit_a_phone_and_a_desktop(site: Site, browser: Any, language: str) -> None:
    shots = os.environ.get("POLLINATE_SCREENSHOTS")
    visitor, staff = account_pages(site)
    cookie = staff_cookie(site)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for paths, signed_in in ((visitor, False), (staff, True)):
            context = browser.new_context(viewport=viewport, locale=language)
            if signed_in:
                context.add_cookies([cookie])
            tab = context.new_page()
            try:
                for path in paths:
                    tab.goto(f"{site.url}{path}")
                    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 0, (name, path, overflow)
                    if shots:
                        slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:40]
                        Path(shots).mkdir(parents=True, exist_ok=True)
                        tab.screenshot(path=f"{shots}/{slug}-{language}-{name}.png", full_page=True)
            finally:
                context.close()
