"""The need-writing assistant in the post-need form, over HTTP without JavaScript (a real server): "Check my
draft" shows the suggested targets and kinds of help in words, the places named, the missing-information
prompts in the reader's language and the similar needs the reader may read, keeps the draft, ticks only what
the reader clicked, and refuses a post without this browser's anti-forgery token. The htmx fragment is the
same partial.

Nothing here posts a need: the assistant stores nothing.
"""

from __future__ import annotations

import html as markup
import re
from typing import Any

import httpx
import pytest

from tests.web.conftest import CONFIDENTIAL_TITLE, Site

DRAFT = {
    "title": "Restoring mangroves on our coast",
    "description": (
        "Our coastal mangroves are cut for charcoal and firewood. We need technical advice and training to "
        "restore mangrove forests with fishing communities, and to monitor the replanted areas."
    ),
    "language": "",
    "visibility": "confidential",
}
# The seeded confidential need of Kenya (tests/web/conftest.py), and its public twin "Drylands seed bank".
SEED_VAULT = {
    "title": CONFIDENTIAL_TITLE,
    "description": "Inventory of the drylands seed vault, shared with the secretariat only.",
}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "no anti-forgery token in the page"
    return match.group(1)


def check(client: httpx.Client, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
    """Press "Check my draft" on a freshly loaded form."""
    token = csrf_of(client.get("/needs/new").text)
    return client.post("/needs/new/assist", data={**data, "csrf_token": token}, **kwargs)


def assistant_of(html: str) -> str:
    """The assistant's part of the form, its text unescaped (attributes keep their quotes)."""
    return markup.unescape(html.split('id="assistant"')[1].split("</section>")[0])


def checked(html: str, kind: str) -> set[str]:
    return set(re.findall(rf'id="{kind}-([\w]+)" name="\w+" value="\w+" checked', html))


@pytest.fixture(scope="module")
def kenya(site: Site) -> Any:
    with site.client_as("party", country="KEN") as client:
        yield client


def test_the_empty_form_offers_the_check_and_suggests_nothing(kenya: httpx.Client) -> None:
    html = kenya.get("/needs/new").text
    part = assistant_of(html)
    assert 'formaction="/needs/new/assist#assistant"' in part and "Check my draft" in part
    assert "aria-live" not in part  # not read out at every pause in typing: a status line says it changed
    assert 'class="suggestion"' not in part


def test_checking_a_draft_shows_suggestions_in_words_and_keeps_the_draft(kenya: httpx.Client) -> None:
    response = check(kenya, {**DRAFT, "assistance_types": ["training"]})
    assert response.status_code == 200, response.text[:2000]
    html = response.text
    part = assistant_of(html)
    # The draft is still in the form.
    assert DRAFT["title"] in html and DRAFT["description"] in html
    assert checked(html, "type") == {"training"}
    assert re.search(r'id="visibility-confidential" name="visibility" value="confidential" checked', html)
    # Targets by their title, each with its likelihood in words and a button to tick it.
    suggested = re.findall(r'name="tick_target" value="(\d+)"', part)
    assert suggested, part
    for number in suggested:
        assert re.search(rf"<span class=\"suggestion__label\">{number}\. [A-Z]", part)
    assert re.search(r'class="suggestion__likelihood">(very likely|likely|possible) \(\d+%\)', part)
    # Never ticked for the reader: the suggested targets are not checked in the form.
    assert checked(html, "target") == set()
    # The kind of help the draft has is shown as ticked, not offered again.
    assert 'name="tick_type" value="training"' not in part
    # What providers will ask: the text says nothing of when, nor of the targets.
    assert 'data-field="when"' in part and "Say by when you need the support" in part
    # Choosing targets and kinds of help is what the suggestions above say: not asked again below.
    assert 'data-field="targets"' not in part and 'data-field="assistance_types"' not in part


def test_ticking_a_suggestion_ticks_that_box_only_and_keeps_the_rest(kenya: httpx.Client) -> None:
    first = check(kenya, {**DRAFT, "assistance_types": ["training"]})
    number = re.findall(r'name="tick_target" value="(\d+)"', assistant_of(first.text))[0]
    ticked = check(kenya, {**DRAFT, "assistance_types": ["training"], "tick_target": number})
    assert ticked.status_code == 200
    html = ticked.text
    assert checked(html, "target") == {number}
    assert checked(html, "type") == {"training"}
    assert DRAFT["description"] in html
    assert f'name="tick_target" value="{number}"' not in assistant_of(html)  # shown as ticked now
    # A value that is not a target ticks nothing.
    refused = check(kenya, {**DRAFT, "tick_target": "99", "tick_type": "consulting"})
    assert refused.status_code == 200
    assert checked(refused.text, "target") == set() and checked(refused.text, "type") == set()


def test_places_named_in_the_text_are_offered_to_the_secretariat(site: Site) -> None:
    text = {**DRAFT, "description": DRAFT["description"] + " The sites are in Senegal, near Joal."}
    with site.client_as("secretariat") as staff:
        part = assistant_of(check(staff, text).text)
        assert 'name="choose_party" value="SEN"' in part
        chosen = check(staff, {**text, "choose_party": "SEN"}).text
        assert re.search(r'<option value="SEN" selected>', chosen)
        assert 'name="choose_party" value="SEN"' not in assistant_of(chosen)
    with site.client_as("party", country="KEN") as kenya:  # a Party posts for its own country only
        part = assistant_of(check(kenya, text).text)
        assert "Senegal" in part and "choose_party" not in part


def test_a_draft_without_usable_text_is_not_checked(kenya: httpx.Client) -> None:
    response = check(kenya, {**DRAFT, "title": "x"})
    assert response.status_code == 200
    part = assistant_of(response.text)
    assert "Write a title (at least 3 characters)" in part and 'class="suggestion"' not in part


def test_a_draft_over_the_size_limits_is_refused_before_any_work(kenya: httpx.Client) -> None:
    for data in (
        {**DRAFT, "description": "mangroves " * 3_000},
        {**DRAFT, "targets": [str(n % 23 + 1) for n in range(41)]},
    ):
        assert check(kenya, data).status_code == 422


def test_the_prompts_are_in_the_readers_language(kenya: httpx.Client) -> None:
    french = check(kenya, DRAFT, headers={"Accept-Language": "fr"})
    part = assistant_of(french.text)
    assert "Indiquez pour quand vous avez besoin de l'appui" in part
    assert "Say by when" not in part
    assert re.search(r'class="suggestion__likelihood">(très probable|probable|possible) \(\d+\xa0%\)', part)
    spanish = assistant_of(check(kenya, DRAFT, headers={"Accept-Language": "es"}).text)
    assert "Indique para cuándo necesita el apoyo" in spanish


def test_similar_needs_are_only_those_the_reader_may_read(site: Site) -> None:
    """Tanzania shares Kenya's sub-region: it is shown Kenya's public need, never its confidential one."""
    confidential = f'href="/needs/{site.confidential_need}"'
    public = f'href="/needs/{site.public_need}"'
    with site.client_as("party", country="TZA") as tanzania:
        part = assistant_of(check(tanzania, SEED_VAULT).text)
        assert public in part
        assert confidential not in part and CONFIDENTIAL_TITLE not in part
    with site.client_as("party", country="KEN") as kenya:
        part = assistant_of(check(kenya, SEED_VAULT).text)
        assert confidential in part and public in part
        assert "your country's need" in part


def test_the_check_needs_this_browsers_token_and_a_needs_role(site: Site, kenya: httpx.Client) -> None:
    with site.client_as("party", country="KEN") as other_browser:
        foreign = csrf_of(other_browser.get("/needs/new").text)
    for data in ({}, {"csrf_token": foreign}):
        assert kenya.post("/needs/new/assist", data={**DRAFT, **data}).status_code == 403
    with site.client_as("provider", organisation_id=site.provider) as provider:
        token = csrf_of(provider.get("/").text)
        assert provider.post("/needs/new/assist", data={**DRAFT, "csrf_token": token}).status_code == 403
    visitor = site.get("/needs/new")
    assert visitor.status_code == 303


def test_htmx_gets_the_assistant_alone(kenya: httpx.Client) -> None:
    token = csrf_of(kenya.get("/needs/new").text)
    response = kenya.post(
        "/needs/new/assist",
        data={**DRAFT},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert "<html" not in response.text and 'name="title"' not in response.text
    assert "Check your draft" in response.text and 'name="tick_target"' in response.text
    assert "HX-Request" in response.headers["vary"]
    # And the status line screen readers announce, swapped out of band (the whole page keeps it empty).
    assert re.search(r'id="assistant-status" role="status" hx-swap-oob="true">Suggestions updated', response.text)
    assert "hx-swap-oob" not in check(kenya, DRAFT).text
