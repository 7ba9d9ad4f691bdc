"""The account pages over HTTP, against the real server: sign-in (one answer, throttling, session rotation,
language), password reset and invitations through the local SMTP sink, registration and its approval, the
person's own API keys, and who may open which page."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from email.message import EmailMessage

import httpx
import pytest

from api.web.auth import SESSION_COOKIE
from matcher.access import people
from models.repositories import UserRepository
from tests.factories import person
from tests.web.conftest import MailSink, Site

PASSWORD = "a long and quiet river"
_numbers = itertools.count(1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "no anti-forgery token in the page"
    return match.group(1)


def link_in(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"http://127\.0\.0\.1:\d+(/password/choose/[A-Za-z0-9_-]+)", body.get_content())
    assert match, body.get_content()
    return match.group(1)


def new_person(
    site: Site, role: str = "secretariat", *, status: str = "active", **scope: object
) -> tuple[str, int]:
    """A person who signs in with ``PASSWORD``: their address and id."""
    n = next(_numbers)
    email = f"{role}{n}@accounts.example.org"
    db = site.database()
    try:
        user_id = person(
            db,
            role=role,
            name=f"{role.title()} Person {n}",
            email=email,
            password=PASSWORD,
            status=status,
            **scope,
        )  # type: ignore[arg-type]
    finally:
        db.dispose()
    return email, user_id


def client(site: Site, address: str | None = None) -> httpx.Client:
    """A browser-like client; ``address``: the client address the server sees (X-Forwarded-For)."""
    headers = {"X-Forwarded-For": address} if address else {}
    return httpx.Client(base_url=site.url, headers=headers, timeout=30)


def sign_in(browser: httpx.Client, email: str, password: str, **extra: str) -> httpx.Response:
    token = csrf_of(browser.get("/sign-in").text)
    return browser.post("/sign-in", data={"csrf_token": token, "email": email, "password": password, **extra})


def test_sign_in_starts_a_new_session_applies_the_language_and_returns_to_a_local_page(site: Site) -> None:
    email, _ = new_person(site, "party", country="KEN")
    db = site.database()
    try:
        with db.transaction() as session:
            user = UserRepository(session).by_email(email)
            assert user is not None
            user.locale = "es"
    finally:
        db.dispose()
    with client(site) as browser:
        done = sign_in(browser, email.upper(), PASSWORD, next=f"/needs/{site.confidential_need}")
        assert done.status_code == 303
        assert done.headers["location"] == f"/needs/{site.confidential_need}"
        first = browser.cookies[SESSION_COOKIE]
        assert browser.cookies["lang"] == "es"
        page = browser.get("/account")
        assert page.status_code == 200 and 'lang="es"' in page.text and "Su cuenta" in page.text
        # Signing in again (in the same browser) ends the first session: a copied old cookie is worthless.
        again = sign_in(browser, email, PASSWORD, next="https://evil.example.org/")
        assert again.headers["location"] == "/"
        assert browser.cookies[SESSION_COOKIE] != first
    stale = httpx.get(f"{site.url}/account", cookies={SESSION_COOKIE: first}, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/sign-in")


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(site: Site) -> None:
    email, _ = new_person(site)
    pending, _ = new_person(site, status="pending")
    answers = []
    with client(site, "198.51.100.10") as browser:
        for address, password in (
            (email, "not the password at all"),
            ("nobody@accounts.example.org", PASSWORD),
            (pending, PASSWORD),
        ):
            response = sign_in(browser, address, password)
            page = re.sub(r'value="[^"]*"', "", response.text)  # the token and the address typed differ
            answers.append((response.status_code, page.replace(address, "")))
            assert SESSION_COOKIE not in browser.cookies
    assert answers[0][0] == 422
    assert answers[0] == answers[1] == answers[2]
    assert "The e-mail address or the password is not right." in answers[0][1]


def test_sign_in_is_throttled_after_five_failures_for_an_address_and_twenty_from_a_client(site: Site) -> None:
    email, _ = new_person(site)
    with client(site, "198.51.100.20") as browser:
        for _ in range(5):
            assert sign_in(browser, email, "wrong wrong wrong wrong").status_code == 422
        refused = sign_in(browser, email, PASSWORD)  # even the right password: the address waits
        assert refused.status_code == 429
        assert "Too many attempts" in refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 15 * 60
        assert SESSION_COOKIE not in browser.cookies
    with client(site, "198.51.100.21") as elsewhere:  # the address's count does not depend on the client
        assert sign_in(elsewhere, email.upper(), PASSWORD).status_code == 429
    # A client that fails 20 times (any addresses, known or not) is refused for every address.
    other, _ = new_person(site)
    with client(site, "198.51.100.22") as guesser:
        for n in range(20):
            assert sign_in(guesser, f"guess{n}@accounts.example.org", "wrong wrong wrong").status_code == 422
        assert sign_in(guesser, other, PASSWORD).status_code == 429
    with client(site, "198.51.100.23") as someone_else:
        assert sign_in(someone_else, other, PASSWORD).status_code == 303


def test_forms_without_their_token_are_refused(site: Site) -> None:
    email, _ = new_person(site)
    with client(site) as browser:
        browser.get("/sign-in")  # the visitor cookie, but no token in the form
        for path, data in (
            ("/sign-in", {"email": email, "password": PASSWORD}),
            ("/password/reset", {"email": email}),
            ("/register", {"organisation": "X", "org_type": "ngo", "country": "SEN", "name": "X", "email": email}),
        ):
            refused = browser.post(path, data=data)
            assert refused.status_code == 403, path
            assert "This form could not be accepted" in refused.text
        assert SESSION_COOKIE not in browser.cookies
    with site.client_as("secretariat") as staff:
        assert staff.post("/account/keys", data={"label": "x"}).status_code == 403
        assert staff.post("/secretariat/invitations", data={"role": "party"}).status_code == 403


def test_a_form_with_an_unknown_field_is_refused(site: Site) -> None:
    with client(site) as browser:
        token = csrf_of(browser.get("/sign-in").text)
        answer = browser.post(
            "/sign-in", data={"csrf_token": token, "email": "a@b.org", "password": "x", "role": "admin"}
        )
        assert answer.status_code == 422


def test_a_reset_link_arrives_works_once_and_ends_the_other_sessions(site: Site, mail_sink: MailSink) -> None:
    email, user_id = new_person(site)
    with client(site) as elsewhere:
        assert sign_in(elsewhere, email, PASSWORD).status_code == 303
        assert elsewhere.get("/account").status_code == 200
        with client(site, "198.51.100.30") as browser:
            token = csrf_of(browser.get("/password/reset").text)
            unknown = browser.post(
                "/password/reset", data={"csrf_token": token, "email": "ghost@accounts.example.org"}
            )
            known = browser.post("/password/reset", data={"csrf_token": token, "email": email.upper()})
            assert unknown.status_code == known.status_code == 200
            assert unknown.text == known.text and "Check your e-mail" in known.text
            message = mail_sink.wait_for(email)
            assert message["Subject"] == "Choose a new Pollinate password"
            path = link_in(message)
            assert mail_sink.to("ghost@accounts.example.org") == []

            form = browser.get(path)
            assert form.status_code == 200 and form.headers["cache-control"] == "no-store"
            token = csrf_of(form.text)
            short = browser.post(path, data={"csrf_token": token, "password": "short", "password_again": "short"})
            assert short.status_code == 422 and "at least 15 characters" in short.text
            new = "the tide comes in twice a day"
            done = browser.post(path, data={"csrf_token": token, "password": new, "password_again": new})
            assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
            assert browser.get("/account").status_code == 200  # signed in by the link
            assert browser.get(path).status_code == 410  # the link worked once
        # The session signed in before the reset has ended.
        assert elsewhere.get("/account", follow_redirects=False).status_code == 303
    with client(site) as later:
        assert sign_in(later, email, PASSWORD).status_code == 422
        assert sign_in(later, email, "the tide comes in twice a day").status_code == 303
    del user_id


def test_a_reset_link_expires(site: Site) -> None:
    email, user_id = new_person(site)
    db = site.database()
    try:
        with db.transaction() as session:
            user = UserRepository(session).get(user_id)
            assert user is not None
            past = dt.datetime.now(dt.UTC) - people.RESET_LIFETIME - dt.timedelta(minutes=1)
            old = people.issue_link(session, user, "reset", now=past)
    finally:
        db.dispose()
    with client(site) as browser:
        gone = browser.get(f"/password/choose/{old.token}")
        assert gone.status_code == 410 and "This link no longer works" in gone.text
        assert browser.get("/password/choose/not-a-token").status_code == 410
    del email


def test_an_invitation_leads_to_choosing_a_password_and_a_first_sign_in(site: Site, mail_sink: MailSink) -> None:
    invitee = "focal.point@environment.example.org"
    with site.client_as("secretariat") as staff:
        token = csrf_of(staff.get("/secretariat/invitations").text)
        missing = staff.post(
            "/secretariat/invitations",
            data={"csrf_token": token, "role": "party", "name": "Focal", "email": invitee},
        )
        assert missing.status_code == 422 and "Choose a country." in missing.text
        sent = staff.post(
            "/secretariat/invitations",
            data={
                "csrf_token": token,
                "role": "party",
                "name": "Wanjiru Focal",
                "email": invitee,
                "country": "KEN",
                "locale": "fr",
            },
        )
        assert sent.status_code == 303
        assert invitee in staff.get(sent.headers["location"]).text
        twice = staff.post(
            "/secretariat/invitations",
            data={"csrf_token": token, "role": "party", "name": "Another", "email": invitee, "country": "KEN"},
        )
        assert twice.status_code == 422 and "This address has an account already." in twice.text
    message = mail_sink.wait_for(invitee)
    assert message["Subject"] == "Vous êtes invité(e) sur Pollinate"
    path = link_in(message)
    with client(site) as browser:
        form = browser.get(path)
        assert "Wanjiru Focal" in form.text
        token = csrf_of(form.text)
        chosen = "mount kenya forest focal point"
        done = browser.post(path, data={"csrf_token": token, "password": chosen, "password_again": chosen})
        assert done.status_code == 303
        assert browser.cookies["lang"] == "fr"
        account = browser.get("/account").text
        assert invitee in account and "Point focal" in account
        assert browser.get(f"/needs/{site.confidential_need}").status_code == 200  # a Party of Kenya


def test_a_registration_waits_for_the_secretariat(site: Site, mail_sink: MailSink) -> None:
    applicant = "awa@mangrove-friends.example.org"
    with client(site, "198.51.100.40") as browser:
        token = csrf_of(browser.get("/register").text)
        form = {
            "csrf_token": token,
            "organisation": "Mangrove Friends of the Saloum",
            "org_type": "ngo",
            "country": "SEN",
            "website": "https://mangroves.example.org",
            "name": "Awa Ndiaye",
            "email": applicant,
            "locale": "fr",
        }
        bad = browser.post("/register", data={**form, "website": "javascript:alert(1)", "country": ""})
        assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
        assert browser.post("/register", data=form).status_code == 200
        assert mail_sink.wait_for(applicant)["Subject"] == "Nous avons bien reçu votre inscription sur Pollinate"
        # The same address again: the same answer, nothing created, and the owner is told.
        again = browser.post("/register", data={**form, "name": "Someone Else"})
        assert again.status_code == 200 and "Thank you for registering" in again.text
        assert mail_sink.wait_for(applicant, count=2)["Subject"] == "Votre compte Pollinate"
    with site.client_as("secretariat") as staff:
        page = staff.get("/secretariat/registrations").text
        assert "Mangrove Friends of the Saloum" in page and "Someone Else" not in page
        user_id = int(
            re.search(r"Saloum</h2>.*?/secretariat/registrations/(\d+)/approve", page, re.DOTALL).group(1)
        )  # type: ignore[union-attr]
        approved = staff.post(f"/secretariat/registrations/{user_id}/approve", data={"csrf_token": csrf_of(page)})
        assert approved.status_code == 303
        assert "Mangrove Friends of the Saloum" not in staff.get("/secretariat/registrations").text
        assert (
            staff.post(
                f"/secretariat/registrations/{user_id}/reject", data={"csrf_token": csrf_of(page)}
            ).status_code
            == 404
        )
    message = mail_sink.wait_for(applicant, count=3)
    assert message["Subject"] == "Votre inscription sur Pollinate est approuvée"
    with client(site) as browser:
        path = link_in(message)
        token = csrf_of(browser.get(path).text)
        chosen = "mangroves of the saloum delta"
        assert (
            browser.post(
                path, data={"csrf_token": token, "password": chosen, "password_again": chosen}
            ).status_code
            == 303
        )
        assert "Prestataire" in browser.get("/account").text


def test_a_pending_person_cannot_sign_in_or_use_a_key(site: Site) -> None:
    email, user_id = new_person(site, status="pending")
    with client(site, "198.51.100.50") as browser:
        assert sign_in(browser, email, PASSWORD).status_code == 422
    db = site.database()
    try:
        from matcher.access.accounts import issue_key

        with db.transaction() as session:
            user = UserRepository(session).get(user_id)
            assert user is not None
            key = issue_key(session, user).secret
    finally:
        db.dispose()
    assert site.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_people_revoke_their_own_keys_and_no_one_else_s(site: Site) -> None:
    with site.client_as("party", country="KEN") as owner, site.client_as("party", country="KEN") as other:
        page = owner.get("/account/keys")
        assert page.status_code == 200 and "You have no API key." in page.text
        made = owner.post("/account/keys", data={"csrf_token": csrf_of(page.text), "label": "reporting"})
        assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
        secret = re.search(r'value="(pk_[0-9a-f]{16}_[^"]+)"', made.text).group(1)  # type: ignore[union-attr]
        key_id = secret.split("_")[1]
        me = site.get("/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200 and me.json()["role"] == "party"
        assert secret not in owner.get("/account/keys").text  # shown once

        theirs = other.post(f"/account/keys/{key_id}/revoke", data={"csrf_token": csrf_of(other.get("/").text)})
        assert theirs.status_code == 404
        assert site.get("/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        assert key_id not in other.get("/account/keys").text

        mine = owner.post(f"/account/keys/{key_id}/revoke", data={"csrf_token": csrf_of(made.text)})
        assert mine.status_code == 303
        assert site.get("/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        assert "Revoked" in owner.get("/account/keys").text


@pytest.mark.parametrize(
    "path", ["/account", "/account/keys", "/secretariat/invitations", "/secretariat/registrations"]
)
def test_a_visitor_is_sent_to_sign_in_and_back(site: Site, path: str) -> None:
    answer = site.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next={path.replace('/', '%2F')}"


def test_only_the_secretariat_reaches_invitations_and_registrations(site: Site) -> None:
    with (
        site.client_as("party", country="KEN") as party,
        site.client_as("provider", organisation_id=site.provider) as org,
    ):
        for browser in (party, org):
            token = csrf_of(browser.get("/").text)
            for path in ("/secretariat/invitations", "/secretariat/registrations"):
                refused = browser.get(path)
                assert refused.status_code == 403 and "This page is not for your account" in refused.text
            invite = browser.post(
                "/secretariat/invitations",
                data={
                    "csrf_token": token,
                    "role": "party",
                    "name": "X",
                    "email": "x@accounts.example.org",
                    "country": "KEN",
                },
            )
            assert invite.status_code == 403
            assert (
                browser.post("/secretariat/registrations/1/approve", data={"csrf_token": token}).status_code == 403
            )


def test_the_account_page_changes_the_name_and_the_language(site: Site) -> None:
    email, _ = new_person(site, "provider", organisation_id=site.provider)
    with client(site) as browser:
        sign_in(browser, email, PASSWORD)
        page = browser.get("/account")
        token = csrf_of(page.text)
        saved = browser.post("/account", data={"csrf_token": token, "name": "Ana  Silva", "locale": "fr"})
        assert saved.status_code == 303 and browser.cookies["lang"] == "fr"
        account = browser.get(saved.headers["location"]).text
        assert "Ana Silva" in account and "Vos coordonnées sont enregistrées." in account
        wrong = browser.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current_password": "nope",
                "password": "x" * 20,
                "password_again": "x" * 20,
            },
        )
        assert wrong.status_code == 422 and "Ce n'est pas votre mot de passe actuel." in html.unescape(wrong.text)
        new = "a different quiet river"
        changed = browser.post(
            "/account/password",
            data={"csrf_token": token, "current_password": PASSWORD, "password": new, "password_again": new},
        )
        assert changed.status_code == 303
        assert browser.get("/account").status_code == 200  # this browser stays signed in, on a new session
