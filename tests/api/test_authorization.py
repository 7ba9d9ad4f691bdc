"""The authorization matrix: every route × every role × owner/non-owner record, against ``matcher/access.py``.

Each case names a route, the record it acts on and the status every role must get. Expectations are written
out from the spec (the table and rules in ``matcher.access``'s docstring), not computed from the code under test:

- anonymous callers get 401 on every write and on every read except active offers, ``/v1/me`` and vocabularies;
- a record the caller may see but not change answers 403; a record it may not see answers 404 (a confidential
  need to anyone but its Party and the staff, a paused offer to anyone but its organisation and the staff);
- the ranked providers of a need are for its Party and the staff; the needs an offer could serve are for its
  organisation and the staff.

Every refused request must leave the record as it was (re-read by the secretariat); every accepted write must
have its effect. ``test_the_matrix_covers_every_route`` fails when a route is added without matrix entries.

Records (``Case.target``): ``public``/``confidential`` needs of Kenya (owner: ``party_ken``), ``active``/``paused``
offers of organisation A (owner: ``provider_a``), organisation A itself (in use) or an unused organisation;
for posts, the body names Kenya / organisation A (``for_KEN``, ``for_org_a``) or leaves them to the key (``own``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.conftest import NEED_BODY, OFFER_BODY, ROLES, STAFF, Api, app_routes, unique

NO_TARGET = "-"
ERROR_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid_input"}


def statuses(default: int, **by_role: int) -> dict[str, int]:
    """The expected status for every role: ``default`` unless the role is named."""
    assert set(by_role) <= set(ROLES), set(by_role) - set(ROLES)
    return {role: by_role.get(role, default) for role in ROLES}


def signed_in(status: int) -> dict[str, int]:
    """Every signed-in role gets ``status``; anonymous callers get 401."""
    return statuses(status, anonymous=401)


def owners(status: int, *, others: int, **owner_roles: int) -> dict[str, int]:
    """``status`` for the staff and the named owner role, ``others`` for every other signed-in role."""
    return statuses(others, anonymous=401, secretariat=status, admin=status, **owner_roles)


@dataclass(frozen=True, slots=True)
class Case:
    """One route acting on one kind of record, and the status each role must get."""

    method: str
    route: str
    target: str
    expected: Mapping[str, int]
    query: str = ""


CASES = [
    Case("GET", "/v1/me", NO_TARGET, statuses(200)),
    Case("GET", "/v1/vocabularies/{name}", NO_TARGET, statuses(200)),
    # Organisations: a directory for signed-in callers; staff create and delete, a provider changes its own.
    Case("POST", "/v1/organisations", NO_TARGET, owners(201, others=403)),
    Case("GET", "/v1/organisations", NO_TARGET, signed_in(200)),
    Case("GET", "/v1/organisations/{organisation_id}", "org_a", signed_in(200)),
    Case("PATCH", "/v1/organisations/{organisation_id}", "org_a", owners(200, others=403, provider_a=200)),
    Case("DELETE", "/v1/organisations/{organisation_id}", "org_a", owners(409, others=403)),  # in use
    Case("DELETE", "/v1/organisations/{organisation_id}", "unused_org", owners(204, others=403)),
    # Needs: a Party posts for its own country; the staff for any (and must then name the party).
    Case("POST", "/v1/needs", "for_KEN", owners(201, others=403, party_ken=201)),
    # Without `party` a Party posts for its own country; the staff must name one; other roles never post needs.
    Case(
        "POST",
        "/v1/needs",
        "own",
        statuses(403, anonymous=401, party_ken=201, party_bra=201, **dict.fromkeys(STAFF, 422)),
    ),
    Case("GET", "/v1/needs", NO_TARGET, signed_in(200)),
    Case("GET", "/v1/needs/{need_id}", "public", signed_in(200)),
    Case("GET", "/v1/needs/{need_id}", "confidential", owners(200, others=404, party_ken=200)),
    Case("PATCH", "/v1/needs/{need_id}", "public", owners(200, others=403, party_ken=200)),
    Case("PATCH", "/v1/needs/{need_id}", "confidential", owners(200, others=404, party_ken=200)),
    Case("POST", "/v1/needs/{need_id}/withdraw", "public", owners(200, others=403, party_ken=200)),
    Case("POST", "/v1/needs/{need_id}/withdraw", "confidential", owners(200, others=404, party_ken=200)),
    Case("DELETE", "/v1/needs/{need_id}", "public", owners(204, others=403, party_ken=204)),
    Case("DELETE", "/v1/needs/{need_id}", "confidential", owners(204, others=404, party_ken=204)),
    Case("GET", "/v1/needs/{need_id}/matches", "public", owners(200, others=403, party_ken=200)),
    Case("GET", "/v1/needs/{need_id}/matches", "confidential", owners(200, others=404, party_ken=200)),
    Case("GET", "/v1/needs/{need_id}/matches", "public", owners(200, others=403, party_ken=200), "rerank=true"),
    Case(
        "GET", "/v1/needs/{need_id}/matches", "confidential", owners(200, others=404, party_ken=200), "rerank=true"
    ),
    # Offers: a provider posts for its own organisation; anyone reads active offers; the owner sees the others.
    Case("POST", "/v1/offers", "for_org_a", owners(201, others=403, provider_a=201)),
    # Without `organisation_id` a provider posts for its own; the staff must name one; Parties never post offers.
    Case(
        "POST",
        "/v1/offers",
        "own",
        statuses(403, anonymous=401, provider_a=201, provider_b=201, **dict.fromkeys(STAFF, 422)),
    ),
    Case("GET", "/v1/offers", NO_TARGET, statuses(200)),
    Case("GET", "/v1/offers/{offer_id}", "active", statuses(200)),
    Case("GET", "/v1/offers/{offer_id}", "paused", statuses(404, provider_a=200, secretariat=200, admin=200)),
    Case("PATCH", "/v1/offers/{offer_id}", "active", owners(200, others=403, provider_a=200)),
    Case("PATCH", "/v1/offers/{offer_id}", "paused", owners(200, others=404, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/pause", "active", owners(200, others=403, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/pause", "paused", owners(200, others=404, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/resume", "active", owners(200, others=403, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/resume", "paused", owners(200, others=404, provider_a=200)),
    Case("DELETE", "/v1/offers/{offer_id}", "active", owners(204, others=403, provider_a=204)),
    Case("DELETE", "/v1/offers/{offer_id}", "paused", owners(204, others=404, provider_a=204)),
    Case("GET", "/v1/offers/{offer_id}/needs", "active", owners(200, others=403, provider_a=200)),
    Case("GET", "/v1/offers/{offer_id}/needs", "paused", owners(200, others=404, provider_a=200)),
    Case("POST", "/v1/match", NO_TARGET, signed_in(200)),
]

# Routes that create records (found again by the marker in their name or title).
CREATES = {("POST", "/v1/organisations"), ("POST", "/v1/needs"), ("POST", "/v1/offers")}
NEW_STATUS = {"withdraw": "withdrawn", "pause": "paused", "resume": "active"}


def test_the_matrix_covers_every_route(api: Api) -> None:
    covered = {(case.method, case.route) for case in CASES}
    assert covered == app_routes(api)


def test_the_matrix_covers_every_role_of_the_spec() -> None:
    for case in CASES:
        assert set(case.expected) == set(ROLES), case


# ----------------------------------------------------------------------------------------- the matrix


def arrange(api: Api, case: Case) -> dict[str, Any]:
    """Path parameters of the record the case acts on: the fixture records for reads, fresh ones for writes."""
    target, read = case.target, case.method == "GET"
    if target in ("public", "confidential"):
        fixture = api.public_need if target == "public" else api.confidential_need
        return {"need_id": fixture if read else api.new_need(visibility=target, title=unique("Matrix need "))}
    if target in ("active", "paused"):
        fixture = api.offer_a if target == "active" else api.paused_offer_a
        return {"offer_id": fixture if read else api.new_offer(status=target, title=unique("Matrix offer "))}
    if target == "org_a":  # a provider's own organisation cannot be made per test: changes only touch `website`
        return {"organisation_id": api.org_a}
    if target == "unused_org":
        return {"organisation_id": api.new_organisation()}
    return {"name": "targets"}


def request_body(case: Case, api: Api, marker: str) -> dict[str, Any] | None:
    """A valid body for the case's route (``marker`` makes what it creates or changes findable)."""
    key = (case.method, case.route)
    if key == ("POST", "/v1/organisations"):
        return {"name": f"Matrix organisation {marker}", "org_type": "ngo", "country": "KEN"}
    if key == ("PATCH", "/v1/organisations/{organisation_id}"):
        return {"website": f"https://example.org/{marker}"}
    if key == ("POST", "/v1/needs"):
        party = {"party": "KEN"} if case.target == "for_KEN" else {}
        return {**NEED_BODY, "title": f"Matrix need {marker}", **party}
    if key == ("POST", "/v1/offers"):
        organisation = {"organisation_id": api.org_a} if case.target == "for_org_a" else {}
        return {**OFFER_BODY, "title": f"Matrix offer {marker}", **organisation}
    if case.method == "PATCH":
        return {"title": f"Changed {marker}"}
    if key == ("POST", "/v1/match"):
        return {"text": "wetland mapping and protected area design", "k": 3}
    return None


