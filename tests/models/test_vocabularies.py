"""The controlled vocabularies are complete, consistent and give helpful errors."""

from __future__ import annotations

import json
from pathlib import Path

import pycountry
import pytest

from models import vocabularies as vocab

# The 22 sub-regions of the gold-set specification (exact spellings).
SPEC_SUB_REGIONS = {
    "Northern Africa", "Eastern Africa", "Middle Africa", "Southern Africa", "Western Africa", "Caribbean",
    "Central America", "South America", "Northern America", "Central Asia", "Eastern Asia",
    "South-eastern Asia", "Southern Asia", "Western Asia", "Eastern Europe", "Northern Europe",
    "Southern Europe", "Western Europe", "Australia and New Zealand", "Melanesia", "Micronesia", "Polynesia",
}  # fmt: skip


def test_there_are_23_targets_numbered_1_to_23_with_titles_and_summaries() -> None:
    targets = vocab.targets()
    assert sorted(targets) == list(range(1, 24))
    for number, target in targets.items():
        assert target.number == number
        assert 3 <= len(target.title) <= 70
        assert target.summary.endswith(".") and len(target.summary.split()) >= 8


@pytest.mark.parametrize("country", list(pycountry.countries), ids=lambda c: c.alpha_3)
def test_every_pycountry_country_maps_to_an_m49_region_and_sub_region(country) -> None:  # type: ignore[no-untyped-def]
    placed = vocab.countries()[country.alpha_3]
    assert placed.region in vocab.regions()
    assert placed.sub_region in vocab.regions()[placed.region]
    assert vocab.sub_regions()[placed.sub_region] == placed.region
    assert placed.m49.isdigit() and len(placed.m49) == 3


def test_sub_regions_are_exactly_the_spec_ones_plus_antarctica() -> None:
    assert set(vocab.sub_regions()) == SPEC_SUB_REGIONS | {"Antarctica"}
    assert set(vocab.regions()) == {"Africa", "Americas", "Asia", "Europe", "Oceania", "Antarctica"}


@pytest.mark.parametrize(
    ("alpha3", "sub_region", "region"),
    [
        ("KEN", "Eastern Africa", "Africa"),
        ("SDN", "Northern Africa", "Africa"),
        ("MEX", "Central America", "Americas"),
        ("CYP", "Western Asia", "Asia"),
        ("NRU", "Micronesia", "Oceania"),
        ("GRL", "Northern America", "Americas"),
        ("JEY", "Northern Europe", "Europe"),
        ("VNM", "South-eastern Asia", "Asia"),
    ],
)
def test_known_placements(alpha3: str, sub_region: str, region: str) -> None:
    assert vocab.areas_of(alpha3) == (sub_region, region, vocab.GLOBAL)


def test_area_membership() -> None:
    melanesia = vocab.countries_in("Melanesia")
    assert {"FJI", "PNG", "SLB", "VUT", "NCL"} <= melanesia
    assert "AUS" not in melanesia
    assert vocab.countries_in("Oceania") > melanesia
    assert len(vocab.countries_in("Global")) == len(pycountry.countries)


def test_unknown_region_names_the_field_value_and_closest_value() -> None:
    with pytest.raises(vocab.UnknownTermError) as info:
        vocab.parse_area("Oceana")  # "Oceanie" is French ("Océanie" without its accent): accepted
    assert str(info.value) == "unknown region 'Oceana'; did you mean 'Oceania'?"
    assert info.value.field == "region" and info.value.suggestions == ("Oceania",)


def test_parsing_is_case_insensitive_and_canonicalises() -> None:
    assert vocab.parse_area("south-eastern asia") == "South-eastern Asia"
    assert vocab.parse_country("fji") == "FJI"
    assert vocab.parse_country("FR") == "FRA"
    assert vocab.parse_language("French") == "fr"
    assert vocab.parse_language("ES") == "es"
    assert vocab.parse_assistance_type("Technical advice") == "technical_advice"
    assert vocab.parse_organisation_type("research-institute") == "research_institute"
    assert vocab.parse_target("T3") == 3


def test_unknown_values_suggest_close_ones() -> None:
    with pytest.raises(vocab.UnknownTermError, match=r"unknown country 'Frnace'; did you mean 'FRA \(France\)'"):
        vocab.parse_country("Frnace")
    with pytest.raises(vocab.UnknownTermError, match="did you mean 'training'"):
        vocab.parse_assistance_type("trainings")
    with pytest.raises(vocab.UnknownTermError, match="did you mean 'university'"):
        vocab.parse_organisation_type("universty")
    with pytest.raises(vocab.UnknownTermError, match=r"unknown target 24; KMGBF targets are numbered 1 to 23"):
        vocab.parse_target(24)
    with pytest.raises(vocab.UnknownTermError, match="did you mean 'negotiable'"):
        vocab.parse_cost("negotiabel")  # "negociable" is Spanish: accepted


def test_closed_vocabularies_are_the_documented_ones() -> None:
    assert vocab.ASSISTANCE_TYPES == (
        "training", "technical_advice", "technology_transfer", "data_sharing", "research_collaboration",
        "policy_legal_advice", "mentoring", "equipment", "funding",
    )  # fmt: skip
    assert vocab.ORGANISATION_TYPES == (
        "ngo", "university", "research_institute", "government_agency", "intergovernmental",
        "private_sector", "network", "iplc_organisation",
    )  # fmt: skip
    assert {"en", "fr", "es", "ru", "ar", "zh", "pt", "sw"} <= set(vocab.languages())
    assert all(len(code) == 2 for code in vocab.languages())


def test_gold_set_regions_agree_with_the_m49_table(shared_dev: Path) -> None:
    """Every need of the dev gold set states its party's sub-region; ours must say the same."""
    for line in (shared_dev / "needs.jsonl").read_text(encoding="utf-8").splitlines():
        need = json.loads(line)
        assert vocab.countries()[need["party"]].sub_region == need["region"], need["id"]
    for line in (shared_dev / "offers.jsonl").read_text(encoding="utf-8").splitlines():
        offer = json.loads(line)
        for area in offer["regions_served"]:
            assert vocab.parse_area(area) == area


def test_plain_choices_fold_only_case_so_sort_orders_stay_apart() -> None:
    """Labels are matched with hyphens and accents aside; a plain choice is not (``-region`` is a sort order)."""
    orders = ("region", "-region", "need_age", "-need_age")
    assert [vocab.parse_choice("sort", v, orders) for v in ("Region", "-REGION", "-need_age")] == [
        "region",
        "-region",
        "-need_age",
    ]
    with pytest.raises(vocab.UnknownTermError):
        vocab.parse_choice("sort", "need age", orders)
