"""Controlled vocabularies: KMGBF targets, countries and UN M49 regions, assistance and organisation types,
languages, costs and statuses.

The vocabularies are data the code reads (``models/data/*.json|csv`` and pycountry), loaded once and cached.
Every ``parse_*`` function returns the canonical spelling of a value or raises :class:`UnknownTermError`,
whose message names the field, the bad value and the valid values it most likely meant: first by meaning, from
the synonym table ``models/data/vocabulary_synonyms.csv`` (``foundation`` → ``ngo``, ``consulting`` →
``technical_advice``), then by spelling (``universty`` → ``university``). Synonyms are only suggested, never
accepted: a foundation may as well be a network, and the caller should choose.

Geography follows UN M49 (the vendored table ``models/data/m49.csv``). Pollinate's *sub-region* is M49's
intermediate region where one exists (Eastern Africa, Caribbean, ...) and M49's sub-region otherwise
(Northern Africa, South-eastern Asia, ...): the 22 areas that cooperation platforms actually use.
"""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Literal

import babel
import pycountry

GLOBAL: Final = "Global"

ASSISTANCE_TYPES: Final = (
    "training",
    "technical_advice",
    "technology_transfer",
    "data_sharing",
    "research_collaboration",
    "policy_legal_advice",
    "mentoring",
    "equipment",
    "funding",
)
ASSISTANCE_LABELS: Final = {
    "technical_advice": "technical advice",
    "technology_transfer": "technology transfer",
    "data_sharing": "data sharing",
    "research_collaboration": "research collaboration",
    "policy_legal_advice": "policy and legal advice",
}
ORGANISATION_TYPES: Final = (
    "ngo",
    "university",
    "research_institute",
    "government_agency",
    "intergovernmental",
    "private_sector",
    "network",
    "iplc_organisation",
)
COSTS: Final = ("free", "cost", "negotiable")
OFFER_STATUSES: Final = ("active", "paused", "expired")
NEED_STATUSES: Final = ("open", "under_review", "matched", "closed", "withdrawn")

# M49 intermediate regions that Pollinate uses as sub-regions (Channel Islands is too small to be useful:
# Guernsey and Jersey stay in Northern Europe).
_INTERMEDIATE_AS_SUB_REGION: Final = frozenset(
    {
        "Eastern Africa",
        "Middle Africa",
        "Southern Africa",
        "Western Africa",
        "Caribbean",
        "Central America",
        "South America",
    }
)


class UnknownTermError(ValueError):
    """A value outside a controlled vocabulary.

    Attributes:
        field: the field that held the value (``"region"``, ``"targets"``...).
        value: the value as given.
        suggestions: the closest valid values, best first (may be empty).
    """

    def __init__(
        self, field: str, value: object, suggestions: Iterable[str] = (), *, hint: str | None = None
    ) -> None:
        self.field = field
        self.value = value
        self.suggestions = tuple(suggestions)
        message = f"unknown {field} {value!r}"
        if self.suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        elif hint:
            message += f"; {hint}"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Target:
    """A KMGBF target: its number, a short title and a one-sentence summary in our own words."""

    number: int
    title: str
    summary: str


@dataclass(frozen=True, slots=True)
class Country:
    """An ISO 3166-1 country with its UN M49 placement."""

    alpha3: str
    alpha2: str
    name: str
    m49: str
    region: str
    sub_region: str


@dataclass(frozen=True, slots=True)
class Language:
    """An ISO 639-1 language."""

    code: str
    name: str


def _data_text(name: str) -> str:
    return resources.files("models").joinpath("data", name).read_text(encoding="utf-8")


@cache
def targets() -> Mapping[int, Target]:
    """The 23 KMGBF targets by number."""
    rows = json.loads(_data_text("kmgbf_targets.json"))
    return {int(r["number"]): Target(int(r["number"]), str(r["title"]), str(r["summary"])) for r in rows}


