"""Explanations in the reader's language: French and Spanish readers get sentences in their language with the
target titles, country, region, language and assistance names of that language; stored explanations without
facts fall back to the engine's English; every fact the engine can state has a translated sentence."""

from __future__ import annotations

from typing import Any

import pytest

from api.web import i18n
from matcher.engine.explain import ENGLISH, Explanation, Fact, english, explain
from matcher.engine.query import NeedQuery
from matcher.language.explanations import SENTENCES, explanation_view, render_fact
from models.repositories import OfferSnapshot

OFFER = OfferSnapshot(
    id=1,
    external_id=None,
    title="Mangrove restoration training",
    description="We train coastal communities.",
    cost="free",
    capacity=0,
    status="paused",
    expires_on=None,
    change_seq=1,
    organisation_id=7,
    organisation="Blue Coast",
    org_type="ngo",
    org_country="FRA",
    targets=(2, 3, 8),
    assistance_types=("training", "technical_advice"),
    languages=("en", "fr"),
    regions_served=("Western Africa",),
)
NEED = NeedQuery(
    "Mangroves",
    "Restore the mangroves of the Saloum delta.",
    targets=(2, 3),
    assistance_types=("training",),
    language="fr",
    party="SEN",
)
EVIDENCE = ("We train coastal communities.",)


def test_a_french_reader_reads_french_reasons_with_french_names() -> None:
    view = explanation_view(explain(NEED, OFFER, evidence=EVIDENCE, penalised=True), "fr")
    assert view.summary == "Blue Coast propose « Mangrove restoration training »."
    assert view.reasons == (
        "Partage les cibles 2 (Restauration) et 3 (Aires protégées (30x30)) du CMBKM.",
        "Intervient dans la sous-région du pays du besoin (Sénégal) : Afrique de l'Ouest.",
        "Propose le type d'aide demandé : formation.",
        "Travaille en français, la langue du besoin.",
        "Classée plus bas car l'offre est en pause et le prestataire n'a plus de capacité disponible.",
    )
    assert view.evidence == EVIDENCE  # quotations stay in the offer's language
    assert view.text.endswith("Extraits de l'offre : « We train coastal communities. »")
    assert view.translated


def test_a_spanish_reader_reads_spanish_reasons_from_stored_json() -> None:
    need = NeedQuery("x", "y", targets=(6,), assistance_types=("funding",), language="es", party="CIV")
    stored = explain(need, OFFER, evidence=EVIDENCE).as_json()
    view = explanation_view(stored, "es")
    assert view.summary == "Blue Coast ofrece «Mangrove restoration training»."
    assert view.reasons == (
        "No comparte ninguna meta del MMBKM con la necesidad (metas de la oferta: 2, 3 y 8).",
        "Trabaja en la subregión del país de la necesidad (Côte d’Ivoire): África Occidental.",
        "Tipos de ayuda ofrecidos: capacitación y asesoramiento técnico (solicitados: financiación).",
        "No indica el idioma de la necesidad (español) entre sus idiomas de trabajo (inglés y francés).",
    )
    assert view.translated


def test_target_titles_follow_the_reader() -> None:
    fact = Fact("targets.shared", {"targets": [6]})
    assert render_fact(fact, "en") == "Shares KMGBF target 6 (Invasive alien species)."
    assert render_fact(fact, "fr") == "Partage la cible 6 (Espèces exotiques envahissantes) du CMBKM."
    assert render_fact(fact, "es").startswith("Comparte la meta 6 (")


def test_an_explanation_stored_without_facts_is_shown_in_english() -> None:
    stored = {
        "summary": "Blue Coast offers “Mangroves”.",
        "reasons": ["Shares KMGBF target 2 (Restoration)."],
        "evidence": ["We plant."],
        "text": "…",
    }
    view = explanation_view(stored, "fr")
    assert (view.summary, view.reasons, view.evidence) == (
        "Blue Coast offers “Mangroves”.",
        ("Shares KMGBF target 2 (Restoration).",),
        ("We plant.",),
    )
    assert not view.translated
    assert explanation_view(stored, "en").translated


def test_a_fact_this_version_cannot_read_falls_back_to_its_english_sentence() -> None:
    stored = explain(NEED, OFFER).as_json()
    stored["facts"]["reasons"][1] = {"code": "geography.from_the_future", "params": {}}
    stored["facts"]["reasons"][2] = {"code": "assistance.shared", "params": {}}  # a parameter missing
    view = explanation_view(stored, "es")
    assert view.reasons[1:3] == tuple(stored["reasons"][1:3])
    assert view.reasons[0].startswith("Comparte")
    assert not view.translated


