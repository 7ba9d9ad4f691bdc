"""The Party's pages over HTTP (a real server): posting a need through the guided form, its workspace with the
ranked providers, shortlist and contact requests, "my needs", and the object-level access rules of
``tests/api/test_authorization.py`` applied to these pages.

Needs posted here are confidential, so that the public listings other tests count do not change.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from models.repositories import SuggestedMatchRepository, follow_up_counts
from tests.web.conftest import Site

MANGROVES = {
    "title": "Restoring mangroves on our coast",
    "description": (
        "Our coastal mangroves are cut for charcoal and firewood. We need technical advice and training to "
        "restore mangrove forests with fishing communities, and to monitor the replanted areas."
    ),
    "targets": ["2", "8"],
    "assistance_types": ["technical_advice", "training"],
    "language": "",
    "visibility": "confidential",
}
MESSAGE = "We would like to discuss a training for our coastal rangers next year."


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, "no anti-forgery token in the page"
    return match.group(1)


def post_need(client: httpx.Client, **overrides: Any) -> httpx.Response:
    form = client.get("/needs/new")
    assert form.status_code == 200, form.text[:500]
    return client.post("/needs/new", data={**MANGROVES, **overrides, "csrf_token": csrf_of(form.text)})


def posted_need(client: httpx.Client, **overrides: Any) -> int:
    response = post_need(client, **overrides)
    assert response.status_code == 303, response.text[:2000]
    match = re.fullmatch(r"/my/needs/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


@pytest.fixture(scope="module")
def kenya(site: Site) -> Any:
    with site.client_as("party", country="KEN") as client:
        yield client


@pytest.fixture(scope="module")
def ranked_need(kenya: httpx.Client) -> int:
    """A confidential need of Kenya posted through the form (its providers ranked and stored)."""
    return posted_need(kenya)


# ------------------------------------------------------------------------------------------ the form


def test_the_form_offers_targets_by_title_with_summaries_and_kinds_of_help_explained(kenya: httpx.Client) -> None:
    page = kenya.get("/needs/new")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'<input type="checkbox" id="target-8" name="targets" value="8"', html)
    assert "8. Climate change" in html
    assert "Bring every land and sea area under biodiversity-inclusive spatial planning" in html  # target 1
    assert "Courses, workshops or on-the-job training for your staff." in html
    assert 'name="party"' not in html  # a Party posts for its own country
    assert "Kenya" in html
    for name in ("title", "description", "language"):
        assert re.search(rf'<label class="field__label" for="field-{name}">', html), name


def test_posting_a_need_ranks_its_providers_and_opens_its_workspace(kenya: httpx.Client, ranked_need: int) -> None:
    page = kenya.get(f"/my/needs/{ranked_need}")
    assert page.status_code == 200
    assert MANGROVES["title"] in page.text
    cards = re.findall(r'<li class="match" id="offer-(\d+)">', page.text)
    assert 1 <= len(cards) <= 10
    assert "Confidential" in page.text
    # The explanation (summary and reasons) and a link to each offer and its provider.
    assert f'href="/offers/{cards[0]}"' in page.text
    assert re.search(r'<p class="match__summary">[^<]+ offers “', page.text)
    assert re.search(r'href="/providers/\d+"', page.text)


def test_errors_are_shown_beside_their_fields_and_the_draft_is_kept(kenya: httpx.Client) -> None:
    response = post_need(kenya, title="x", targets=[], assistance_types=["training"])
    assert response.status_code == 422
    html = response.text
    assert 'id="error-title"' in html and 'id="error-targets"' in html
    assert 'id="error-description"' not in html and 'id="error-assistance_types"' not in html
    assert 'aria-invalid="true"' in html
    assert 'href="#field-title"' in html  # the summary at the top links to the field
    # What was typed is still there.
    assert MANGROVES["description"] in html
    assert re.search(r'id="type-training" name="assistance_types" value="training" checked', html)
    assert re.search(r'id="visibility-confidential" name="visibility" value="confidential" checked', html)


def test_the_secretariat_chooses_the_country_and_must_choose_one(site: Site) -> None:
    with site.client_as("secretariat") as staff:
        assert 'name="party"' in staff.get("/needs/new").text
        refused = post_need(staff, party="")
        assert refused.status_code == 422
        assert 'id="error-party"' in refused.text
        need_id = posted_need(staff, party="SEN")
        assert staff.get(f"/my/needs/{need_id}").status_code == 200
    with site.client_as("party", country="SEN") as senegal:
        assert "Restoring mangroves on our coast" in senegal.get("/my/needs").text


def test_a_party_posts_only_for_its_own_country(site: Site) -> None:
    with site.client_as("party", country="BRA") as brazil:
        need_id = posted_need(brazil, party="KEN")  # the field is not on its form: ignored
        page = brazil.get(f"/my/needs/{need_id}")
        assert page.status_code == 200
        assert "Brazil" in page.text


# ------------------------------------------------------------------------------------------ shortlist and contact


def test_shortlist_and_contact_request_are_recorded_once(kenya: httpx.Client, ranked_need: int) -> None:
    page = kenya.get(f"/my/needs/{ranked_need}").text
    offer_id = int(re.findall(r'<li class="match" id="offer-(\d+)">', page)[-1])
    token = csrf_of(page)
    for _ in range(2):
        done = kenya.post(f"/my/needs/{ranked_need}/shortlist", data={"offer_id": offer_id, "csrf_token": token})
        assert done.status_code == 303
        assert done.headers["location"] == f"/my/needs/{ranked_need}#offer-{offer_id}"
    page = kenya.get(f"/my/needs/{ranked_need}").text
    card = page.split(f'id="offer-{offer_id}"')[1].split('<li class="match"')[0]
    assert "On your shortlist" in card

    refused = kenya.post(
        f"/my/needs/{ranked_need}/contact", data={"offer_id": offer_id, "message": "hi", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert f'id="message-{offer_id}-error"' in refused.text
    for _ in range(2):
        sent = kenya.post(
            f"/my/needs/{ranked_need}/contact",
            data={"offer_id": offer_id, "message": MESSAGE, "csrf_token": token},
        )
        assert sent.status_code == 303
    page = kenya.get(f"/my/needs/{ranked_need}").text
    card = page.split(f'id="offer-{offer_id}"')[1].split('<li class="match"')[0]
    assert "Contact requested on" in card and MESSAGE in card
    mine = kenya.get("/my/needs").text
    entry = mine.split(f'href="/my/needs/{ranked_need}"')[1].split("</article>")[0]
    assert "1 provider shortlisted" in entry and "1 contact request" in entry

    removed = kenya.post(
        f"/my/needs/{ranked_need}/shortlist", data={"offer_id": offer_id, "remove": "true", "csrf_token": token}
    )
    assert removed.status_code == 303
    entry = kenya.get("/my/needs").text.split(f'href="/my/needs/{ranked_need}"')[1].split("</article>")[0]
    assert "0 providers shortlisted" in entry


def follow_ups(site: Site, need_id: int) -> tuple[int, int]:
    """Shortlist entries and contact requests stored for a need (read from the server's database)."""
    db = site.database()
    try:
        with db.transaction(read_only=True) as session:
            counts = follow_up_counts(session, [need_id])[need_id]
    finally:
        db.dispose()
    return counts.shortlisted, counts.contacted


def test_a_post_without_this_browsers_token_is_refused_and_records_nothing(
    site: Site, kenya: httpx.Client, ranked_need: int
) -> None:
    path = f"/my/needs/{ranked_need}"
    offer = site.active_offer
    before = follow_ups(site, ranked_need)
    with site.client_as("party", country="KEN") as other_browser:
        foreign = csrf_of(other_browser.get("/my/needs").text)
    mine = kenya.get("/my/needs").text
    for data in ({}, {"csrf_token": foreign}):
        assert kenya.post(f"{path}/shortlist", data={"offer_id": offer, **data}).status_code == 403
        contact = {"offer_id": offer, "message": MESSAGE, **data}
        assert kenya.post(f"{path}/contact", data=contact).status_code == 403
        assert kenya.post("/needs/new", data={**MANGROVES, "title": "Forged need", **data}).status_code == 403
    assert follow_ups(site, ranked_need) == before
    assert kenya.get("/my/needs").text.count('class="card"') == mine.count('class="card"')
    assert "Forged need" not in kenya.get("/my/needs").text


def test_a_contact_request_for_an_offer_the_party_cannot_see_is_not_found(
    site: Site, kenya: httpx.Client, ranked_need: int
) -> None:
    token = csrf_of(kenya.get("/my/needs").text)
    path = f"/my/needs/{ranked_need}"
    for offer_id in (site.paused_offer, 2_000_000_000):
        contact = {"offer_id": offer_id, "message": MESSAGE, "csrf_token": token}
        assert kenya.post(f"{path}/contact", data=contact).status_code == 404
        assert kenya.post(f"{path}/shortlist", data={"offer_id": offer_id, "csrf_token": token}).status_code == 404


# ------------------------------------------------------------------------------------------ access


def test_visitors_are_sent_to_sign_in_and_brought_back(site: Site) -> None:
    for path in ("/needs/new", "/my/needs", f"/my/needs/{site.public_need}"):
        response = site.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/sign-in?next=" + path.replace("/", "%2F"), path


@pytest.mark.parametrize("need", ["public_need", "confidential_need"])
def test_the_workspace_of_a_need_follows_the_access_rules(site: Site, need: str) -> None:
    """Owner and secretariat: allowed; another Party: 404 (page, shortlist, contact, status); provider: 403."""
    need_id = getattr(site, need)
    path = f"/my/needs/{need_id}"
    with (
        site.client_as("party", country="KEN") as owner,
        site.client_as("secretariat") as staff,
        site.client_as("party", country="SEN") as other,
        site.client_as("provider", organisation_id=site.provider) as provider,
    ):
        assert owner.get(path).status_code == 200
        assert staff.get(path).status_code == 200
        for client, expected in ((other, 404), (provider, 403)):
            assert client.get(path).status_code == expected
            token = csrf_of(client.get("/").text)
            shortlist = {"offer_id": site.active_offer, "csrf_token": token}
            assert client.post(f"{path}/shortlist", data=shortlist).status_code == expected
            contact = {**shortlist, "message": MESSAGE}
            assert client.post(f"{path}/contact", data=contact).status_code == expected
            status = {"status": "withdrawn", "version": 1, "csrf_token": token}
            assert client.post(f"{path}/status", data=status).status_code == expected
        assert "Page not found" in other.get(path).text
        token = csrf_of(staff.get(path).text)
        done = staff.post(f"{path}/shortlist", data={"offer_id": site.active_offer, "csrf_token": token})
        assert done.status_code == 303
        shortlist = owner.get(path).text.split('id="shortlist-title"')[1].split("</ul>")[0]
        assert f'href="/offers/{site.active_offer}"' in shortlist
        undo = {"offer_id": site.active_offer, "remove": "true", "csrf_token": token}
        assert staff.post(f"{path}/shortlist", data=undo).status_code == 303


def test_providers_cannot_post_needs_or_list_them_and_the_nav_is_for_parties(site: Site) -> None:
    with site.client_as("provider", organisation_id=site.provider) as provider:
        for path in ("/needs/new", "/my/needs"):
            response = provider.get(path)
            assert response.status_code == 403, path
            assert "This page is not for your account" in response.text
        assert 'href="/needs/new"' not in provider.get("/").text
    with site.client_as("party", country="KEN") as party:
        home = party.get("/").text
        assert 'href="/needs/new"' in home and 'href="/my/needs"' in home
    assert 'href="/my/needs"' not in site.get("/").text


def test_a_party_closes_its_need_with_the_version_it_read(site: Site) -> None:
    with site.client_as("party", country="GHA") as ghana:
        need_id = posted_need(ghana)
        page = ghana.get(f"/my/needs/{need_id}").text
        token = csrf_of(page)
        version = int(re.search(r'name="version" value="(\d+)"', page).group(1))  # type: ignore[union-attr]
        assert "Withdraw this need" in page
        done = ghana.post(
            f"/my/needs/{need_id}/status", data={"status": "withdrawn", "version": version, "csrf_token": token}
        )
        assert done.status_code == 303
        page = ghana.get(f"/my/needs/{need_id}").text
        assert 'status--withdrawn">Withdrawn' in page
        assert "Reopen this need" in page
        # The page the Party read before is out of date: its version no longer applies.
        stale = ghana.post(
            f"/my/needs/{need_id}/status", data={"status": "open", "version": version, "csrf_token": token}
        )
        assert stale.status_code == 412
        assert "This was changed meanwhile" in stale.text
        # A change the rules do not allow a Party.
        refused = ghana.post(
            f"/my/needs/{need_id}/status", data={"status": "matched", "version": version + 1, "csrf_token": token}
        )
        assert refused.status_code == 422


def test_each_provider_shows_its_verdict_and_a_warning_when_only_targets_and_places_fit(
    site: Site, kenya: httpx.Client
) -> None:
    """Two stored suggestions given the components of a strong fit and of a weak topical fit (targets and
    geography fit, the texts do not): the page says so in words, and warns about the second only."""
    need_id = posted_need(kenya, title="Verdicts in words")
    strong = {"semantic": 1.0, "lexical": 0.03, "targets": 0.3, "geography": 0.2, "assistance": 0.03}
    off_topic = {"semantic": 0.1, "lexical": 0.0, "targets": 0.3, "geography": 0.2, "assistance": 0.03}
    db = site.database()
    try:
        with db.transaction() as session:
            rows = SuggestedMatchRepository(session).for_need(need_id)
            assert len(rows) >= 2
            rows[0].components, rows[1].components = strong, off_topic
            first, second = rows[0].offer_id, rows[1].offer_id
    finally:
        db.dispose()
    page = kenya.get(f"/my/needs/{need_id}").text

    def card(offer_id: int) -> str:
        return page.split(f'id="offer-{offer_id}"')[1].split('<li class="match"')[0]

    assert 'verdict--strong"><strong class="verdict__label">Strong fit' in card(first)
    assert "At least three in four" in card(first)
    assert "Check the subject." not in card(first)
    assert "Check the subject." in card(second)
    assert "the offer's text is about something else" in card(second)
    assert "verdict--strong" not in card(second)
    french = kenya.get(f"/my/needs/{need_id}", headers={"Accept-Language": "fr"})
    assert "Très bonne adéquation" in french.text and "Vérifiez le sujet." in french.text
