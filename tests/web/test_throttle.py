"""Throttling of the page forms that send e-mail or create things, against the real server: registration, a
password chosen from an e-mailed link (an invitation accepted) and contact requests are counted per client
address and per account, and a refusal is a 429 in the reader's language with ``Retry-After``.

Each test names its client addresses (X-Forwarded-For, believed from loopback) so that the budgets it fills are
its own: the server, and so its in-memory budgets, are shared by the session.
"""

from __future__ import annotations

import itertools
import re

import httpx

from tests.web.conftest import Site

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}
SPANISH = {"Accept-Language": "es-ES,es;q=0.9"}
_hosts = itertools.count(1)


def address() -> str:
    """A client address no other request of the session uses (TEST-NET-2)."""
    n = next(_hosts)
    return f"198.51.{101 + n // 250}.{n % 250 + 1}"


def client(site: Site, at: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=site.url, headers={"X-Forwarded-For": at, **headers}, timeout=30)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "no anti-forgery token in the page"
    return match.group(1)


def register(site: Site, at: str, email: str, n: int, **headers: str) -> httpx.Response:
    with client(site, at, **headers) as browser:
        form = {
            "csrf_token": csrf_of(browser.get("/register").text),
            "organisation": f"Throttled Seagrass Trust {n}",
            "org_type": "ngo",
            "country": "SEN",
            "website": "https://seagrass.example.org",
            "name": f"Throttled Applicant {n}",
            "email": email,
            "locale": "fr",
        }
        return browser.post("/register", data=form)


def test_registrations_for_one_address_are_throttled_whatever_the_client(site: Site) -> None:
    email = "flood-target@throttle.example.org"
    for n in range(3):
        assert register(site, address(), email, n).status_code == 200
    refused = register(site, address(), email, 3, **FRENCH)
    assert refused.status_code == 429
    assert "Trop de demandes. Attendez" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    # Another address is not held back by this one's budget.
    assert register(site, address(), "someone-else@throttle.example.org", 4).status_code == 200


def test_one_client_registering_many_addresses_is_throttled(site: Site) -> None:
    at = address()
    for n in range(20):
        assert register(site, at, f"applicant{n}@many.throttle.example.org", 100 + n).status_code == 200
    refused = register(site, at, "applicant-last@many.throttle.example.org", 200, **SPANISH)
    assert refused.status_code == 429
    assert "Demasiadas solicitudes. Espere" in refused.text


def choose(browser: httpx.Client, token: str) -> httpx.Response:
    csrf = csrf_of(browser.get("/sign-in").text)
    form = {"csrf_token": csrf, "password": "a long and quiet river", "password_again": "a long and quiet river"}
    return browser.post(f"/password/choose/{token}", data=form)


def test_passwords_chosen_from_one_link_are_throttled_with_a_french_429_page(site: Site) -> None:
    token = "not-a-real-invitation-link-token-0123456789"
    for _ in range(10):
        with client(site, address()) as browser:
            assert (
                choose(browser, token).status_code == 410
            )  # an unknown link ("no longer works"): counted all the same
    with client(site, address(), **FRENCH) as browser:
        refused = choose(browser, token)
    assert refused.status_code == 429
    assert 'lang="fr"' in refused.text
    assert "<h1>Trop de requêtes</h1>" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1


def test_one_client_trying_many_links_is_throttled(site: Site) -> None:
    with client(site, address(), **SPANISH) as browser:
        for n in range(20):
            assert choose(browser, f"guessed-link-token-{n:04d}-abcdefghijklmnop").status_code == 410
        refused = choose(browser, "guessed-link-token-last-abcdefghijklmnop")
    assert refused.status_code == 429
    assert "<h1>Demasiadas solicitudes</h1>" in refused.text


def ask_for_contact(browser: httpx.Client, need_id: int, csrf: str) -> httpx.Response:
    return browser.post(
        f"/my/needs/{need_id}/contact", data={"csrf_token": csrf, "offer_id": "1", "message": "Hi"}
    )


def test_contact_requests_are_throttled_per_account_and_per_client(site: Site) -> None:
    missing_need = 2_000_000_000  # counted before the need is looked up: the answer is 404 until the budget ends
    party = site.client_as("party", country="SEN")
    with party:
        csrf = csrf_of(party.get("/needs/new").text)
        for _ in range(30):
            party.headers["X-Forwarded-For"] = address()
            assert ask_for_contact(party, missing_need, csrf).status_code == 404
        party.headers.update({"X-Forwarded-For": address(), **FRENCH})
        refused = ask_for_contact(party, missing_need, csrf)
    assert refused.status_code == 429
    assert "<h1>Trop de requêtes</h1>" in refused.text
    # One client address, several accounts: 60 requests, then the address waits.
    at = address()
    sent = 0
    while sent < 60:
        with site.client_as("party", country="KEN") as other:
            other.headers["X-Forwarded-For"] = at
            csrf = csrf_of(other.get("/needs/new").text)
            for _ in range(20):
                assert ask_for_contact(other, missing_need, csrf).status_code == 404
                sent += 1
    with site.client_as("party", country="KEN") as last:
        last.headers["X-Forwarded-For"] = at
        assert ask_for_contact(last, missing_need, csrf_of(last.get("/needs/new").text)).status_code == 429