@cache
def countries() -> Mapping[str, Country]:
    """Every ISO 3166-1 country by alpha-3 code, each placed in its M49 region and sub-region."""
    m49 = {row["alpha3"]: row for row in csv.DictReader(_data_text("m49.csv").splitlines())}
    out: dict[str, Country] = {}
    for c in pycountry.countries:
        row = m49[c.alpha_3]  # a KeyError here means the vendored table is missing a pycountry country
        intermediate = row["intermediate_region"]
        sub_region = intermediate if intermediate in _INTERMEDIATE_AS_SUB_REGION else row["sub_region"]
        name = getattr(c, "common_name", None) or c.name
        out[c.alpha_3] = Country(c.alpha_3, c.alpha_2, name, row["m49"], row["region"], sub_region)
    return out


@cache
def regions() -> Mapping[str, tuple[str, ...]]:
    """M49 regions mapped to their sub-regions (Pollinate's 22 + Antarctica), in a stable order."""
    out: dict[str, set[str]] = {}
    for c in countries().values():
        out.setdefault(c.region, set()).add(c.sub_region)
    return {r: tuple(sorted(subs)) for r, subs in sorted(out.items())}


@cache
def sub_regions() -> Mapping[str, str]:
    """Each sub-region mapped to its M49 region."""
    return {sub: region for region, subs in regions().items() for sub in subs}


@cache
def geographic_areas() -> tuple[str, ...]:
    """Every value an offer may list in ``regions_served``: Global, the M49 regions and the sub-regions."""
    return (GLOBAL, *regions(), *sub_regions())


@cache
def languages() -> Mapping[str, Language]:
    """ISO 639-1 languages by two-letter code."""
    return {
        lang.alpha_2: Language(lang.alpha_2, lang.name) for lang in pycountry.languages if hasattr(lang, "alpha_2")
    }


def countries_in(area: str) -> frozenset[str]:
    """Alpha-3 codes of the countries inside a geographic area (Global, a region or a sub-region)."""
    area = parse_area(area)
    return frozenset(c.alpha3 for c in countries().values() if area == GLOBAL or area in {c.region, c.sub_region})


def areas_of(alpha3: str) -> tuple[str, str, str]:
    """The areas that contain a country, narrowest first: (sub-region, region, Global)."""
    c = countries()[parse_country(alpha3)]
    return (c.sub_region, c.region, GLOBAL)


# ------------------------------------------------------------------------------------------- parsing


def closest(value: str, choices: Iterable[str], *, n: int = 3) -> list[str]:
    """The valid values closest to ``value`` (case-insensitive), best first."""
    by_folded: dict[str, str] = {}
    for choice in choices:
        by_folded.setdefault(choice.casefold(), choice)
    hits = difflib.get_close_matches(value.casefold(), list(by_folded), n=n, cutoff=0.6)
    return [by_folded[h] for h in hits]


# ``models/data/vocabulary_synonyms.csv``: one row per (vocabulary, value, lang, synonym). ``vocabulary`` is one
# of SYNONYM_VOCABULARIES; ``value`` a canonical value of it (an ISO 639-1 code for languages); ``lang`` the
# ISO 639-1 language the synonym is written in (labels in other languages are more rows); ``synonym`` a word or
# phrase people use for that value. A synonym may mean several values (``latin america``: three sub-regions),
# one row each. Only words that mean the value belong here, not misspellings: those are found by spelling. The
# table's rules (values valid, synonyms not values themselves, known languages) are checked by the test suite.
SYNONYM_VOCABULARIES: Final = ("assistance_type", "organisation_type", "cost", "region", "language")


def _fold(text: str) -> str:
    """Case, hyphens, underscores and runs of spaces do not distinguish synonyms."""
    return " ".join(text.casefold().replace("-", " ").replace("_", " ").split())


@cache
def synonyms() -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    """Each vocabulary's synonyms (folded, in every language of the table) mapped to the values they mean."""
    out: dict[str, dict[str, list[str]]] = {name: {} for name in SYNONYM_VOCABULARIES}
    for row in csv.DictReader(_data_text("vocabulary_synonyms.csv").splitlines()):
        meant = out[row["vocabulary"]].setdefault(_fold(row["synonym"]), [])
        if row["value"] not in meant:
            meant.append(row["value"])
    return {name: {word: tuple(values) for word, values in table.items()} for name, table in out.items()}


