"""An unknown vocabulary value is answered 422 with the value meant: by meaning (``foundation`` is an ``ngo``)
as well as by spelling, in bodies and in query parameters alike."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import NEED_BODY, OFFER_BODY, Api


def case(role: str, method: str, path: str, field: str, detail: str, **request: Any) -> Any:
    return pytest.param(role, method, path, request, field, detail, id=f"{method} {path} {field}")


CASES = [
    case(
        "admin",
        "POST",
        "/v1/organisations",
        "org_type",
        "unknown organisation type 'foundation'; did you mean 'ngo'?",
        json={"name": "Wetland Trust", "org_type": "foundation", "country": "KEN"},
    ),
    case(
        "party_ken",
        "POST",
        "/v1/needs",
        "assistance_types",
        "unknown assistance type 'consulting'; did you mean 'technical_advice'?",
        json={**NEED_BODY, "assistance_types": ["consulting"]},
    ),
    case(
        "party_ken",
        "POST",
        "/v1/needs",
        "language",
        "unknown language 'Farsi'; did you mean 'fa (Persian)'?",
        json={**NEED_BODY, "language": "Farsi"},
    ),
    case(
        "provider_a",
        "POST",
        "/v1/offers",
        "cost",
        "unknown cost 'pro bono'; did you mean 'free'?",
        json={**OFFER_BODY, "cost": "pro bono"},
    ),
    case(
        "provider_a",
        "POST",
        "/v1/offers",
        "regions_served",
        "unknown region 'Latin America'; did you mean 'South America' or 'Central America' or 'Caribbean'?",
        json={**OFFER_BODY, "regions_served": ["Latin America"]},
    ),
    case(
        "anonymous",
        "GET",
        "/v1/offers",
        "org_type",
        "unknown organisation type 'charity'; did you mean 'ngo'?",
        params={"org_type": "charity"},
    ),
    case(
        "party_ken",
        "GET",
        "/v1/needs",
        "region",
        "unknown region 'Central Africa'; did you mean 'Middle Africa'?",
        params={"region": "Central Africa"},
    ),
    case(
        "party_ken",
        "POST",
        "/v1/match",
        "filters.serves",
        "unknown region or country 'Middle East'; did you mean 'Western Asia' or 'Northern Africa'?",
        json={"text": "wetland maps", "filters": {"serves": ["Middle East"]}},
    ),
]


@pytest.mark.parametrize(("role", "method", "path", "sent", "field", "detail"), CASES)
def test_vocabulary_errors_suggest_the_value_meant(
    api: Api, role: str, method: str, path: str, sent: dict[str, Any], field: str, detail: str
) -> None:
    response = api.call(role, method, path, **sent)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input" and body.get("field") == field, body
    assert detail in body["detail"], body
