"""Explanations as facts and as English text: each branch states the right fact, the English sentence is the one
the API has always served, and the stored form keeps the facts."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

import matcher.engine.explain as explain_module
from matcher.engine.explain import ENGLISH, Explanation, Fact, english, explain
from matcher.engine.query import NeedQuery
from models.repositories import OfferSnapshot


def snapshot(**overrides: Any) -> OfferSnapshot:
    base: dict[str, Any] = {
        "id": 1,
        "external_id": None,
        "title": "Mangrove restoration training",
        "description": "We train coastal communities.",
        "cost": "free",
        "capacity": 3,
        "status": "active",
        "expires_on": None,
        "change_seq": 1,
        "organisation_id": 7,
        "organisation": "Blue Coast",
        "org_type": "ngo",
        "org_country": "FRA",
        "targets": (2, 3, 8),
        "assistance_types": ("training", "technical_advice"),
        "languages": ("en", "fr"),
        "regions_served": ("Western Africa",),
        "countries_served": (),
    }
    return OfferSnapshot(**{**base, **overrides})


NEED = NeedQuery(
    "Mangroves",
    "Restore mangroves in the Saloum delta.",
    targets=(2, 3),
    assistance_types=("training",),
    language="fr",
    party="SEN",
)


def test_a_matching_offer_states_each_reason_as_a_fact_and_in_english() -> None:
    e = explain(NEED, snapshot(), evidence=("We train coastal communities.",))
    assert e.summary_fact == Fact(
        "offer", {"organisation": "Blue Coast", "title": "Mangrove restoration training"}
    )
    assert [f.code for f in e.reason_facts] == [
        "targets.shared",
        "geography.sub_region",
        "assistance.shared",
        "language.shared",
    ]
    assert e.reason_facts[0].params == {"targets": [2, 3]}
    assert e.reason_facts[1].params == {"country": "SEN", "area": "Western Africa"}
    assert e.summary == "Blue Coast offers “Mangrove restoration training”."
    assert e.reasons == (
        "Shares KMGBF targets 2 (Restoration) and 3 (Protected areas (30x30)).",
        "Serves Western Africa, Senegal's sub-region.",
        "Provides training, as requested.",
        "Works in French, the language of the need.",
    )


@pytest.mark.parametrize(
    ("need", "offer", "code", "sentence"),
    [
        (
            dataclasses.replace(NEED, targets=(5,)),
            snapshot(),
            "targets.none_shared",
            "Shares no KMGBF target with the need (offer works on 2, 3 and 8).",
        ),
        (dataclasses.replace(NEED, targets=()), snapshot(), "targets.offer", "Works on KMGBF targets 2, 3 and 8."),
    ],
)
def test_targets(need: NeedQuery, offer: OfferSnapshot, code: str, sentence: str) -> None:
    fact = explain(need, offer).reason_facts[0]
    assert (fact.code, english(fact)) == (code, sentence)


@pytest.mark.parametrize(
    ("party", "offer", "code", "sentence"),
    [
        (None, snapshot(countries_served=("GHA",)), "geography.serves", "Serves Western Africa and GHA."),
        (None, snapshot(regions_served=()), "geography.serves", "Serves nowhere listed."),
        ("SEN", snapshot(countries_served=("SEN",)), "geography.country", "Serves Senegal directly."),
        ("SEN", snapshot(regions_served=("Africa",)), "geography.region", "Serves Africa, Senegal's region."),
        ("SEN", snapshot(regions_served=("Global",)), "geography.global", "Serves every region (Global)."),
        (
            "PER",
            snapshot(countries_served=("GHA",)),
            "geography.outside",
            "Does not list Peru or its region (serves Western Africa and GHA).",
        ),
    ],
)
def test_geography(party: str | None, offer: OfferSnapshot, code: str, sentence: str) -> None:
    fact = explain(dataclasses.replace(NEED, party=party), offer).reason_facts[1]
    assert (fact.code, english(fact)) == (code, sentence)


@pytest.mark.parametrize(
    ("types", "code", "sentence"),
    [
        (("funding",), "assistance.other", "Provides training and technical advice (requested: funding)."),
        ((), "assistance.offer", "Provides training and technical advice."),
    ],
)
def test_assistance(types: tuple[str, ...], code: str, sentence: str) -> None:
    fact = explain(dataclasses.replace(NEED, assistance_types=types), snapshot()).reason_facts[2]
    assert (fact.code, english(fact)) == (code, sentence)


def test_language_missing_and_none() -> None:
    fact = explain(dataclasses.replace(NEED, language="es"), snapshot()).reason_facts[3]
    assert fact == Fact("language.missing", {"language": "es", "offer_languages": ["en", "fr"]})
    assert english(fact) == "Does not list Spanish among its working languages (en and fr)."
    assert len(explain(dataclasses.replace(NEED, language=None), snapshot()).reasons) == 3


def test_availability_problems() -> None:
    offer = snapshot(status="paused", capacity=0)
    fact = explain(NEED, offer, penalised=True, stuffing=0.3).reason_facts[-1]
    assert fact == Fact(
        "availability", {"problems": ["keyword_list", "inactive", "no_capacity"], "status": "paused"}
    )
    assert english(fact) == (
        "Ranked lower because the description reads like a list of keywords, offer is paused and provider has no"
        " capacity left."
    )
    unexplained = explain(NEED, snapshot(), penalised=True).reason_facts[-1]
    assert english(unexplained) == "Ranked lower because the offer is not available."


def test_the_stored_form_keeps_the_facts_and_the_english_fields() -> None:
    e = explain(NEED, snapshot(), evidence=("We train coastal communities.",), penalised=True)
    stored = e.as_json()
    assert set(stored) == {"summary", "reasons", "evidence", "text", "facts"}
    assert stored["facts"]["reasons"][0] == {"code": "targets.shared", "params": {"targets": [2, 3]}}
    assert Explanation.from_json(stored) == e


def test_an_explanation_stored_before_facts_reads_back_without_facts() -> None:
    old = {"summary": "S.", "reasons": ["R."], "evidence": ["E"], "text": "S. R. Evidence: “E”"}
    e = Explanation.from_json(old)
    assert (e.summary_fact, e.reason_facts, e.reasons) == (None, (), ("R.",))
    assert e.as_json() == old


def test_every_code_of_the_docstring_has_an_english_sentence() -> None:
    rows = [
        re.match(r"^(?:summary )?``([a-z_.]+)``", line) for line in (explain_module.__doc__ or "").splitlines()
    ]
    assert {row[1] for row in rows if row} == set(ENGLISH)