def meant_by(vocabulary: str, value: str) -> tuple[str, ...]:
    """The values a synonym means (``meant_by("organisation_type", "Foundation")`` is ``("ngo",)``); empty when
    ``value`` is no synonym."""
    return synonyms()[vocabulary].get(_fold(value), ())


def _suggestions(vocabulary: str, value: str, by_spelling: Iterable[str]) -> list[str]:
    """What ``value`` most likely meant: the values of a synonym; else values spelt like it; else the values of
    a synonym spelt like it (``foundations``).

    Never a mix: the table is a reviewed statement of meaning, and values spelt like a synonym are coincidences
    (``Central Africa`` is ``Middle Africa``, not ``Central America``).
    """
    table = synonyms()[vocabulary]
    word = _fold(value)
    if word in table:
        return list(table[word])
    if spelt_like := list(by_spelling):
        return spelt_like
    near = difflib.get_close_matches(word, list(table), n=1, cutoff=0.85)
    return list(table[near[0]]) if near else []


def _parse_choice(field: str, value: object, choices: Iterable[str], *, vocabulary: str | None = None) -> str:
    options = tuple(choices)
    if isinstance(value, str):
        folded = value.strip().casefold()
        for option in options:
            if option.casefold() == folded:
                return option
        by_spelling = closest(value.strip(), options)
        suggested = by_spelling if vocabulary is None else _suggestions(vocabulary, value, by_spelling)
        raise UnknownTermError(field, value, suggested)
    raise UnknownTermError(field, value)


def parse_assistance_type(value: object, *, field: str = "assistance type") -> str:
    """Canonical assistance type (``"Technical advice"`` and ``"technical-advice"`` are accepted too)."""
    if isinstance(value, str):
        value = value.strip().replace("-", "_").replace(" ", "_")
    return _parse_choice(field, value, ASSISTANCE_TYPES, vocabulary="assistance_type")


def parse_organisation_type(value: object, *, field: str = "organisation type") -> str:
    """Canonical organisation type."""
    if isinstance(value, str):
        value = value.strip().replace("-", "_").replace(" ", "_")
    return _parse_choice(field, value, ORGANISATION_TYPES, vocabulary="organisation_type")


def parse_cost(value: object, *, field: str = "cost") -> str:
    """Canonical cost: free, cost (at cost) or negotiable."""
    return _parse_choice(field, value, COSTS, vocabulary="cost")


def parse_area(value: object, *, field: str = "region") -> str:
    """Canonical geographic area: Global, an M49 region or a sub-region."""
    return _parse_choice(field, value, geographic_areas(), vocabulary="region")


def parse_place(value: object, *, field: str = "region or country") -> str:
    """A country (alpha-3, from alpha-3 or alpha-2) or else a geographic area (Global, region, sub-region)."""
    try:
        return parse_country(value)
    except UnknownTermError:
        return parse_area(value, field=field)


def parse_country(value: object, *, field: str = "country") -> str:
    """Alpha-3 code of a country given as an alpha-3 or alpha-2 code (case-insensitive)."""
    table = countries()
    if isinstance(value, str):
        code = value.strip().upper()
        if code in table:
            return code
        if len(code) == 2:
            for c in table.values():
                if c.alpha2 == code:
                    return c.alpha3
        names = {c.name: c.alpha3 for c in table.values()}
        by_name = [names[n] for n in closest(value.strip(), names, n=2)]
        by_code = closest(code, table, n=2)
        suggestions = list(dict.fromkeys(by_name + by_code))[:3]
        raise UnknownTermError(field, value, [f"{s} ({table[s].name})" for s in suggestions])
    raise UnknownTermError(field, value)


