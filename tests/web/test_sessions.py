"""Signed-in pages: the session cookie, the access rules applied to the signed-in reader, and the anti-forgery
token of forms (a real server, over HTTP)."""

from __future__ import annotations

import datetime as dt
import re

from api.web.auth import ANON_COOKIE, SESSION_COOKIE
from tests.factories import web_session
from tests.web.conftest import CONFIDENTIAL_TITLE, Site


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "no anti-forgery token in the page"
    return match.group(1)


def test_a_party_opens_its_confidential_need_and_no_other_party_can(site: Site) -> None:
    path = f"/needs/{site.confidential_need}"
    with site.client_as("party", country="KEN") as kenya, site.client_as("party", country="SEN") as senegal:
        own = kenya.get(path)
        assert own.status_code == 200
        assert CONFIDENTIAL_TITLE in own.text
        other = senegal.get(path)
        assert other.status_code == 404
        assert CONFIDENTIAL_TITLE not in other.text
        assert CONFIDENTIAL_TITLE not in senegal.get("/needs?q=seed+vault+inventory").text
    assert site.get(path).status_code == 404


def test_the_secretariat_reads_confidential_needs_and_providers_do_not(site: Site) -> None:
    path = f"/needs/{site.confidential_need}"
    with site.client_as("secretariat") as staff, site.client_as("provider", organisation_id=site.provider) as org:
        assert staff.get(path).status_code == 200
        assert org.get(path).status_code == 404


def test_sign_out_needs_the_token_of_this_browser_and_ends_the_session_on_the_server(site: Site) -> None:
    with site.client_as("party", country="KEN") as party:
        page = party.get("/")
        assert "Sign out" in page.text
        token = csrf_of(page.text)
        cookie = party.cookies[SESSION_COOKIE]

        refused = party.post("/sign-out", data={})
        assert refused.status_code == 403
        assert "Sign out" in party.get("/").text  # still signed in

        assert party.post("/sign-out", data={"csrf_token": token[::-1]}).status_code == 403

        done = party.post("/sign-out", data={"csrf_token": token})
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        assert SESSION_COOKIE in done.headers["set-cookie"]
    # The old cookie no longer signs anyone in, even if a browser kept it.
    again = site.get(f"/needs/{site.confidential_need}", cookies={SESSION_COOKIE: cookie})
    assert again.status_code == 404
    assert "Sign out" not in site.get("/", cookies={SESSION_COOKIE: cookie}).text


def test_a_token_made_for_one_browser_does_not_work_in_another(site: Site) -> None:
    with site.client_as("party", country="KEN") as first, site.client_as("party", country="KEN") as second:
        stolen = csrf_of(first.get("/").text)
        assert second.post("/sign-out", data={"csrf_token": stolen}).status_code == 403
        assert "Sign out" in second.get("/").text


def test_expired_sessions_and_disabled_users_read_as_visitors(site: Site) -> None:
    db = site.database()
    try:
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        expired = web_session(db, role="party", name="party-expired", country="KEN", now=old)
        disabled = web_session(db, role="party", name="party-disabled", country="KEN", status="disabled")
    finally:
        db.dispose()
    for token in (expired, disabled, "not-a-session", "x" * 5000):
        response = site.get(f"/needs/{site.confidential_need}", cookies={SESSION_COOKIE: token})
        assert response.status_code == 404, token[:20]


def test_visitors_get_a_token_cookie_only_from_pages_with_a_form(site: Site) -> None:
    # No public page has a state-changing form for visitors yet: none hands out the visitor cookie.
    for path in ("/", "/needs", f"/offers/{site.active_offer}"):
        assert ANON_COOKIE not in site.get(path).headers.get("set-cookie", ""), path