def observe(api: Api, case: Case, params: Mapping[str, Any], marker: str) -> Any:
    """What the secretariat sees of the record a request acts on, or of the records it would create."""
    for name, collection in (("need_id", "needs"), ("offer_id", "offers"), ("organisation_id", "organisations")):
        if name in params:
            response = api.get("secretariat", f"/v1/{collection}/{params[name]}")
            return response.status_code, response.json()
    if (case.method, case.route) in CREATES:
        listing = api.get("secretariat", case.route, params={"q": marker})
        assert listing.status_code == 200, listing.text
        return listing.json()["total"]
    return None


def check_effect(case: Case, before: Any, after: Any, marker: str) -> None:
    """An accepted write did what it says."""
    if (case.method, case.route) in CREATES:
        assert (before, after) == (0, 1)
    elif case.method == "DELETE":
        assert before[0] == 200
        assert after[0] == 404
    elif case.method == "PATCH":
        assert after[1]["version"] == before[1]["version"] + 1
        changed = after[1].get("title") if "title" in after[1] else after[1]["website"]
        assert marker in changed
    elif (action := case.route.rsplit("/", 1)[-1]) in NEW_STATUS:
        assert after[1]["status"] == NEW_STATUS[action]


def check_error_shape(response: httpx.Response) -> None:
    body = response.json()
    assert set(body) <= {"error", "detail", "field"}, body
    assert body["error"] == ERROR_CODES[response.status_code], body
    assert body["detail"], body
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def every_item(api: Api, role: str, path: str) -> list[dict[str, Any]]:
    """Every record of a listing, page by page."""
    items: list[dict[str, Any]] = []
    while True:
        page = api.get(role, path, params={"limit": 200, "offset": len(items)})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if len(items) >= page.json()["total"] or not page.json()["items"]:
            assert len(items) == page.json()["total"]
            return items