def parse_language(value: object, *, field: str = "language") -> str:
    """ISO 639-1 code of a language given as a code or an English name (``"French"`` → ``"fr"``)."""
    table = languages()
    if isinstance(value, str):
        code = value.strip().lower()
        if code in table:
            return code
        names = {lang.name.casefold(): lang.code for lang in table.values()}
        if code in names:
            return names[code]
        by_spelling = [names[n.casefold()] for n in closest(value.strip(), names, n=2)]
        by_spelling += [c for c in closest(code, table, n=2) if c not in by_spelling]
        suggestions = _suggestions("language", value, by_spelling[:3])
        raise UnknownTermError(field, value, [f"{s} ({table[s].name})" for s in suggestions])
    raise UnknownTermError(field, value)


def parse_target(value: object, *, field: str = "target") -> int:
    """A KMGBF target number 1..23 (``"T3"`` and ``"3"`` are accepted too)."""
    if isinstance(value, str):
        text = value.strip().upper().removeprefix("T")
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value in targets():
        return value
    raise UnknownTermError(field, value, hint="KMGBF targets are numbered 1 to 23")


def parse_choice(field: str, value: object, choices: Iterable[str]) -> str:
    """Canonical spelling of ``value`` among ``choices`` (statuses, visibilities...)."""
    return _parse_choice(field, value, choices)


# ------------------------------------------------------------------------------------- country groups
# ``models/data/country_groups.csv`` (alpha3, ldc, sids, developed as 0/1), one row per country of m49.csv:
# - ldc: the UN list of Least Developed Countries as of December 2024 (44 countries, after the graduations of
#   Bhutan in December 2023 and Sao Tome and Principe in December 2024);
# - sids: UN-OHRLLS's Small Island Developing States that are UN members (38, Bahrain included), plus the Cook
#   Islands and Niue, which are Parties to the Convention in their own right; the other non-UN territories on
#   the OHRLLS list are not, so they are left out;
# - developed: the former UN M49 "developed regions" (M49 dropped the distinction in 2017): Europe, Northern
#   America, Japan, Israel, Australia and New Zealand (with Australia's external territories). Cyprus and
#   Türkiye sit in Western Asia, so M49 counted them as developing and so does this table.


@cache
def _country_groups() -> Mapping[str, frozenset[str]]:
    """Each alpha-3 code mapped to the groups it belongs to (``"ldc"``, ``"sids"``, ``"developed"``)."""
    out: dict[str, frozenset[str]] = {}
    for row in csv.DictReader(_data_text("country_groups.csv").splitlines()):
        out[row["alpha3"]] = frozenset(group for group in ("ldc", "sids", "developed") if row[group] == "1")
    return out


def _groups_of(alpha3: str) -> frozenset[str]:
    return _country_groups()[parse_country(alpha3)]  # a KeyError means the table is missing a country


def is_ldc(alpha3: str) -> bool:
    """Whether a country is on the UN list of Least Developed Countries (as of December 2024).

    Raises:
        UnknownTermError: ``alpha3`` is not a country code.
    """
    return "ldc" in _groups_of(alpha3)


def is_sids(alpha3: str) -> bool:
    """Whether a country is a Small Island Developing State (UN members, the Cook Islands and Niue).

    Raises:
        UnknownTermError: ``alpha3`` is not a country code.
    """
    return "sids" in _groups_of(alpha3)


def in_global_south(alpha3: str) -> bool:
    """Whether a country is in the Global South: outside the former UN M49 "developed regions".

    Raises:
        UnknownTermError: ``alpha3`` is not a country code.
    """
    return "developed" not in _groups_of(alpha3)


# ------------------------------------------------------------------------------------------- labels
# What people read for each value, in every language of the web pages. ``models/data/labels.csv`` (kind, code,
# then one column per language) holds the small vocabularies; the KMGBF targets carry their translations in
# ``kmgbf_targets.json`` (``title_fr``, ``summary_es``...); country and language names come from the Unicode
# CLDR through Babel, in any locale it knows. Within a kind, no two codes share a label in one language (a test
# checks it), so a label typed by someone can be looked back up to its code (:func:`code_for_label`).

