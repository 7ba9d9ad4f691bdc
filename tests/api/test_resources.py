"""Behaviour of the resources: posting and ranking, stored suggestions, listings, validation, idempotency,
optimistic locking, rate limits, reverse matching, life cycles, revoked keys and the OpenAPI document.

Expected results are computed from the records in the database (read with the ORM, filtered in Python), never
from the listing code under test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import security
from matcher.access import accounts
from matcher.engine.service import MatchService
from matcher.engine.verdicts import load_calibration, verdict_of
from matcher.records import offers, organisations
from models import migrate
from models import vocabularies as vocab
from models.db import Database
from models.orm import Need, Notification, Offer, Subscription, SuggestedMatch
from tests.api.conftest import (
    NEED_BODY,
    OFFER_BODY,
    STAFF_PRINCIPAL,
    Api,
    api_settings,
    app_routes,
    issue,
    running_app,
    unique,
)

SCORE_TOLERANCE = 1e-5  # each component and the score are rounded to 6 decimals
Keep = Callable[[dict[str, Any]], bool]


def need_rows(api: Api) -> list[dict[str, Any]]:
    with api.db.transaction(read_only=True) as session:
        return [
            dict(
                id=n.id,
                party=n.party,
                organisation_id=n.organisation_id,
                targets=set(n.targets),
                assistance_types=set(n.assistance_types),
                status=n.status,
                language=n.language,
                visibility=n.visibility,
                text=f"{n.title}\n{n.description}".lower(),
            )
            for n in session.scalars(select(Need))
        ]


def offer_rows(api: Api) -> list[dict[str, Any]]:
    with api.db.transaction(read_only=True) as session:
        return [
            dict(
                id=o.id,
                organisation_id=o.organisation_id,
                org_type=o.organisation.org_type,
                targets=set(o.targets),
                assistance_types=set(o.assistance_types),
                languages=set(o.languages),
                regions=set(o.regions_served),
                countries=set(o.countries_served),
                status=o.status,
                text=f"{o.title}\n{o.description}".lower(),
            )
            for o in session.scalars(select(Offer))
        ]


def party_in(party: str, area: str) -> bool:
    country = vocab.countries()[party]
    return area in (vocab.GLOBAL, country.region, country.sub_region)


def serves(offer: dict[str, Any], place: str) -> bool:
    """The documented geography: Global, the place, the area holding it, or an area or country inside it."""
    countries = vocab.countries()
    if place in countries:
        holding = {vocab.GLOBAL, countries[place].region, countries[place].sub_region}
        return bool(offer["regions"] & holding) or place in offer["countries"]
    regions = vocab.regions()
    if place in regions:
        areas = {vocab.GLOBAL, place, *regions[place]}
    else:
        areas = {vocab.GLOBAL, place, *(r for r, subs in regions.items() if place in subs)}
    return bool(offer["regions"] & areas) or any(party_in(c, place) for c in offer["countries"])


def every_id(api: Api, role: str, path: str, params: dict[str, Any], *, limit: int = 200) -> list[int]:
    ids: list[int] = []
    while True:
        page = api.get(role, path, params={**params, "limit": limit, "offset": len(ids)})
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        if not page.json()["items"]:
            assert len(ids) == page.json()["total"]
            return ids


def check_ranking(matches: list[dict[str, Any]]) -> None:
    """Ranks 1..n, best first, each score the sum of its components, each with an explanation."""
    assert [m["rank"] for m in matches] == list(range(1, len(matches) + 1))
    scores = [m["score"] for m in matches]
    assert scores == sorted(scores, reverse=True)
    for m in matches:
        assert abs(sum(m["components"].values()) - m["score"]) <= SCORE_TOLERANCE, m
        assert {"semantic", "targets", "geography"} <= set(m["components"])
        assert m["explanation"]["summary"]
        assert m["explanation"]["reasons"]
        assert m["explanation"]["text"]
        facts = m["explanation"]["facts"]  # language-free, for readers of other languages
        assert facts["summary"]["code"] == "offer"
        assert len(facts["reasons"]) == len(m["explanation"]["reasons"])
        # The fit verdict is the shipped calibration's reading of the (served, rounded) components.
        fit = load_calibration().assess(m["components"])
        assert 0 <= m["probability"] <= 1
        assert m["probability"] == pytest.approx(fit.probability, abs=1e-3)
        assert m["weak_topical_fit"] == fit.weak_topical_fit
        assert m["verdict"] == verdict_of(m["probability"], weak_topical_fit=m["weak_topical_fit"])


def check_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "detail", "field"}
    assert body["error"] == code
    assert body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# ------------------------------------------------------------------------------- posting a need


def test_posting_a_need_answers_with_the_need_its_etag_and_ranked_providers(api: Api) -> None:
    body = {**NEED_BODY, "title": unique("Wetland mapping ")}
    response = api.post("party_ken", "/v1/needs", json=body, params={"k": 7})

    assert response.status_code == 201, response.text
    need, ranking = response.json()["need"], response.json()["ranking"]
    assert (need["title"], need["party"], need["visibility"], need["status"]) == (
        body["title"],
        "KEN",
        "public",
        "open",
    )
    assert need["targets"] == body["targets"]
    assert sorted(need["assistance_types"]) == sorted(body["assistance_types"])
    assert need["language"] == "en"
    assert response.headers["ETag"] == f'"{need["version"]}"'
    assert response.headers["Location"] == f"/v1/needs/{need['id']}"
    assert len(ranking["matches"]) == 7
    check_ranking(ranking["matches"])
    assert ranking["allowed"] >= 7
    assert ranking["empty_reason"] is None
    assert api.get("party_ken", f"/v1/needs/{need['id']}").json() == need


def test_the_ranked_providers_are_stored_as_the_needs_suggestions(api: Api) -> None:
    posted = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": unique("Stored ")}, params={"k": 6})
    need_id, ranked = posted.json()["need"]["id"], posted.json()["ranking"]["matches"]

    stored = api.get("party_ken", f"/v1/needs/{need_id}/matches")

    assert stored.status_code == 200, stored.text
    assert stored.json()["source"] == "stored"
    matches = stored.json()["matches"]
    assert [(m["offer_id"], m["score"]) for m in matches] == [(m["offer_id"], m["score"]) for m in ranked]
    for stored_match, ranked_match in zip(matches, ranked, strict=True):
        assert stored_match["components"] == pytest.approx(ranked_match["components"], abs=1e-6)
        assert stored_match["verdict"] == ranked_match["verdict"]
        assert stored_match["probability"] == pytest.approx(ranked_match["probability"], abs=1e-3)
    assert {m["status"] for m in matches} == {"suggested"}
    check_ranking(matches)
    with api.db.transaction(read_only=True) as session:
        rows = session.scalars(select(SuggestedMatch).where(SuggestedMatch.need_id == need_id)).all()
        assert sorted(r.offer_id for r in rows) == sorted(m["offer_id"] for m in ranked)
    first_two = api.get("secretariat", f"/v1/needs/{need_id}/matches", params={"k": 2})
    assert [m["offer_id"] for m in first_two.json()["matches"]] == [m["offer_id"] for m in ranked[:2]]


def test_rerank_ranks_again_with_k_and_the_filters(api: Api) -> None:
    offers = {o["id"]: o for o in offer_rows(api)}
    path = f"/v1/needs/{api.public_need}/matches"
    unfiltered = api.get("party_ken", path, params={"rerank": "true", "k": 20})
    assert unfiltered.status_code == 200, unfiltered.text
    # The filter must bite: a Kenyan need's best providers include some that do not serve South America.
    assert any(not serves(offers[m["offer_id"]], "South America") for m in unfiltered.json()["matches"])

    filtered = api.get("party_ken", path, params={"rerank": "true", "k": 3, "only_region": "South America"})

    assert filtered.status_code == 200, filtered.text
    body = filtered.json()
    assert "source" not in body  # a fresh ranking, not the stored one
    assert len(body["matches"]) == 3
    check_ranking(body["matches"])
    assert all(serves(offers[m["offer_id"]], "South America") for m in body["matches"])
    serving = sum(1 for o in offers.values() if o["status"] == "active" and serves(o, "South America"))
    assert 3 <= body["allowed"] <= serving
    # Re-ranking stores nothing: the stored suggestions are those of the post.
    assert api.get("party_ken", path).json()["source"] == "stored"


def test_rerank_with_a_target_filter_only_returns_offers_on_that_target(api: Api) -> None:
    offers = {o["id"]: o for o in offer_rows(api)}
    response = api.get(
        "secretariat",
        f"/v1/needs/{api.public_need}/matches",
        params={"rerank": "true", "k": 10, "only_target": 15},
    )
    assert response.status_code == 200, response.text
    assert response.json()["matches"]
    assert all(15 in offers[m["offer_id"]]["targets"] for m in response.json()["matches"])


# ------------------------------------------------------------------------------------- listings


def test_offer_pages_add_up_to_every_active_offer_in_id_order(api: Api) -> None:
    active = sorted(o["id"] for o in offer_rows(api) if o["status"] == "active")
    pages, offset = [], 0
    while True:
        page = api.get("anonymous", "/v1/offers", params={"limit": 25, "offset": offset})
        assert page.status_code == 200, page.text
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (len(active), 25, offset)
        assert len(body["items"]) <= 25
        if not body["items"]:
            break
        pages.append([o["id"] for o in body["items"]])
        offset += 25
    assert [i for page in pages for i in page] == active
    assert all(len(page) == 25 for page in pages[:-1])
    assert len(pages) == -(-len(active) // 25)


@pytest.mark.parametrize("limit", [0, 201])
def test_page_sizes_outside_1_to_200_are_refused(api: Api, limit: int) -> None:
    check_error(api.get("anonymous", "/v1/offers", params={"limit": limit}), 422, "invalid_input", "limit")


NEED_FILTERS = [
    ({"target": [3]}, lambda n: 3 in n["targets"]),
    ({"target": [15, 21]}, lambda n: bool(n["targets"] & {15, 21})),
    ({"region": "Africa"}, lambda n: party_in(n["party"], "Africa")),
    ({"region": "South America"}, lambda n: party_in(n["party"], "South America")),
    ({"country": "KEN"}, lambda n: n["party"] == "KEN"),
    ({"type": ["equipment", "mentoring"]}, lambda n: bool(n["assistance_types"] & {"equipment", "mentoring"})),
    ({"status": ["withdrawn"]}, lambda n: n["status"] == "withdrawn"),
    ({"language": ["fr"]}, lambda n: n["language"] == "fr"),
    ({"language": ["es", "fr"]}, lambda n: n["language"] in ("es", "fr")),
    ({"q": "MANGROVE"}, lambda n: "mangrove" in n["text"]),
    ({"region": "Americas", "language": ["es"], "type": ["training"]},
     lambda n: party_in(n["party"], "Americas") and n["language"] == "es" and "training" in n["assistance_types"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def withdrawn_need(api: Api) -> int:
    """A withdrawn need, so that filtering on the status keeps some needs and drops others."""
    return api.new_need(party="PER", status="withdrawn", language="es", title=unique("Withdrawn Peruvian need "))


@pytest.mark.parametrize(("params", "keep"), NEED_FILTERS, ids=[str(p) for p, _ in NEED_FILTERS])
@pytest.mark.parametrize("role", ["party_bra", "party_ken", "secretariat"])
def test_need_filters_return_exactly_the_visible_needs_that_match(
    api: Api, withdrawn_need: int, params: dict[str, Any], keep: Keep, role: str
) -> None:
    rows = need_rows(api)
    assert withdrawn_need in {n["id"] for n in rows}

    def visible(n: dict[str, Any]) -> bool:
        return n["visibility"] == "public" or role == "secretariat" or (role, n["party"]) == ("party_ken", "KEN")

    expected = sorted(n["id"] for n in rows if visible(n) and keep(n))
    assert 0 < len(expected) < sum(map(visible, rows))  # the filter keeps some needs and drops others
    assert every_id(api, role, "/v1/needs", params, limit=13) == expected


OFFER_FILTERS = [
    ({"target": [10]}, lambda o: 10 in o["targets"]),
    ({"region": "Eastern Africa"}, lambda o: serves(o, "Eastern Africa")),
    ({"region": "Americas"}, lambda o: serves(o, "Americas")),
    ({"country": "BRA"}, lambda o: serves(o, "BRA")),
    ({"type": ["equipment", "funding"]}, lambda o: bool(o["assistance_types"] & {"equipment", "funding"})),
    ({"status": ["paused"]}, lambda o: o["status"] == "paused"),
    ({"language": ["pt"]}, lambda o: "pt" in o["languages"]),
    ({"org_type": ["university"]}, lambda o: o["org_type"] == "university"),
    ({"q": "coral"}, lambda o: "coral" in o["text"]),
    ({"region": "Asia", "type": ["training"], "language": ["en"]},
     lambda o: serves(o, "Asia") and "training" in o["assistance_types"] and "en" in o["languages"]),
]  # fmt: skip


@pytest.mark.parametrize(("params", "keep"), OFFER_FILTERS, ids=[str(p) for p, _ in OFFER_FILTERS])
@pytest.mark.parametrize("role", ["anonymous", "provider_a", "secretariat"])
def test_offer_filters_return_exactly_the_visible_offers_that_match(
    api: Api, params: dict[str, Any], keep: Keep, role: str
) -> None:
    rows = offer_rows(api)

    def visible(o: dict[str, Any]) -> bool:
        return (
            o["status"] == "active"
            or role == "secretariat"
            or (role == "provider_a" and o["organisation_id"] == api.org_a)
        )

    expected = sorted(o["id"] for o in rows if visible(o) and keep(o))
    assert len(expected) < sum(map(visible, rows))
    assert expected or (params, role) == ({"status": ["paused"]}, "anonymous")
    assert every_id(api, role, "/v1/offers", params, limit=17) == expected


def test_offers_filtered_by_organisation(api: Api) -> None:
    own = sorted(o["id"] for o in offer_rows(api) if o["organisation_id"] == api.org_a)
    assert api.paused_offer_a in own
    assert every_id(api, "provider_a", "/v1/offers", {"organisation_id": api.org_a}) == own
    assert every_id(api, "provider_b", "/v1/offers", {"organisation_id": api.org_a}) == [
        i for i in own if i != api.paused_offer_a
    ]


def test_organisation_filters(api: Api) -> None:
    listing = api.get("party_ken", "/v1/organisations", params={"country": "KEN", "org_type": "government_agency"})
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert items
    assert all((o["country"], o["org_type"]) == ("KEN", "government_agency") for o in items)
    assert "Government of Kenya" in {o["name"] for o in items}


# ---------------------------------------------------------------------------------- bad input


TOO_LONG, UNKNOWN = "at most", "unknown field"
BAD_BODIES = [
    ("/v1/needs", {**NEED_BODY, "title": "t" * 301}, "title", TOO_LONG),
    ("/v1/needs", {**NEED_BODY, "description": "d" * 20_001}, "description", TOO_LONG),
    ("/v1/needs", {**NEED_BODY, "requesting_organisation": "n" * 201}, "requesting_organisation", TOO_LONG),
    ("/v1/offers", {**OFFER_BODY, "title": "t" * 301}, "title", TOO_LONG),
    ("/v1/match", {"text": "w" * 20_001}, "text", TOO_LONG),
    ("/v1/organisations", {"name": "n" * 201, "org_type": "ngo", "country": "KEN"}, "name", TOO_LONG),
    ("/v1/needs", {**NEED_BODY, "colour": "red"}, "colour", UNKNOWN),
    ("/v1/offers", {**OFFER_BODY, "rating": 5}, "rating", UNKNOWN),
    ("/v1/match", {"text": "wetlands", "filters": {"country": "KEN"}}, "filters.country", UNKNOWN),
    (
        "/v1/organisations",
        {"name": "Unknown field org", "org_type": "ngo", "country": "KEN", "x": 1},
        "x",
        UNKNOWN,
    ),
]


@pytest.mark.parametrize(("path", "body", "field", "problem"), BAD_BODIES)
def test_unknown_fields_and_overlong_values_are_refused_naming_the_field(
    api: Api, path: str, body: dict[str, Any], field: str, problem: str
) -> None:
    role = {"/v1/needs": "party_ken", "/v1/offers": "provider_a"}.get(path, "secretariat")
    error = check_error(api.post(role, path, json=body), 422, "invalid_input", field)
    assert problem in error["detail"]


def test_a_patch_cannot_change_fields_outside_the_update_schema(api: Api) -> None:
    need_id = api.new_need()
    path = f"/v1/needs/{need_id}"
    before = api.get("party_ken", path).json()
    response = api.call("party_ken", "PATCH", path, json={"party": "BRA"}, headers={"If-Match": api.etag(path)})
    check_error(response, 422, "invalid_input", "party")
    assert api.get("party_ken", path).json() == before


NULLS = [
    ("needs", "title"),
    ("needs", "description"),
    ("needs", "targets"),
    ("needs", "language"),
    ("needs", "visibility"),
    ("needs", "status"),
    ("offers", "title"),
    ("offers", "targets"),
    ("offers", "languages"),
    ("offers", "cost"),
    ("organisations", "name"),
]


@pytest.mark.parametrize(("resource", "field"), NULLS)
def test_a_patch_cannot_null_a_required_field(api: Api, resource: str, field: str) -> None:
    role, path, _ = _patchable(api, resource)
    role = "secretariat" if field == "status" else role  # a Party's status changes are refused anyway
    before = api.get("secretariat", path).json()
    response = api.call(role, "PATCH", path, json={field: None}, headers={"If-Match": api.etag(path)})
    check_error(response, 422, "invalid_input", field)
    assert api.get("secretariat", path).json() == before


def test_overlong_query_text_and_invalid_json_are_refused(api: Api) -> None:
    check_error(api.get("party_ken", "/v1/needs", params={"q": "q" * 201}), 422, "invalid_input", "q")
    bad = api.call(
        "party_ken", "POST", "/v1/needs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in check_error(bad, 422, "invalid_input")["detail"]


def vocabulary_error(role: str, method: str, path: str, field: str, closest: str, **request: Any) -> Any:
    return pytest.param(role, method, path, request, field, closest, id=f"{method} {path} {field}")


MATCHES = "/v1/needs/{public_need}/matches"
VOCABULARY_ERRORS = [
    vocabulary_error(
        "party_ken",
        "POST",
        "/v1/needs",
        "assistance_types",
        "'training'",
        json={**NEED_BODY, "assistance_types": ["trainig"]},
    ),
    vocabulary_error(
        "party_ken", "POST", "/v1/needs", "party", "'KEN (Kenya)'", json={**NEED_BODY, "party": "Kenyaa"}
    ),
    vocabulary_error(
        "party_ken", "POST", "/v1/needs", "language", "'en (English)'", json={**NEED_BODY, "language": "englsh"}
    ),
    vocabulary_error(
        "provider_a",
        "POST",
        "/v1/offers",
        "regions_served",
        "'Eastern Africa'",
        json={**OFFER_BODY, "regions_served": ["Eastern Afrika"]},
    ),
    vocabulary_error("provider_a", "POST", "/v1/offers", "cost", "'free'", json={**OFFER_BODY, "cost": "fre"}),
    vocabulary_error(
        "party_ken", "GET", "/v1/needs", "region", "'Eastern Africa'", params={"region": "Eastern Afrika"}
    ),
    vocabulary_error("party_ken", "GET", "/v1/needs", "type", "'training'", params={"type": "trainig"}),
    vocabulary_error("anonymous", "GET", "/v1/offers", "org_type", "'ngo'", params={"org_type": "ngoo"}),
    vocabulary_error("anonymous", "GET", "/v1/offers", "country", "'KEN (Kenya)'", params={"country": "Kenyaa"}),
    vocabulary_error(
        "party_ken",
        "POST",
        "/v1/match",
        "filters.serves",
        "'Eastern Africa'",
        json={"text": "wetland maps", "filters": {"serves": ["Eastern Afrika"]}},
    ),
    vocabulary_error(
        "party_ken",
        "POST",
        "/v1/match",
        "assistance_types",
        "'training'",
        json={"text": "wetland maps", "assistance_types": ["trainig"]},
    ),
    vocabulary_error(
        "party_ken",
        "GET",
        MATCHES,
        "only_region",
        "'Eastern Africa'",
        params={"rerank": "true", "only_region": "Eastern Afrika"},
    ),
    vocabulary_error(
        "party_ken", "GET", MATCHES, "only_type", "'training'", params={"rerank": "true", "only_type": "trainig"}
    ),
]


@pytest.mark.parametrize(("role", "method", "path", "sent", "field", "closest"), VOCABULARY_ERRORS)
def test_vocabulary_errors_name_the_field_and_the_closest_values(
    api: Api, role: str, method: str, path: str, sent: dict[str, Any], field: str, closest: str
) -> None:
    response = api.call(role, method, path.format(public_need=api.public_need), **sent)
    error = check_error(response, 422, "invalid_input", field)
    assert f"did you mean {closest}" in error["detail"]


def test_an_unknown_target_names_the_valid_range(api: Api) -> None:
    response = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "targets": [24]})
    assert "1 to 23" in check_error(response, 422, "invalid_input", "targets")["detail"]


# ---------------------------------------------------------------------------------- idempotency


def _create(api: Api, resource: str, marker: str) -> tuple[str, str, dict[str, Any]]:
    """(role, path, body) that creates a findable record of ``resource``."""
    if resource == "needs":
        return "party_ken", "/v1/needs", {**NEED_BODY, "title": f"Idempotent need {marker}"}
    if resource == "offers":
        return "provider_a", "/v1/offers", {**OFFER_BODY, "title": f"Idempotent offer {marker}"}
    return (
        "secretariat",
        "/v1/organisations",
        {"name": f"Idempotent org {marker}", "org_type": "ngo", "country": "KEN"},
    )


@pytest.mark.parametrize("resource", ["needs", "offers", "organisations"])
def test_the_same_idempotency_key_and_body_replay_the_first_response(api: Api, resource: str) -> None:
    marker = unique()
    role, path, body = _create(api, resource, marker)
    headers = {"Idempotency-Key": unique("key-")}

    first = api.post(role, path, json=body, headers=headers)
    again = api.post(role, path, json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert api.get("secretariat", path, params={"q": marker}).json()["total"] == 1
    # A replay is the first response: a client that retried still learns the ETag and the Location.
    assert again.headers.get("ETag") == first.headers["ETag"]
    assert again.headers.get("Location") == first.headers["Location"]


@pytest.mark.parametrize("resource", ["needs", "offers", "organisations"])
def test_the_same_idempotency_key_with_another_body_is_refused(api: Api, resource: str) -> None:
    role, path, body = _create(api, resource, unique())
    other_marker = unique()
    _, _, other = _create(api, resource, other_marker)
    headers = {"Idempotency-Key": unique("key-")}
    assert api.post(role, path, json=body, headers=headers).status_code == 201

    refused = api.post(role, path, json=other, headers=headers)

    check_error(refused, 422, "invalid_input", "Idempotency-Key")
    assert api.get("secretariat", path, params={"q": other_marker}).json()["total"] == 0


def test_idempotency_keys_are_scoped_per_user(api: Api) -> None:
    headers = {"Idempotency-Key": unique("shared-")}
    body = {**NEED_BODY, "title": unique("Same key, two Parties ")}
    kenya = api.post("party_ken", "/v1/needs", json=body, headers=headers)
    brazil = api.post("party_bra", "/v1/needs", json=body, headers=headers)
    assert (kenya.status_code, brazil.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in brazil.headers
    assert (kenya.json()["need"]["party"], brazil.json()["need"]["party"]) == ("KEN", "BRA")


def test_a_refused_request_does_not_use_up_its_idempotency_key(api: Api) -> None:
    headers = {"Idempotency-Key": unique("retry-")}
    body = {**NEED_BODY, "title": unique("Refused then fixed ")}
    assert api.post("party_bra", "/v1/needs", json={**body, "party": "KEN"}, headers=headers).status_code == 403
    accepted = api.post("party_bra", "/v1/needs", json=body, headers=headers)
    assert accepted.status_code == 201, accepted.text
    assert "Idempotent-Replayed" not in accepted.headers


@pytest.fixture
def bare_app(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], int]]:
    """An app on each backend with an empty catalogue, one organisation and a secretariat key."""
    settings = api_settings(tmp_path, database_url=db_url)
    db = settings.open_database()
    migrate.upgrade(db)
    headers = {"Authorization": f"Bearer {issue(db, 'secretariat', 'secretariat')}"}
    with db.transaction() as session:
        org = organisations.create_organisation(session, STAFF_PRINCIPAL, _organisation("Bare organisation"))
        session.flush()
        org_id = org.id
    db.dispose()
    with running_app(settings) as client:
        yield client, headers, org_id


def test_a_request_that_checked_for_its_key_before_the_first_committed_replays_it(
    bare_app: tuple[TestClient, dict[str, str], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests with one key race: the second has looked for a stored response and found none when the first
    commits. It must still replay the first response rather than repeat the effect."""
    client, auth, org_id = bare_app
    looked, first_done = threading.Event(), threading.Event()
    real_replay = security.replay

    def replay_then_wait(*args: Any, **kwargs: Any) -> Any:
        seen = real_replay(*args, **kwargs)
        if not looked.is_set():  # the request that looks first is held until the other one has committed
            looked.set()
            assert first_done.wait(timeout=30)
        return seen

    monkeypatch.setattr(security, "replay", replay_then_wait)
    marker = unique()
    body = {**OFFER_BODY, "title": f"Raced offer {marker}", "organisation_id": org_id}
    headers = {**auth, "Idempotency-Key": "race"}
    held: list[Any] = []
    second = threading.Thread(target=lambda: held.append(client.post("/v1/offers", json=body, headers=headers)))
    second.start()
    assert looked.wait(timeout=30)
    first = client.post("/v1/offers", json=body, headers=headers)
    first_done.set()
    second.join(timeout=30)

    assert first.status_code == 201, first.text
    assert held[0].status_code == 201, held[0].text
    assert held[0].json() == first.json()
    assert held[0].headers.get("Idempotent-Replayed") == "true"
    listing = client.get("/v1/offers", params={"q": marker}, headers=auth)
    assert listing.json()["total"] == 1


