"""Every message a French reader sees is French: the main pages, the error pages (403, 404, 405, 410, 422),
flash messages and form-level errors are walked in French, against the real server, and none may show a
message of the catalogue in its English source form, nor a known English message from outside the catalogue.
(The 429 pages are walked in French and Spanish by ``test_throttle.py``.)

The reader's text is what a person sees or hears: text outside ``<script>`` and ``<style>``, and the ``title``,
``aria-label``, ``placeholder`` and ``alt`` attributes. Records' own text (the demo corpus is in English) is
not a message, and the catalogue's short messages (a few words, such as "Offers") are left out because record
text can contain them: the longer ones are sentences no record repeats.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from babel.messages.pofile import read_po

from tests.web.conftest import Site

ROOT = Path(__file__).resolve().parents[2]
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}
# English written outside the catalogue that pages used to show (the engine's error messages, labels of
# e-mails): each is a regression this test has caught.
KNOWN_ENGLISH = (
    "not stated",
    "is not a known",
    "must be one of",
    "Something went wrong",
    "Field required",
    "String should have",
)
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]")
_MIN_FRAGMENT = 18


def english_fragments() -> list[str]:
    """The English pieces of the catalogue's messages that a French page must not show: each message's
    literal parts between placeholders, of at least ``_MIN_FRAGMENT`` characters, where French differs."""
    po = ROOT / "matcher" / "language" / "locales" / "fr" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale="fr")
    fragments: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if msgid in strings:
                continue
            for part in _PLACEHOLDER.split(msgid):
                part = " ".join(part.split()).strip(" .,:;")
                if len(part) >= _MIN_FRAGMENT and all(part not in s for s in strings):
                    fragments.add(part)
    return sorted(fragments)


class _ReaderText(HTMLParser):
    """What a reader of the page sees or hears (text and the attributes assistive technology reads)."""

    _HIDDEN: ClassVar[frozenset[str]] = frozenset({"script", "style", "template"})
    _READ: ClassVar[frozenset[str]] = frozenset({"title", "aria-label", "placeholder", "alt"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        self.parts.extend(value for name, value in attrs if name in self._READ and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def reader_text(html: str) -> str:
    parser = _ReaderText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_in(html: str, fragments: list[str]) -> list[str]:
    text = reader_text(html)
    return [f for f in (*fragments, *KNOWN_ENGLISH) if f in text]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "no anti-forgery token in the page"
    return match.group(1)


@pytest.fixture(scope="module")
def fragments() -> list[str]:
    found = english_fragments()
    assert len(found) > 100  # the catalogue was read
    return found


@pytest.fixture
def visitor(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, headers={**FRENCH, "X-Forwarded-For": "203.0.113.77"}, timeout=30) as c:
        yield c


@pytest.fixture
def party(site: Site) -> Iterator[httpx.Client]:
    with site.client_as("party", country="SEN") as client:
        client.headers.update({**FRENCH, "X-Forwarded-For": "203.0.113.78"})
        yield client


def test_the_catalogue_fragments_catch_an_english_page(site: Site, fragments: list[str]) -> None:
    """The check itself can fail: the English home page shows catalogue messages in English."""
    assert english_in(site.get("/", headers={"Accept-Language": "en"}).text, fragments)


def test_public_pages_in_french_show_no_english_message(
    site: Site, visitor: httpx.Client, fragments: list[str]
) -> None:
    pages = {
        "/": 200,
        "/needs": 200,
        "/offers": 200,
        "/providers": 200,
        "/offers?q=mangrove+restoration": 200,
        f"/needs/{site.public_need}": 200,
        f"/offers/{site.active_offer}": 200,
        f"/providers/{site.provider}": 200,
        "/sign-in": 200,
        "/password/reset": 200,
        "/register": 200,
        f"/needs/{site.confidential_need}": 404,
        "/needs?page=abc": 422,
        "/my/needs": 200,  # a visitor: sent to sign in, in French
    }
    for path, status in pages.items():
        response = visitor.get(path, follow_redirects=True)
        assert response.status_code == status, path
        assert 'lang="fr"' in response.text, path
        assert english_in(response.text, fragments) == [], path


def test_refusals_and_form_errors_in_french_show_no_english_message(
    site: Site, visitor: httpx.Client, fragments: list[str]
) -> None:
    csrf = csrf_of(visitor.get("/sign-in").text)
    answers = {
        "no token (403)": visitor.post("/sign-in", data={"email": "a@b.example", "password": "x"}),
        "wrong password (422)": visitor.post(
            "/sign-in", data={"csrf_token": csrf, "email": "nobody@french.example.org", "password": "wrong words"}
        ),
        "empty registration (422)": visitor.post("/register", data={"csrf_token": csrf, "website": "ftp://x"}),
        "unknown field (422)": visitor.post("/register", data={"csrf_token": csrf, "is_admin": "1"}),
        "bad link (410)": visitor.post(
            "/password/choose/not-a-link", data={"csrf_token": csrf, "password": "x", "password_again": "y"}
        ),
        "wrong method": visitor.get("/sign-out"),
    }
    for what, response in answers.items():
        assert response.status_code >= 400, what
        assert 'lang="fr"' in response.text, what
        assert english_in(response.text, fragments) == [], what
    # Each refusal says what happened, not another error's words: a form is not "an address", and a request
    # of the wrong kind is not an unexpected error.
    assert "<h1>Nous n'avons pas pu lire ce formulaire</h1>" in answers["unknown field (422)"].text
    assert answers["wrong method"].status_code == 405
    assert "Une erreur inattendue" not in answers["wrong method"].text


def test_signed_in_pages_in_french_show_no_english_message(
    site: Site, party: httpx.Client, fragments: list[str]
) -> None:
    for path, status in {
        "/needs/new": 200,
        "/my/needs": 200,
        "/account": 200,
        "/account?done=profile": 200,
        "/account/keys": 200,
        "/account/keys?done=revoked": 200,
        "/secretariat/registrations": 403,
        f"/my/needs/{site.confidential_need}": 404,
    }.items():
        response = party.get(path)
        assert response.status_code == status, path
        assert english_in(response.text, fragments) == [], path
    csrf = csrf_of(party.get("/needs/new").text)
    refused = {
        "need without anything (422)": party.post("/needs/new", data={"csrf_token": csrf}),
        "need with a bad language (422)": party.post(
            "/needs/new",
            data={
                "csrf_token": csrf,
                "title": "Suivi des tortues marines",
                "description": "Nous cherchons une formation au suivi des tortues marines sur nos plages.",
                "targets": "4",
                "assistance_types": "training",
                "language": "xx",
                "visibility": "public",
            },
        ),
        "another Party's need's status (404)": party.post(
            f"/my/needs/{site.public_need}/status", data={"csrf_token": csrf, "status": "closed", "version": "1"}
        ),
    }
    for what, response in refused.items():
        assert response.status_code >= 400, what
        assert english_in(response.text, fragments) == [], what
