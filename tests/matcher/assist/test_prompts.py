"""The missing-information prompts: every code renders in every language from the gettext catalogues
(``matcher/assist/locales``), which are complete and up to date, and the wording a reader gets is the
catalogue's, with the names of its language."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from matcher.assist.missing import Gap
from matcher.assist.prompts import LANGUAGES, MESSAGES, render

ROOT = Path(__file__).resolve().parents[3]
LOCALES = ROOT / "matcher" / "assist" / "locales"
GAPS = [
    Gap("detail", "too_short", {"words": 5, "minimum": 40}),
    Gap("where", "where", {"party": "KEN"}),
    Gap("where", "where"),
    Gap("scale", "scale"),
    Gap("tried", "tried"),
    Gap("when", "when"),
    Gap("trainees", "trainees"),
    Gap("language", "language"),
    Gap("targets", "choose_targets", {"suggested": [6]}),
    Gap("targets", "check_targets", {"chosen": [19], "suggested": [4, 6]}),
    Gap("assistance_types", "choose_types", {"suggested": ["training", "technical_advice"]}),
]


def ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The messages of prompts.py, extracted as `make messages` does."""
    out = tmp_path_factory.mktemp("assist") / "assist.pot"
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    subprocess.run(
        [pybabel, "extract", "-o", str(out), "matcher/assist/prompts.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with out.open("rb") as source:
        return ids(read_po(source))


def test_every_code_of_the_check_has_a_sentence() -> None:
    assert {g.code for g in GAPS} == set(MESSAGES) - {"where_party"} | {"too_short"}


def test_the_template_is_up_to_date(extracted: set[str]) -> None:
    assert len(extracted) == len(MESSAGES) + 1  # and the plural of too_short
    with (LOCALES / "assist.pot").open("rb") as source:
        assert ids(read_po(source)) == extracted, "run `make messages`"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_prompt_is_translated_and_none_is_fuzzy(extracted: set[str], language: str) -> None:
    with (LOCALES / language / "LC_MESSAGES" / "assist.po").open("rb") as source:
        catalog = read_po(source, locale=language)
    assert extracted - ids(catalog) == set(), "missing from the catalogue: run `make messages`"
    untranslated = [
        m.id for m in catalog if m.id and not all(m.string if isinstance(m.string, tuple) else (m.string,))
    ]
    assert not untranslated and not [m.id for m in catalog if m.id and m.fuzzy]
    # And rendered: no prompt of this language is left in English.
    for gap in GAPS:
        assert render(gap, language) != render(gap, "en"), gap


def test_the_wording_is_the_catalogues_with_names_in_the_same_language() -> None:
    with (LOCALES / "fr" / "LC_MESSAGES" / "assist.po").open("rb") as source:
        french = {m.id: m.string for m in read_po(source, locale="fr") if isinstance(m.id, str) and m.id}
    assert render(Gap("when", "when"), "fr") == french[MESSAGES["when"]]
    assert render(Gap("where", "where", {"party": "CIV"}), "fr") == french[MESSAGES["where_party"]] % {
        "party": "Côte d’Ivoire"
    }
    assert render(GAPS[1], "es").startswith("Indique en qué lugar de Kenia")
    assert "4 (Extinction des espèces et diversité génétique) et 6 (Espèces exotiques envahissantes)" in render(
        GAPS[9], "fr"
    )
    assert render(GAPS[10], "es").endswith("probablemente: capacitación y asesoramiento técnico.")


def test_plurals_and_numbers_follow_the_language() -> None:
    one = Gap("detail", "too_short", {"words": 1, "minimum": 40})
    assert render(one, "en").startswith("Your description has 1 word.")
    assert render(one, "fr").startswith("Votre description compte 1 mot.")
    assert render(GAPS[0], "es").startswith("Su descripción tiene 5 palabras.")


def test_a_language_without_a_catalogue_reads_english() -> None:
    assert render(GAPS[3], "de") == render(GAPS[3], "en")
    assert render(GAPS[3], "en").startswith("Give the scale")