def test_an_unknown_locale_is_shown_in_english() -> None:
    assert (
        explanation_view(explain(NEED, OFFER), "de").summary
        == "Blue Coast offers “Mangrove restoration training”."
    )


def test_alerts_to_providers_and_saved_searches_are_translated() -> None:
    ranked = Explanation.of_facts(
        Fact("offer.ranked", {"rank": 2, "organisation": "Blue Coast", "title": "Mangroves"}),
        [Fact("alert.area", {"country": "SEN"}), Fact("alert.assistance", {"types": ["training", "funding"]})],
    )
    view = explanation_view(ranked, "fr")
    assert view.summary == "Votre offre arriverait en position 2 pour ce besoin. Blue Coast propose « Mangroves »."
    assert view.reasons == (
        "Le pays du besoin (Sénégal) se trouve dans la zone que vous suivez.",
        "Demande : formation et financement.",
    )
    search = Fact("saved_search", {"query": "mangroves", "similarity": 0.8349})
    assert render_fact(search, "es") == "Cercana a su búsqueda guardada «mangroves» (similitud 0,83)."


# One example of every fact the engine can state (the engine's docstring lists them).
EXAMPLES: list[Fact] = [
    Fact("offer", {"organisation": "O", "title": "T"}),
    Fact("offer.ranked", {"rank": 1, "organisation": "O", "title": "T"}),
    Fact("saved_search", {"query": "q", "similarity": 0.5}),
    Fact("targets.shared", {"targets": [1, 2]}),
    Fact("targets.none_shared", {"offer_targets": [1]}),
    Fact("targets.offer", {"offer_targets": [1, 2]}),
    Fact("geography.serves", {"areas": ["Oceania"], "countries": ["FJI"]}),
    Fact("geography.serves", {"areas": [], "countries": []}),
    Fact("geography.country", {"country": "SEN"}),
    Fact("geography.sub_region", {"country": "SEN", "area": "Western Africa"}),
    Fact("geography.region", {"country": "SEN", "area": "Africa"}),
    Fact("geography.global"),
    Fact("geography.outside", {"country": "PER", "areas": ["Oceania"], "countries": []}),
    Fact("geography.outside", {"country": "PER", "areas": [], "countries": []}),
    Fact("assistance.shared", {"types": ["training"]}),
    Fact("assistance.other", {"types": ["training"], "requested": ["funding"]}),
    Fact("assistance.offer", {"types": ["equipment"]}),
    Fact("language.shared", {"language": "fr"}),
    Fact("language.missing", {"language": "fr", "offer_languages": ["en"]}),
    Fact("availability", {"problems": ["keyword_list", "inactive", "no_capacity"], "status": "expired"}),
    Fact("availability", {"problems": [], "status": "active"}),
    Fact("alert.targets", {"targets": [4]}),
    Fact("alert.area", {"country": "SEN"}),
    Fact("alert.assistance", {"types": ["mentoring"]}),
]


def test_every_fact_the_engine_states_has_a_sentence_here() -> None:
    assert set(SENTENCES) == set(ENGLISH)
    assert {f.code for f in EXAMPLES} == set(ENGLISH)


@pytest.mark.parametrize("fact", EXAMPLES, ids=lambda f: f.code)
@pytest.mark.parametrize("language", [code for code in i18n.LOCALES if code != i18n.DEFAULT_LOCALE])
def test_every_fact_is_translated(fact: Fact, language: str) -> None:
    """The catalogue test finds an empty translation; this one finds a sentence left in English."""
    english_page = render_fact(fact, "en")
    translated = render_fact(fact, language)
    assert translated != english_page
    assert "%(" not in translated and ")s" not in translated  # every placeholder filled


def test_english_pages_say_what_the_engine_says() -> None:
    """The English page sentences are the engine's, up to the names of places and the list style."""
    same: list[tuple[str, Any]] = []
    for fact in EXAMPLES:
        if fact.code in {"targets.shared", "targets.none_shared", "assistance.shared", "language.shared", "offer"}:
            same.append((render_fact(fact, "en"), english(fact)))
    assert all(page == engine for page, engine in same), same
