"""``POST /v1/assist/need``: who may call it, what it refuses, what it answers, and that it writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import NEED_BODY, Api, issue, unique

DRAFT: dict[str, Any] = {"title": NEED_BODY["title"], "description": NEED_BODY["description"]}


def test_answers_a_party_with_every_section(api: Api) -> None:
    response = api.post("party_ken", "/v1/assist/need", json=DRAFT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"targets", "assistance_types", "places", "missing", "duplicates", "language"}
    for suggestion in body["targets"]:
        assert 1 <= suggestion["target"] <= 23
        assert 0.5 <= suggestion["probability"] <= 1
    assert {m["field"] for m in body["missing"]} >= {"targets", "assistance_types", "when"}
    assert all(m["prompt"] for m in body["missing"])


def test_prompts_follow_the_draft_language(api: Api) -> None:
    body = api.post("party_ken", "/v1/assist/need", json={**DRAFT, "language": "fr"}).json()
    when = next(m for m in body["missing"] if m["field"] == "when")
    assert when["prompt"].startswith("Indiquez pour quand")


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 401), ("provider_a", 403), ("secretariat", 200), ("admin", 200)]
)
def test_only_parties_and_staff(api: Api, role: str, status: int) -> None:
    body = {**DRAFT, "party": "KEN"}
    assert api.post(role, "/v1/assist/need", json=body).status_code == status


def test_a_party_drafts_only_for_its_own_country(api: Api) -> None:
    assert api.post("party_ken", "/v1/assist/need", json={**DRAFT, "party": "BRA"}).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {**DRAFT, "visibility": "public"},  # an unknown field
        {"description": DRAFT["description"]},  # no title
        {**DRAFT, "description": "x" * 20_001},  # over the size limit
        {**DRAFT, "targets": [24]},
        {**DRAFT, "assistance_types": ["consulting"]},
        {**DRAFT, "targets": list(range(1, 24)) * 2},  # more than 23
    ],
)
def test_refuses_bad_drafts(api: Api, body: dict[str, Any]) -> None:
    response = api.post("party_ken", "/v1/assist/need", json=body)
    assert response.status_code == 422, response.text


def test_duplicates_are_only_needs_the_caller_may_read(api: Api) -> None:
    """Kenya's confidential need is a duplicate for Kenya and the secretariat, and does not exist for Tanzania
    (same sub-region), which still sees Kenya's public need with the same text."""
    text = {"title": api.confidential_title, "description": NEED_BODY["description"]}
    if "party_tza" not in api.keys:
        api.keys["party_tza"] = issue(api.db, unique("party-tza-"), "party", country="TZA")
    found = {}
    for role, party in (("party_ken", "KEN"), ("secretariat", "KEN"), ("party_tza", "TZA")):
        response = api.post(role, "/v1/assist/need", json={**text, "party": party})
        assert response.status_code == 200, response.text
        found[role] = {d["need_id"] for d in response.json()["duplicates"]}
    assert api.confidential_need in found["party_ken"]
    assert api.confidential_need in found["secretariat"]
    assert api.confidential_need not in found["party_tza"]
    assert api.public_need in found["party_tza"]


def test_writes_no_need(api: Api) -> None:
    before = api.get("secretariat", "/v1/needs", params={"limit": 1}).json()["total"]
    assert api.post("party_ken", "/v1/assist/need", json=DRAFT).status_code == 200
    assert api.get("secretariat", "/v1/needs", params={"limit": 1}).json()["total"] == before