def check_read(api: Api, role: str, case: Case, response: httpx.Response) -> None:
    """What an accepted read returns for this role."""
    body = response.json()
    staff = role in STAFF
    if case.route == "/v1/me":
        assert body["role"] == ("anonymous" if role == "anonymous" else role.split("_")[0])
    elif case.route == "/v1/needs":
        items = every_item(api, role, case.route)
        ids = {need["id"] for need in items}
        assert all(
            n["visibility"] == "public" or staff or (role, n["party"]) == ("party_ken", "KEN") for n in items
        )
        assert (api.confidential_need in ids) == (staff or role == "party_ken")
        assert api.public_need in ids
    elif case.route == "/v1/offers":
        items = every_item(api, role, case.route)
        ids = {offer["id"] for offer in items}
        owner = staff or role == "provider_a"
        assert all(o["status"] == "active" or owner for o in items)
        assert (api.paused_offer_a in ids) == owner
        assert api.offer_a in ids
    elif case.route.endswith("/matches"):
        assert body["matches"]  # stored when the fixture need was posted, or ranked again now
    elif case.route == "/v1/offers/{offer_id}/needs":
        assert isinstance(body, list)
        assert api.confidential_need not in {n["need_id"] for n in body} or staff


MATRIX = [
    pytest.param(
        case, role, id=f"{case.method} {case.route}{'?' + case.query if case.query else ''} [{case.target}] {role}"
    )
    for case in CASES
    for role in ROLES
]


