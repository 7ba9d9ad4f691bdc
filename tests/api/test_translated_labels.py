"""Vocabulary values typed as their labels in English, French or Spanish (case and accents aside) are accepted in
request bodies and query parameters alike, stored as their codes; a label naming two values is a 422 naming
both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models import vocabularies as vocab
from tests.api.conftest import OFFER_BODY, Api, unique


def test_a_body_in_french_and_spanish_labels_is_stored_as_codes(api: Api) -> None:
    body = {
        **OFFER_BODY,
        "title": f"Mangrove nurseries {unique()}",
        "targets": ["Espèces exotiques envahissantes", "Restauración", "T3"],
        "assistance_types": ["Conseil technique", "capacitacion"],
        "languages": ["français", "Inglés"],
        "regions_served": ["Afrique de l’Ouest"],
        "countries_served": ["Sénégal", "Alemania"],
        "cost": "gratuit",
    }
    response = api.post("provider_a", "/v1/offers", json=body)
    assert response.status_code == 201, response.text
    offer = response.json()
    assert sorted(offer["targets"]) == [2, 3, 6]
    assert sorted(offer["assistance_types"]) == ["technical_advice", "training"]
    assert sorted(offer["languages"]) == ["en", "fr"]
    assert offer["regions_served"] == ["Western Africa"]
    assert sorted(offer["countries_served"]) == ["DEU", "SEN"]
    assert offer["cost"] == "free"


def test_query_parameters_accept_labels(api: Api) -> None:
    by_code = api.get("anonymous", "/v1/offers", params={"region": "Western Africa", "type": "training"})
    by_label = api.get("anonymous", "/v1/offers", params={"region": "África Occidental", "type": "Formation"})
    assert by_code.status_code == by_label.status_code == 200, by_label.text
    assert by_label.json()["total"] == by_code.json()["total"] > 0
    assert [o["id"] for o in by_label.json()["items"]] == [o["id"] for o in by_code.json()["items"]]


@pytest.fixture
def ambiguous_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Labels as a careless edit could leave them: Eastern Africa's Spanish label is Western Africa's French."""
    original = vocab._data_text

    def data_text(name: str) -> str:
        text = original(name)
        if name != "labels.csv":
            return text
        return text.replace("Afrique de l'Est,África Oriental", "Afrique de l'Est,Afrique de l'Ouest")

    monkeypatch.setattr(vocab, "_data_text", data_text)
    vocab._label_table.cache_clear()
    vocab._label_index.cache_clear()
    yield
    vocab._label_table.cache_clear()
    vocab._label_index.cache_clear()


@pytest.mark.usefixtures("ambiguous_region")
@pytest.mark.parametrize("where", ["query", "body"])
def test_an_ambiguous_label_is_a_422_naming_the_candidates(api: Api, where: str) -> None:
    if where == "query":
        response = api.get("anonymous", "/v1/offers", params={"region": "afrique de l'ouest"})
        field = "region"
    else:
        body = {**OFFER_BODY, "title": f"Ambiguous {unique()}", "regions_served": ["afrique de l'ouest"]}
        response = api.post("provider_a", "/v1/offers", json=body)
        field = "regions_served"
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "invalid_input" and error["field"].startswith(field), error
    assert "ambiguous region" in error["detail"], error
    assert "it names 'Eastern Africa' or 'Western Africa'; give one of them" in error["detail"], error
