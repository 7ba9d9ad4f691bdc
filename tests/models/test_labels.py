"""Vocabulary labels in English, French and Spanish: every value has one, they are unique (so a typed label
leads back to its code), and countries and languages come from the CLDR in any locale."""

from __future__ import annotations

import pytest

from models import vocabularies as vocab

CODES = {
    "target": [str(n) for n in vocab.targets()],
    "target_summary": [str(n) for n in vocab.targets()],
    "assistance_type": list(vocab.ASSISTANCE_TYPES),
    "organisation_type": list(vocab.ORGANISATION_TYPES),
    "region": sorted(set(vocab.geographic_areas())),
    "cost": list(vocab.COSTS),
    "offer_status": list(vocab.OFFER_STATUSES),
    "need_status": list(vocab.NEED_STATUSES),
}


@pytest.mark.parametrize("kind", vocab.DATA_LABEL_KINDS)
def test_every_value_has_a_label_in_every_language(kind: str) -> None:
    labels = vocab.data_labels(kind)
    assert sorted(labels) == sorted(CODES[kind])
    for code, by_language in labels.items():
        assert set(by_language) == set(vocab.LABEL_LANGUAGES), code
        assert all(text.strip() == text and text for text in by_language.values()), (code, by_language)


@pytest.mark.parametrize("kind", vocab.DATA_LABEL_KINDS)
def test_labels_are_unique_within_a_kind_so_they_can_be_looked_up(kind: str) -> None:
    for language in vocab.LABEL_LANGUAGES:
        texts = [labels[language].casefold() for labels in vocab.data_labels(kind).values()]
        assert len(texts) == len(set(texts)), (kind, language)
    for code, by_language in vocab.data_labels(kind).items():
        for text in by_language.values():
            assert vocab.code_for_label(kind, text.upper()) == code


def test_english_target_titles_are_the_vocabulary_titles() -> None:
    for number, target in vocab.targets().items():
        assert vocab.label("target", number) == target.title
        assert vocab.label("target_summary", number, "en") == target.summary


def test_labels_in_french_and_spanish() -> None:
    assert vocab.label("target", 6, "fr") == "Espèces exotiques envahissantes"
    assert vocab.label("target", 13, "es") == "Acceso y participación en los beneficios"
    assert vocab.label("region", "Western Africa", "fr_CA") == "Afrique de l'Ouest"
    assert vocab.label("cost", "free", "es-419") == "Gratuito"
    assert vocab.code_for_label("cost", "gratuit") == "free"
    assert vocab.code_for_label("region", "Afrique de l'Ouest") == "Western Africa"


def test_other_languages_fall_back_to_english() -> None:
    assert vocab.label("assistance_type", "training", "de") == "Training"
    assert vocab.label("assistance_type", "training", "not a locale") == "Training"
    assert vocab.label("assistance_type", "unknown", "fr") == "unknown"


def test_country_and_language_names_come_from_the_cldr() -> None:
    assert vocab.label("country", "CIV", "fr") == "Côte d’Ivoire"
    assert vocab.label("country", "DEU", "es") == "Alemania"
    assert vocab.label("country", "KEN", "ar") == "كينيا"
    assert vocab.label("language", "en", "fr") == "Anglais"
    assert vocab.label("language", "fr", "es") == "Francés"
    assert vocab.label("country", "XXX", "fr") == "XXX"