@pytest.mark.parametrize(("case", "role"), MATRIX)
def test_route_role_record(api: Api, case: Case, role: str) -> None:
    params = arrange(api, case)
    path = case.route.format(**params)
    marker = unique()
    headers = {}
    if case.method == "PATCH":
        headers["If-Match"] = api.etag(path)
    before = observe(api, case, params, marker)
    url = f"{path}?{case.query}" if case.query else path

    response = api.call(role, case.method, url, json=request_body(case, api, marker), headers=headers)

    expected = case.expected[role]
    assert response.status_code == expected, response.text
    after = observe(api, case, params, marker)
    if expected >= 400 or case.method == "GET":
        assert after == before  # refused (or read): nothing changed
    if expected >= 400:
        check_error_shape(response)
    elif case.method == "GET":
        check_read(api, role, case, response)
    elif (case.method, case.route) == ("POST", "/v1/match"):
        assert response.json()["matches"]
    elif not _no_op(case):
        check_effect(case, before, after, marker)


def _no_op(case: Case) -> bool:
    """Pausing a paused offer or resuming an active one changes nothing."""
    return (case.route.endswith("/pause") and case.target == "paused") or (
        case.route.endswith("/resume") and case.target == "active"
    )


# --------------------------------------------------------------------- confidential needs do not leak


NON_OWNERS = ("party_bra", "provider_a", "provider_b")


@pytest.mark.parametrize("role", NON_OWNERS)
def test_a_confidential_need_is_answered_like_a_missing_one(api: Api, role: str) -> None:
    missing = 10_000_000
    for suffix in ("", "/matches", "/matches?rerank=true"):
        hidden = api.get(role, f"/v1/needs/{api.confidential_need}{suffix}")
        absent = api.get(role, f"/v1/needs/{missing}{suffix}")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json() == {
            **absent.json(),
            "detail": absent.json()["detail"].replace(str(missing), str(api.confidential_need)),
        }


@pytest.mark.parametrize("role", NON_OWNERS)
def test_a_confidential_need_never_appears_in_listings_for_non_owners(api: Api, role: str) -> None:
    for params in (
        {"q": api.confidential_title},
        {"country": "KEN", "limit": 200},
        {"target": 3, "region": "Eastern Africa", "limit": 200},
        {"status": "open", "language": "en", "limit": 200},
    ):
        listing = api.get(role, "/v1/needs", params=params)
        assert listing.status_code == 200, listing.text
        assert api.confidential_need not in {n["id"] for n in listing.json()["items"]}
        assert all(n["visibility"] == "public" for n in listing.json()["items"])
    assert api.get(role, "/v1/needs", params={"q": api.confidential_title}).json()["total"] == 0