LABEL_LANGUAGES: Final = ("en", "fr", "es")
LabelKind = Literal[
    "target",
    "target_summary",
    "assistance_type",
    "organisation_type",
    "region",
    "cost",
    "offer_status",
    "need_status",
    "country",
    "language",
]
# Kinds whose labels are Pollinate's data (the others come from the CLDR).
DATA_LABEL_KINDS: Final = (
    "target",
    "target_summary",
    "assistance_type",
    "organisation_type",
    "region",
    "cost",
    "offer_status",
    "need_status",
)


@cache
def _label_table() -> Mapping[str, Mapping[str, Mapping[str, str]]]:
    """``kind -> code -> language -> label`` for the kinds of :data:`DATA_LABEL_KINDS`."""
    table: dict[str, dict[str, dict[str, str]]] = {}
    for row in csv.DictReader(_data_text("labels.csv").splitlines()):
        table.setdefault(row["kind"], {})[row["code"]] = {lang: row[lang] for lang in LABEL_LANGUAGES}
    for row in json.loads(_data_text("kmgbf_targets.json")):
        code = str(row["number"])
        table.setdefault("target", {})[code] = {
            lang: row["title" if lang == "en" else f"title_{lang}"] for lang in LABEL_LANGUAGES
        }
        table.setdefault("target_summary", {})[code] = {
            lang: row["summary" if lang == "en" else f"summary_{lang}"] for lang in LABEL_LANGUAGES
        }
    return table


def data_labels(kind: str) -> Mapping[str, Mapping[str, str]]:
    """``code -> language -> label`` of a data kind (codes as strings: target ``"3"``)."""
    return _label_table()[kind]


@cache
def _cldr(locale: str) -> babel.Locale:
    try:
        return babel.Locale.parse(locale.replace("-", "_"))
    except (ValueError, babel.UnknownLocaleError):
        return babel.Locale("en")


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


# Kinds whose labels are common nouns, written in lower case inside a sentence (``Provides training``,
# ``formation``); the names of targets, regions, countries and organisation types (``Indigenous peoples' ...``)
# keep their capitals.
_COMMON_NOUN_KINDS: Final = frozenset({"assistance_type", "cost", "offer_status", "need_status", "language"})


def _lower_first(text: str) -> str:
    """``Technical advice`` → ``technical advice``; an acronym (``NGO``, ``IPLC ...``) stays as it is."""
    if text[1:2].isupper():
        return text
    return text[:1].lower() + text[1:]


def label(kind: LabelKind, code: str | int, locale: str = "en", *, in_sentence: bool = False) -> str:
    """What a reader of ``locale`` sees for a vocabulary value, standing alone (first letter capitalised) or,
    with ``in_sentence``, inside a sentence (common nouns in lower case as the language writes them:
    ``français``, ``formation``; names keep their capitals).

    ``locale`` is a language or a Babel locale identifier (``"fr"``, ``"fr_CA"``, ``"es-419"``). Data labels
    fall back to English for other languages; country names (``code``: alpha-3) and language names (ISO
    639-1) come from the CLDR for any locale, and fall back to their ISO English names. An unknown code is
    returned as given.
    """
    key = str(code)
    if kind == "country":
        country = countries().get(key)
        if country is None:
            return key
        return _cldr(locale).territories.get(country.alpha2) or country.name
    if kind == "language":
        name = _cldr(locale).languages.get(key)
        if name is None:
            known = languages().get(key)
            return known.name if known is not None else key
        return name if in_sentence else _upper_first(name)
    labels = _label_table()[kind].get(key)
    if labels is None:
        return key
    text = labels.get(_cldr(locale).language) or labels["en"]
    return _lower_first(text) if in_sentence and kind in _COMMON_NOUN_KINDS else text


def code_for_label(kind: str, text: str) -> str | None:
    """The code of a data kind whose label, in any language of the data, is ``text`` (case-insensitive)."""
    folded = text.strip().casefold()
    for code, labels in _label_table()[kind].items():
        if any(value.casefold() == folded for value in labels.values()):
            return code
    return None
