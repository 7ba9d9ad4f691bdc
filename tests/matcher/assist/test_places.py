"""The gazetteer: countries and regions named in English, French or Spanish, longest name first."""

from __future__ import annotations

import pytest

from matcher.assist.places import places_in


def codes(text: str) -> list[tuple[str, str]]:
    return [(p.kind, p.code) for p in places_in(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rats on two cays off Belize.", [("country", "BLZ")]),
        ("Nos mangroves au Sénégal et en Côte d'Ivoire.", [("country", "SEN"), ("country", "CIV")]),
        ("Los páramos de Perú y de Bolivia.", [("country", "PER"), ("country", "BOL")]),
        ("Reefs of Papua New Guinea.", [("country", "PNG")]),  # not also Guinea
        ("Pêcheries d'Afrique de l'Ouest.", [("region", "Western Africa")]),  # not also Afrique
        ("Humedales de América del Sur.", [("region", "South America")]),
    ],
)
def test_places_named_in_three_languages(text: str, expected: list[tuple[str, str]]) -> None:
    assert codes(text) == expected


def test_lower_case_words_are_not_countries() -> None:
    assert codes("We chad a turkey for the jordan valley fête.") == []


def test_each_place_once_with_its_region() -> None:
    found = places_in("Kenya's coast; more of Kenya later.")
    assert len(found) == 1
    assert found[0].region == "Eastern Africa"
    assert found[0].mention == "Kenya"