@pytest.mark.parametrize("role", ["party_ken", *STAFF])
def test_a_confidential_need_is_listed_for_its_party_and_the_staff(api: Api, role: str) -> None:
    listing = api.get(role, "/v1/needs", params={"q": api.confidential_title})
    assert [n["id"] for n in listing.json()["items"]] == [api.confidential_need]
    assert listing.json()["total"] == 1


def test_a_provider_never_sees_confidential_needs_among_the_needs_its_offer_could_serve(api: Api) -> None:
    text = {k: OFFER_BODY[k] for k in ("title", "description", "targets", "assistance_types")}
    hidden = api.new_need(visibility="confidential", **text)  # the offer's own words: it would rank first
    path = f"/v1/offers/{api.offer_a}/needs"
    provider = api.get("provider_a", path, params={"k": 3})
    staff = api.get("secretariat", path, params={"k": 3})
    assert provider.status_code == staff.status_code == 200, provider.text
    assert len(provider.json()) == 3
    assert hidden not in {n["need_id"] for n in provider.json()}
    assert staff.json()[0]["need_id"] == hidden  # the staff see every need


# --------------------------------------------------------------- refusals that depend on the body


def test_a_party_cannot_post_a_need_for_another_country(api: Api) -> None:
    title = unique("Need for another country ")
    response = api.post("party_bra", "/v1/needs", json={**NEED_BODY, "title": title, "party": "KEN"})
    assert response.status_code == 403, response.text
    assert "BRA" in response.json()["detail"]
    assert api.get("secretariat", "/v1/needs", params={"q": title}).json()["total"] == 0


def test_a_party_cannot_file_its_need_under_another_countrys_institution(api: Api) -> None:
    title = unique("Need under a foreign institution ")
    body = {**NEED_BODY, "title": title, "organisation_id": api.org_a}  # organisation A is not Brazilian
    response = api.post("party_bra", "/v1/needs", json=body)
    assert response.status_code == 403, response.text
    assert api.get("secretariat", "/v1/needs", params={"q": title}).json()["total"] == 0


def test_a_provider_cannot_post_an_offer_for_another_organisation(api: Api) -> None:
    title = unique("Offer for another organisation ")
    response = api.post(
        "provider_b", "/v1/offers", json={**OFFER_BODY, "title": title, "organisation_id": api.org_a}
    )
    assert response.status_code == 403, response.text
    assert api.get("secretariat", "/v1/offers", params={"q": title}).json()["total"] == 0


@pytest.mark.parametrize(("field", "value"), [("country", "BRA"), ("org_type", "iplc_organisation")])
def test_a_provider_cannot_change_its_organisations_country_or_type(api: Api, field: str, value: str) -> None:
    path = f"/v1/organisations/{api.org_a}"
    before = api.get("secretariat", path).json()
    assert before[field] != value
    response = api.call("provider_a", "PATCH", path, json={field: value}, headers={"If-Match": api.etag(path)})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field  # the error names the field the caller must drop
    assert api.get("secretariat", path).json() == before


def test_a_party_cannot_move_its_need_to_a_status_reserved_to_the_secretariat(api: Api) -> None:
    need_id = api.new_need()
    path = f"/v1/needs/{need_id}"
    before = api.get("secretariat", path).json()
    refused = api.call(
        "party_ken", "PATCH", path, json={"status": "matched"}, headers={"If-Match": api.etag(path)}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "status"
    assert api.get("secretariat", path).json() == before
    accepted = api.call(
        "secretariat", "PATCH", path, json={"status": "matched"}, headers={"If-Match": api.etag(path)}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "matched"


def test_a_stale_etag_from_a_non_owner_still_answers_by_visibility(api: Api) -> None:
    """Authorization is checked before the version, so a stale If-Match cannot probe a hidden record."""
    need_id = api.new_need(visibility="confidential")
    response = api.call(
        "party_bra", "PATCH", f"/v1/needs/{need_id}", json={"title": "Probe"}, headers={"If-Match": '"99"'}
    )
    assert response.status_code == 404, response.text