@pytest.fixture
def racing_app(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Database]]:
    """An app on each backend with three offers of one organisation, which follows them with a top-10
    subscription, and a secretariat key."""
    settings = api_settings(tmp_path, database_url=db_url)
    db = settings.open_database()
    migrate.upgrade(db)
    headers = {"Authorization": f"Bearer {issue(db, 'secretariat', 'secretariat')}"}
    with db.transaction() as session:
        org = organisations.create_organisation(session, STAFF_PRINCIPAL, _organisation("Racing organisation"))
        session.flush()
        for i in range(3):
            body = {**OFFER_BODY, "title": f"{OFFER_BODY['title']} {i}", "organisation_id": org.id}
            offers.create_offer(session, STAFF_PRINCIPAL, body)
        session.add(
            Subscription(
                organisation_id=org.id, kind="offers", rule="top_n", top_n=10, delivery="instant",
                channels=["feed"], filters={}, unsubscribe_token=unique("racing-token-") * 2,
            )
        )  # fmt: skip
    try:
        with running_app(settings) as client:
            yield client, headers, db
    finally:
        db.dispose()


def test_an_offer_deleted_while_a_need_is_ranked_is_left_out_and_the_need_is_stored(
    racing_app: tuple[TestClient, dict[str, str], Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranking runs before the write transaction: the top offer is deleted (and committed) in between."""
    client, auth, db = racing_app
    deleted: list[int] = []
    real_match = MatchService.match

    def match_then_delete(self: MatchService, need: Any, **kwargs: Any) -> Any:
        result = real_match(self, need, **kwargs)
        if not deleted and result.matches:
            with db.transaction() as session:
                offers.delete_offer(session, STAFF_PRINCIPAL, result.matches[0].offer_id, version=None)
            deleted.append(result.matches[0].offer_id)
        return result

    monkeypatch.setattr(MatchService, "match", match_then_delete)
    posted = client.post("/v1/needs", json={**NEED_BODY, "party": "KEN"}, headers=auth)

    assert posted.status_code == 201, posted.text
    assert deleted  # precondition: the ranking's top offer was deleted before the need was written
    need_id = posted.json()["need"]["id"]
    ranked = [m["offer_id"] for m in posted.json()["ranking"]["matches"]]
    assert ranked and deleted[0] not in ranked
    assert client.get(f"/v1/needs/{need_id}", headers=auth).status_code == 200
    stored = client.get(f"/v1/needs/{need_id}/matches", headers=auth).json()["matches"]
    assert [m["offer_id"] for m in stored] == ranked
    assert [m["rank"] for m in stored] == list(range(1, len(ranked) + 1))
    with db.transaction(read_only=True) as session:
        # The subscription was satisfied when the need was ranked: it is notified, without the vanished offer.
        alerts = session.scalars(select(Notification).where(Notification.need_id == need_id)).all()
        assert [n.offer_id for n in alerts] == [None]


# -------------------------------------------------------------------------------- If-Match / ETag


def _patchable(api: Api, resource: str) -> tuple[str, str, dict[str, Any]]:
    """(owner role, path, change) of a fresh record of ``resource``."""
    if resource == "needs":
        return "party_ken", f"/v1/needs/{api.new_need()}", {"title": unique("Changed need ")}
    if resource == "offers":
        return "provider_a", f"/v1/offers/{api.new_offer()}", {"capacity": 4}
    return "secretariat", f"/v1/organisations/{api.new_organisation()}", {"website": "https://example.org/x"}


@pytest.mark.parametrize("resource", ["needs", "offers", "organisations"])
def test_patch_needs_the_current_etag_and_advances_it(api: Api, resource: str) -> None:
    role, path, change = _patchable(api, resource)
    read = api.get(role, path)
    original, etag = read.json(), read.headers["ETag"]
    assert etag == f'"{original["version"]}"'

    missing = api.call(role, "PATCH", path, json=change)
    check_error(missing, 428, "precondition_required")
    stale = api.call(role, "PATCH", path, json=change, headers={"If-Match": f'"{original["version"] + 1}"'})
    check_error(stale, 412, "stale_version")
    malformed = api.call(role, "PATCH", path, json=change, headers={"If-Match": "yesterday"})
    check_error(malformed, 422, "invalid_input", "If-Match")
    assert api.get(role, path).json() == original

    accepted = api.call(role, "PATCH", path, json=change, headers={"If-Match": etag})

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["version"] == original["version"] + 1
    assert accepted.headers["ETag"] == f'"{original["version"] + 1}"'
    assert all(accepted.json()[k] == v for k, v in change.items())
    assert api.get(role, path).headers["ETag"] == accepted.headers["ETag"]
    check_error(api.call(role, "PATCH", path, json=change, headers={"If-Match": etag}), 412, "stale_version")
    weak = api.call(role, "PATCH", path, json=change, headers={"If-Match": f"W/{accepted.headers['ETag']}"})
    assert weak.status_code == 200, weak.text


def test_patching_only_tags_still_advances_the_version(api: Api) -> None:
    path = f"/v1/offers/{api.new_offer()}"
    etag = api.etag(path)
    response = api.call("provider_a", "PATCH", path, json={"targets": [2, 8]}, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    assert response.json()["targets"] == [2, 8]
    assert response.headers["ETag"] != etag


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("party_ken", "POST", "/v1/needs/{need}/withdraw"),
        ("party_ken", "DELETE", "/v1/needs/{need}"),
        ("provider_a", "POST", "/v1/offers/{offer}/pause"),
        ("provider_a", "DELETE", "/v1/offers/{offer}"),
        ("secretariat", "DELETE", "/v1/organisations/{organisation}"),
    ],
)
def test_an_optional_if_match_is_still_checked(api: Api, role: str, method: str, path: str) -> None:
    path = path.format(need=api.new_need(), offer=api.new_offer(), organisation=api.new_organisation())
    record = path.removesuffix("/withdraw").removesuffix("/pause")
    before = api.get("secretariat", record).json()
    check_error(api.call(role, method, path, headers={"If-Match": '"42"'}), 412, "stale_version")
    assert api.get("secretariat", record).json() == before
    accepted = api.call(role, method, path, headers={"If-Match": f'"{before["version"]}"'})
    assert accepted.status_code in (200, 204), accepted.text


# ---------------------------------------------------------------------------------- rate limits


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app with tiny limits: 2 writes, 1 match and 3 anonymous requests a minute; two staff keys."""
    settings = api_settings(tmp_path, write_rate="2/minute", match_rate="1/minute", anonymous_rate="3/minute")
    db = settings.open_database()
    migrate.upgrade(db)
    keys = {name: issue(db, name, "secretariat") for name in ("first", "second")}
    db.dispose()
    with running_app(settings) as client:
        yield client, {name: f"Bearer {key}" for name, key in keys.items()}


def _organisation(name: str) -> dict[str, str]:
    return {"name": name, "org_type": "ngo", "country": "KEN"}


def test_writes_beyond_the_limit_are_refused_with_retry_after(limited: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = limited
    first = {"Authorization": auth["first"]}
    for i in range(2):
        assert (
            client.post("/v1/organisations", json=_organisation(f"Limited {i}"), headers=first).status_code == 201
        )

    refused = client.post("/v1/organisations", json=_organisation("Limited 2"), headers=first)

    check_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/v1/organisations", params={"q": "Limited 2"}, headers=first).json()["total"] == 0
    # The budget is per key: another key still writes.
    other = client.post(
        "/v1/organisations", json=_organisation("Limited 3"), headers={"Authorization": auth["second"]}
    )
    assert other.status_code == 201, other.text
    # Reads are not writes.
    assert client.get("/v1/organisations", headers=first).status_code == 200


def test_matching_beyond_the_limit_is_refused(limited: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = limited
    headers = {"Authorization": auth["first"]}
    assert client.post("/v1/match", json={"text": "wetland maps"}, headers=headers).status_code == 200
    refused = client.post("/v1/match", json={"text": "wetland maps"}, headers=headers)
    check_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    # Posting a need ranks providers: it counts against the matching budget too.
    title = unique("Need over the matching limit ")
    need = client.post("/v1/needs", json={**NEED_BODY, "title": title, "party": "KEN"}, headers=headers)
    check_error(need, 429, "rate_limited")
    assert client.get("/v1/needs", params={"q": title}, headers=headers).json()["total"] == 0


def test_anonymous_requests_beyond_the_limit_are_refused(limited: tuple[TestClient, dict[str, str]]) -> None:
    """``anonymous_rate``: requests without an API key per client address (settings.api.anonymous_rate)."""
    client, _ = limited
    statuses = [client.get("/v1/offers").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


# ------------------------------------------------------------------------ needs an offer could serve


def test_an_offer_is_ranked_against_open_public_needs_only(api: Api) -> None:
    text = {
        "title": "Seagrass meadow restoration with fishing communities",
        "description": "Seagrass meadows are replanted with fishing communities, who monitor shoots and fish.",
        "targets": [2, 10],
        "assistance_types": ["technical_advice"],
    }
    offer_id = api.new_offer(**text, languages=["en"], regions_served=["Global"])
    control = api.new_need(party="TZA", **text)
    hidden = {
        "confidential": api.new_need(party="TZA", visibility="confidential", **text),
        "withdrawn": api.new_need(party="TZA", status="withdrawn", **text),
        "own organisation": api.new_need(party="AUS", organisation_id=api.org_a, **text),
    }

    response = api.get("provider_a", f"/v1/offers/{offer_id}/needs", params={"k": 5})

    assert response.status_code == 200, response.text
    ranked = response.json()
    assert len(ranked) == 5
    assert ranked[0]["need_id"] == control  # the same text ranks first...
    assert not {need: i for need, i in hidden.items() if i in {n["need_id"] for n in ranked}}  # ...unless hidden
    scores = [n["score"] for n in ranked]
    assert scores == sorted(scores, reverse=True)
    rows = {n["id"]: n for n in need_rows(api)}
    for need in ranked:
        assert abs(sum(need["components"].values()) - need["score"]) <= SCORE_TOLERANCE
        assert need["explanation"]["summary"]
        row = rows[need["need_id"]]
        assert row["visibility"] == "public"
        assert row["status"] in ("open", "under_review")
        assert row["organisation_id"] != api.org_a
    # The secretariat sees confidential needs too, never the offer's own organisation's needs.
    staff = {n["need_id"] for n in api.get("secretariat", f"/v1/offers/{offer_id}/needs", params={"k": 5}).json()}
    assert {control, hidden["confidential"]} <= staff
    assert hidden["own organisation"] not in staff
    assert hidden["withdrawn"] not in staff


# ---------------------------------------------------------------------------------- life cycles


def test_a_need_is_withdrawn_and_reopened_by_its_party(api: Api) -> None:
    posted = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": unique("Withdrawn ")})
    need = posted.json()["need"]
    path = f"/v1/needs/{need['id']}"

    withdrawn = api.post("party_ken", f"{path}/withdraw")

    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.headers["ETag"] == f'"{need["version"] + 1}"'
    assert need["id"] in every_id(api, "party_bra", "/v1/needs", {"status": "withdrawn"})
    assert need["id"] not in every_id(api, "party_bra", "/v1/needs", {"status": "open"})
    reopened = api.call(
        "party_ken", "PATCH", path, json={"status": "open"}, headers={"If-Match": withdrawn.headers["ETag"]}
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open"


def _top_offers(api: Api, text: str, k: int = 5) -> list[int]:
    response = api.post("party_ken", "/v1/match", json={"text": text, "k": k})
    assert response.status_code == 200, response.text
    check_ranking(response.json()["matches"])
    return [m["offer_id"] for m in response.json()["matches"]]


def test_an_offer_is_matchable_at_once_and_follows_pause_resume_and_delete(api: Api) -> None:
    marker = unique("kelpforest")
    body = {
        **OFFER_BODY,
        "title": f"Kelp forest {marker} restoration",
        "description": f"Kelp forest {marker} restoration with urchin removal and spore seeding by divers.",
        "regions_served": ["Global"],
    }
    created = api.post("provider_a", "/v1/offers", json=body)
    assert created.status_code == 201, created.text
    offer_id, path = created.json()["id"], f"/v1/offers/{created.json()['id']}"
    query = f"{body['title']}. {body['description']}"
    assert _top_offers(api, query)[0] == offer_id  # matchable as soon as the POST returns

    paused = api.post("provider_a", f"{path}/pause")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert offer_id not in _top_offers(api, query, k=100)
    assert api.get("anonymous", path).status_code == 404
    assert api.get("provider_a", path).json()["status"] == "paused"

    resumed = api.post("provider_a", f"{path}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (200, "active")
    assert resumed.json()["version"] == paused.json()["version"] + 1
    assert _top_offers(api, query)[0] == offer_id

    deleted = api.call("provider_a", "DELETE", path)
    assert deleted.status_code == 204, deleted.text
    assert api.get("secretariat", path).status_code == 404
    assert offer_id not in _top_offers(api, query, k=100)
    assert api.call("provider_a", "DELETE", path).status_code == 404


def test_deleting_a_need_removes_it_and_its_suggestions(api: Api) -> None:
    posted = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": unique("Deleted ")})
    need_id = posted.json()["need"]["id"]
    assert posted.json()["ranking"]["matches"]

    deleted = api.call("party_ken", "DELETE", f"/v1/needs/{need_id}")

    assert deleted.status_code == 204, deleted.text
    assert api.get("secretariat", f"/v1/needs/{need_id}").status_code == 404
    assert api.get("secretariat", f"/v1/needs/{need_id}/matches").status_code == 404
    with api.db.transaction(read_only=True) as session:
        assert not session.scalars(select(SuggestedMatch).where(SuggestedMatch.need_id == need_id)).all()


def test_deleting_a_suggested_offer_drops_it_from_the_stored_suggestions(api: Api) -> None:
    marker = unique("mangrovenursery")
    text = f"Mangrove {marker} nurseries and replanting along the coast with women's groups"
    offer = api.post("provider_a", "/v1/offers", json={**OFFER_BODY, "title": text, "description": text + "."})
    offer_id = offer.json()["id"]
    posted = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": text, "description": text + "."})
    need_id = posted.json()["need"]["id"]
    assert offer_id in {m["offer_id"] for m in posted.json()["ranking"]["matches"]}

    assert api.call("provider_a", "DELETE", f"/v1/offers/{offer_id}").status_code == 204

    stored = api.get("party_ken", f"/v1/needs/{need_id}/matches")
    assert stored.status_code == 200, stored.text
    assert offer_id not in {m["offer_id"] for m in stored.json()["matches"]}


def test_a_paused_offer_leaves_the_stored_suggestions_of_readers_who_cannot_see_it(api: Api) -> None:
    marker = unique("seagrassmeadow")
    text = f"Seagrass {marker} meadow restoration and monitoring with fishing communities"
    offer = api.post("provider_a", "/v1/offers", json={**OFFER_BODY, "title": text, "description": text + "."})
    offer_id = offer.json()["id"]
    posted = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": text, "description": text + "."})
    need_id = posted.json()["need"]["id"]
    assert offer_id in {m["offer_id"] for m in posted.json()["ranking"]["matches"]}  # precondition

    offer_path = f"/v1/offers/{offer_id}"
    secret = unique("Paused and retitled ")
    assert api.post("provider_a", f"{offer_path}/pause").status_code == 200
    retitled = api.call(
        "provider_a", "PATCH", offer_path, json={"title": secret}, headers={"If-Match": api.etag(offer_path)}
    )
    assert retitled.status_code == 200, retitled.text
    assert api.get("party_ken", offer_path).status_code == 404

    stored = api.get("party_ken", f"/v1/needs/{need_id}/matches")
    assert stored.status_code == 200, stored.text
    assert offer_id not in {m["offer_id"] for m in stored.json()["matches"]}
    assert secret not in stored.text
    staff = api.get("secretariat", f"/v1/needs/{need_id}/matches").json()["matches"]
    assert [m["title"] for m in staff if m["offer_id"] == offer_id] == [secret]  # the secretariat reads it


def test_an_organisation_in_use_cannot_be_deleted_but_an_unused_one_can(api: Api) -> None:
    check_error(api.call("secretariat", "DELETE", f"/v1/organisations/{api.org_b}"), 409, "conflict")
    assert api.get("secretariat", f"/v1/organisations/{api.org_b}").status_code == 200
    unused = api.new_organisation()
    assert api.call("secretariat", "DELETE", f"/v1/organisations/{unused}").status_code == 204
    assert api.get("secretariat", f"/v1/organisations/{unused}").status_code == 404


# ------------------------------------------------------------------------------------- API keys


def _route_requests(api: Api) -> list[tuple[str, str]]:
    ids = {
        "need_id": api.public_need,
        "offer_id": api.offer_a,
        "organisation_id": api.org_a,
        "name": "targets",
        "subscription_id": 1,
        "delivery_id": 1,
        "job_id": 1,
        "token": "t" * 43,
        "match_id": 1,
        "run_id": 1,
    }
    return sorted((method, path.format(**ids)) for method, path in app_routes(api))


def test_a_revoked_key_is_refused_on_every_route(api: Api) -> None:
    key = issue(api.db, unique("revoked-"), "secretariat")
    headers = {"Authorization": f"Bearer {key}"}
    assert api.client.get("/v1/me", headers=headers).json()["role"] == "secretariat"
    with api.db.transaction() as session:
        accounts.revoke_key(session, key.removeprefix("pk_").split("_")[0])

    accepted = {}
    for method, path in _route_requests(api):
        response = api.client.request(method, path, headers=headers, json={})
        if response.status_code != 401:
            accepted[f"{method} {path}"] = response.status_code
        else:
            check_error(response, 401, "unauthenticated")
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert accepted == {}


@pytest.mark.parametrize(
    "authorization", ["Bearer pk_0123456789abcdef_wrong", "Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer"]
)
def test_a_bad_authorization_header_is_refused_even_where_anonymous_callers_may_read(
    api: Api, authorization: str
) -> None:
    for path in ("/v1/offers", f"/v1/offers/{api.offer_a}", "/v1/me"):
        check_error(api.client.get(path, headers={"Authorization": authorization}), 401, "unauthenticated")


# ------------------------------------------------------------------------------------------ OpenAPI


def test_the_openapi_document_lists_every_route(api: Api) -> None:
    document = api.client.get("/openapi.json")
    assert document.status_code == 200
    listed = {(method.upper(), path) for path, item in document.json()["paths"].items() for method in item}
    assert {route for route in listed if route[1].startswith("/v1/")} == app_routes(api)
    assert {("GET", "/health"), ("GET", "/ready")} <= listed
    for path, item in document.json()["paths"].items():
        if path.startswith("/v1/"):
            for operation in item.values():
                assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }


def test_unknown_routes_and_methods_answer_in_the_error_shape(api: Api) -> None:
    check_error(api.get("party_ken", "/v1/nothing-here"), 404, "not_found")
    check_error(api.call("party_ken", "PUT", "/v1/needs"), 405, "method_not_allowed")
