"""The synonym table (``models/data/vocabulary_synonyms.csv``) is valid, and errors suggest by meaning."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import resources

import pytest

from models import vocabularies as vocab

PARSERS: dict[str, Callable[[str], object]] = {
    "assistance_type": vocab.parse_assistance_type,
    "organisation_type": vocab.parse_organisation_type,
    "cost": vocab.parse_cost,
    "region": vocab.parse_area,
    "language": vocab.parse_language,
}
ROWS = list(
    csv.DictReader(
        resources.files("models").joinpath("data", "vocabulary_synonyms.csv").read_text("utf-8").splitlines()
    )
)


def test_every_row_is_a_valid_value_and_a_synonym_the_vocabulary_does_not_accept() -> None:
    assert set(PARSERS) == set(vocab.SYNONYM_VOCABULARIES) == {row["vocabulary"] for row in ROWS}
    for row in ROWS:
        parse = PARSERS[row["vocabulary"]]
        assert parse(row["value"]) == row["value"], row
        assert row["lang"] in vocab.languages(), row
        with pytest.raises(vocab.UnknownTermError):  # an accepted spelling (a label) would never reach the table
            parse(row["synonym"])
    folded = Counter((r["vocabulary"], r["value"], " ".join(r["synonym"].casefold().split())) for r in ROWS)
    assert [row for row, n in folded.items() if n > 1] == []


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (vocab.parse_organisation_type, "foundation", "organisation type 'foundation'; did you mean 'ngo'?"),
        (vocab.parse_organisation_type, "Foundations", "did you mean 'ngo'?"),  # a plural of a synonym
        (vocab.parse_organisation_type, "company", "did you mean 'private_sector'?"),
        (vocab.parse_assistance_type, "consulting", "did you mean 'technical_advice'?"),
        (vocab.parse_assistance_type, "Capacity building", "did you mean 'training'?"),
        (vocab.parse_assistance_type, "grants", "did you mean 'funding'?"),
        (vocab.parse_cost, "paid", "unknown cost 'paid'; did you mean 'cost'?"),
        (vocab.parse_cost, "Pro bono", "did you mean 'free'?"),
        (vocab.parse_area, "Everywhere", "did you mean 'Global'?"),
        (vocab.parse_area, "Central Africa", "unknown region 'Central Africa'; did you mean 'Middle Africa'?"),
        (
            vocab.parse_place,
            "Sub-Saharan Africa",
            "did you mean 'Eastern Africa' or 'Middle Africa' or 'Southern Africa' or 'Western Africa'?",
        ),
        (vocab.parse_language, "Farsi", "unknown language 'Farsi'; did you mean 'fa (Persian)'?"),
        (vocab.parse_language, "Kiswahili", "did you mean 'sw (Swahili (macrolanguage))'?"),
        # French and Spanish words, accents aside
        (vocab.parse_assistance_type, "Renforcement des capacites", "did you mean 'training'?"),
        (vocab.parse_assistance_type, "asesoría jurídica", "did you mean 'policy_legal_advice'?"),
        (vocab.parse_organisation_type, "Fundación", "did you mean 'ngo'?"),
        (vocab.parse_cost, "sin costo", "did you mean 'free'?"),
        (vocab.parse_area, "America Latina", "did you mean 'South America' or 'Central America' or 'Caribbean'?"),
    ],
)
def test_unknown_values_suggest_what_they_mean(parse: Callable[[str], object], value: str, message: str) -> None:
    with pytest.raises(vocab.UnknownTermError) as info:
        parse(value)
    assert str(info.value).endswith(message)


def test_misspellings_of_values_still_suggest_by_spelling() -> None:
    with pytest.raises(vocab.UnknownTermError, match=r"did you mean 'university'\?$"):
        vocab.parse_organisation_type("universty")
    with pytest.raises(vocab.UnknownTermError, match=r"did you mean 'fr \(French\)'\?$"):
        vocab.parse_language("Frnch")


@pytest.fixture
def with_french_rows(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The table with rows added in French (which now has its own: the fixture shows that rows add up)."""
    original = vocab._data_text
    extra = "organisation_type,ngo,fr,fondation\nregion,Global,fr,monde entier\n"

    def data_text(name: str) -> str:
        text = original(name)
        return text + extra if name == "vocabulary_synonyms.csv" else text

    monkeypatch.setattr(vocab, "_data_text", data_text)
    vocab.synonyms.cache_clear()
    yield
    vocab.synonyms.cache_clear()


@pytest.mark.usefixtures("with_french_rows")
def test_labels_in_other_languages_are_more_rows() -> None:
    assert vocab.meant_by("organisation_type", "Fondation") == ("ngo",)
    assert vocab.meant_by("region", "Monde entier") == ("Global",)
    assert vocab.meant_by("organisation_type", "foundation") == ("ngo",)
