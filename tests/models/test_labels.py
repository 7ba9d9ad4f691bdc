"""Vocabulary labels in English, French and Spanish: every value has one, they are unique (so a typed label
leads back to its code), and countries and languages come from the CLDR in any locale."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import babel
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


# ------------------------------------------------------------------------------ completeness of translations

# Labels that are the same word in English and in that language (checked by hand, not copied by mistake).
SAME_AS_ENGLISH = {
    ("target", "7", "fr"),  # Pollution
    ("region", "Asia", "es"),
    ("region", "Europe", "fr"),
    ("region", "Melanesia", "es"),
    ("region", "Micronesia", "es"),
    ("offer_status", "active", "fr"),  # Active
}


@pytest.mark.parametrize("language", [lang for lang in vocab.LABEL_LANGUAGES if lang != "en"])
def test_every_data_label_is_translated_not_copied(language: str) -> None:
    """A label left in English (or empty) fails, unless it is listed as the same word in that language."""
    copied = [
        (kind, code, language)
        for kind in vocab.DATA_LABEL_KINDS
        for code, by_language in vocab.data_labels(kind).items()
        if by_language[language].casefold() == by_language["en"].casefold()
    ]
    assert set(copied) == {entry for entry in SAME_AS_ENGLISH if entry[2] == language}


@pytest.mark.parametrize("language", vocab.LABEL_LANGUAGES)
def test_every_country_and_language_has_a_name_in_every_label_language(language: str) -> None:
    """Country and language names come from the CLDR: a code it does not name would fall back to English."""
    cldr = babel.Locale.parse(language)
    assert [c.alpha3 for c in vocab.countries().values() if c.alpha2 not in cldr.territories] == []
    assert [code for code in vocab.languages() if code not in cldr.languages] == []


# ------------------------------------------------------------------------------------- labels as input


@pytest.mark.parametrize(
    ("parse", "text", "code"),
    [
        (vocab.parse_cost, "gratuit", "free"),
        (vocab.parse_cost, "Gratuito", "free"),
        (vocab.parse_cost, "NÉGOCIABLE", "negotiable"),
        (vocab.parse_area, "Afrique de l'Ouest", "Western Africa"),
        (vocab.parse_area, "Afrique de l’Ouest", "Western Africa"),  # typographic apostrophe
        (vocab.parse_area, "África Occidental", "Western Africa"),
        (vocab.parse_area, "africa occidental", "Western Africa"),  # accents aside
        (vocab.parse_area, "Monde entier", "Global"),
        (vocab.parse_place, "Afrique de l'Ouest", "Western Africa"),
        (vocab.parse_place, "Sénégal", "SEN"),
        (vocab.parse_country, "Sénégal", "SEN"),
        (vocab.parse_country, "senegal", "SEN"),
        (vocab.parse_country, "Alemania", "DEU"),
        (vocab.parse_country, "Côte d'Ivoire", "CIV"),
        (vocab.parse_country, "cote d’ivoire", "CIV"),
        (vocab.parse_assistance_type, "Conseil technique", "technical_advice"),
        (vocab.parse_assistance_type, "capacitación", "training"),
        (vocab.parse_assistance_type, "Capacitacion", "training"),
        (vocab.parse_organisation_type, "Université", "university"),
        (vocab.parse_organisation_type, "organización no gubernamental", "ngo"),
        (vocab.parse_language, "français", "fr"),
        (vocab.parse_language, "Francés", "fr"),
        (vocab.parse_language, "anglais", "en"),
        (vocab.parse_language, "Swahili", "sw"),
        (vocab.parse_target, "Espèces exotiques envahissantes", 6),
        (vocab.parse_target, "especies exoticas invasoras", 6),
        (vocab.parse_target, "Invasive alien species", 6),
        (
            lambda v: vocab.parse_choice("status", v, vocab.OFFER_STATUSES, kind="offer_status"),
            "En pause",
            "paused",
        ),
        (lambda v: vocab.parse_choice("status", v, vocab.NEED_STATUSES, kind="need_status"), "Abierta", "open"),
    ],
)
def test_translated_labels_are_accepted(parse: Callable[[str], object], text: str, code: object) -> None:
    assert parse(text) == code


PARSERS: dict[str, Callable[[str], object]] = {
    "target": lambda v: str(vocab.parse_target(v)),
    "assistance_type": vocab.parse_assistance_type,
    "organisation_type": vocab.parse_organisation_type,
    "region": vocab.parse_area,
    "cost": vocab.parse_cost,
    "offer_status": lambda v: vocab.parse_choice("status", v, vocab.OFFER_STATUSES, kind="offer_status"),
    "need_status": lambda v: vocab.parse_choice("status", v, vocab.NEED_STATUSES, kind="need_status"),
}


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_every_label_in_every_language_parses_back_to_its_code(kind: str) -> None:
    parse = PARSERS[kind]
    for code, by_language in vocab.data_labels(kind).items():
        for text in by_language.values():
            assert parse(text) == code, (kind, text)
            assert parse(text.upper()) == code, (kind, text)


@pytest.mark.parametrize("language", vocab.LABEL_LANGUAGES)
def test_every_country_and_language_name_parses_back(language: str) -> None:
    for alpha3 in vocab.countries():
        assert vocab.parse_country(vocab.label("country", alpha3, language)) == alpha3
    for code in vocab.languages():
        assert vocab.parse_language(vocab.label("language", code, language)) == code


def test_no_label_names_two_values_of_its_kind() -> None:
    """Across languages and accents aside, a typed label leads to one value (else input would be a 422)."""
    for kind in ("country", "language", *vocab.DATA_LABEL_KINDS):
        assert {text: codes for text, codes in vocab._label_index(kind).items() if len(codes) > 1} == {}, kind


@pytest.fixture
def colliding_labels(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Labels as a careless edit could leave them: the Spanish label of `cost` is also French for `free`."""
    original = vocab._data_text

    def data_text(name: str) -> str:
        text = original(name)
        if name != "labels.csv":
            return text
        return text.replace(
            "cost,cost,At cost,À prix coûtant,A precio de costo", "cost,cost,At cost,À prix coûtant,Gratuit"
        )

    monkeypatch.setattr(vocab, "_data_text", data_text)
    vocab._label_table.cache_clear()
    vocab._label_index.cache_clear()
    yield
    vocab._label_table.cache_clear()
    vocab._label_index.cache_clear()


@pytest.mark.usefixtures("colliding_labels")
def test_an_ambiguous_label_is_refused_naming_the_candidates() -> None:
    with pytest.raises(vocab.AmbiguousTermError) as info:
        vocab.parse_cost("gratuit")
    assert str(info.value) == "ambiguous cost 'gratuit': it names 'free' or 'cost'; give one of them"
    assert info.value.codes == ("free", "cost") and info.value.kind == "cost"
    assert isinstance(info.value, vocab.UnknownTermError)  # so every caller answers it with a 422


def test_a_misspelt_label_suggests_by_the_spelling_of_labels_too() -> None:
    with pytest.raises(vocab.UnknownTermError) as info:
        vocab.parse_area("Afrique de l'Oeust")
    assert info.value.suggestions[0] == "Western Africa" and info.value.kind == "region"
    with pytest.raises(vocab.UnknownTermError) as country:
        vocab.parse_country("Senegall")
    assert country.value.codes[0] == "SEN" and country.value.suggestions[0] == "SEN (Senegal)"
    with pytest.raises(vocab.UnknownTermError, match=r"did you mean '6 \(Invasive alien species\)'"):
        vocab.parse_target("Especes exotiques envahisantes")
