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
import unicodedata
from collections.abc import Callable, Iterable, Mapping
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
        suggestions: the closest valid values, best first (may be empty), as the message names them
            (``"SEN (Senegal)"`` for a country).
        kind: the :data:`LabelKind` of the vocabulary, when it has labels (so that a page can name the
            suggestions in its reader's language).
        codes: the codes of the suggestions (``"SEN"``), in the same order.
    """

    def __init__(
        self,
        field: str,
        value: object,
        suggestions: Iterable[str] = (),
        *,
        hint: str | None = None,
        kind: str | None = None,
        codes: Iterable[str] | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.suggestions = tuple(suggestions)
        self.kind = kind
        self.codes = self.suggestions if codes is None else tuple(codes)
        super().__init__(self._message(hint))

    def _message(self, hint: str | None) -> str:
        message = f"unknown {self.field} {self.value!r}"
        if self.suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        elif hint:
            message += f"; {hint}"
        return message


class AmbiguousTermError(UnknownTermError):
    """A label that names several values of one vocabulary (in different languages, or once accents and case
    are ignored): Pollinate does not guess, the caller chooses. ``suggestions`` are all the candidates."""

    def _message(self, hint: str | None) -> str:
        named = " or ".join(repr(s) for s in self.suggestions)
        return f"ambiguous {self.field} {self.value!r}: it names {named}; give one of them"


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
# one row each. Only words that mean the value belong here, not misspellings: those are found by spelling, nor
# the value's labels: those are accepted. The table's rules (values valid, synonyms neither values nor labels,
# known languages) are checked by the test suite.
SYNONYM_VOCABULARIES: Final = ("assistance_type", "organisation_type", "cost", "region", "language")

_APOSTROPHES: Final = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


def _fold(text: str) -> str:
    """Case, accents, the style of apostrophes, hyphens, underscores and runs of spaces distinguish no value,
    label or synonym (``Afrique de l’Ouest`` is ``afrique de l'ouest``, ``África`` is ``africa``)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().replace("-", " ").replace("_", " ").split())


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


def _casefold(text: str) -> str:
    return text.strip().casefold()


@cache
def _folded_options(options: tuple[str, ...], *, loose: bool) -> Mapping[str, str]:
    """Each option by itself (the common case, looked up without folding) and by its folded spelling: folded
    like labels (``_fold``) when ``loose``, else only by case (``-region`` and ``region`` are two sort orders)."""
    fold = _fold if loose else _casefold
    return {**{fold(option): option for option in options}, **{option: option for option in options}}


def _spelt_like(kind: str, value: str, *, n: int = 3) -> list[str]:
    """Codes whose label, in any language of the labels, is spelt like ``value``, best first."""
    index = _label_index(kind)
    hits = difflib.get_close_matches(_fold(value), list(index), n=n, cutoff=0.6)
    return list(dict.fromkeys(code for hit in hits for code in index[hit]))[:n]


def _by_label(field: str, value: str, kind: str, named: Callable[[str], str] = str) -> str | None:
    """The code whose label is ``value`` in some language; ``None`` when none is.

    Raises:
        AmbiguousTermError: the label names several codes (``named`` spells them in the message).
    """
    meant = codes_for_label(kind, value)
    if len(meant) > 1:
        raise AmbiguousTermError(field, value, [named(c) for c in meant], kind=kind, codes=meant)
    return meant[0] if meant else None


def _parse_choice(
    field: str, value: object, choices: Iterable[str], *, vocabulary: str | None = None, kind: str | None = None
) -> str:
    """The canonical spelling of ``value``: a choice (case aside; for a vocabulary with labels, ``kind``, also
    accents and ``-``/``_``/`` ``), else the code of its label in any language; else an error suggesting what
    it meant."""
    options = tuple(choices)
    if not isinstance(value, str):
        raise UnknownTermError(field, value)
    loose = kind is not None
    known = _folded_options(options, loose=loose)
    found = known.get(value) or known.get(_fold(value) if loose else _casefold(value))
    if found is not None:
        return found
    if kind is not None and (code := _by_label(field, value, kind)) is not None:
        return code
    by_spelling = closest(value.strip(), options)
    if kind is not None:
        by_spelling += [c for c in _spelt_like(kind, value) if c not in by_spelling]
    by_spelling = by_spelling[:3]
    suggested = by_spelling if vocabulary is None else _suggestions(vocabulary, value, by_spelling)
    raise UnknownTermError(field, value, suggested, kind=kind)


def parse_assistance_type(value: object, *, field: str = "assistance type") -> str:
    """Canonical assistance type (``"Technical advice"``, ``"technical-advice"`` and the labels in every
    language, ``"Conseil technique"``, are accepted too)."""
    return _parse_choice(field, value, ASSISTANCE_TYPES, vocabulary="assistance_type", kind="assistance_type")


def parse_organisation_type(value: object, *, field: str = "organisation type") -> str:
    """Canonical organisation type (any case, spaces or hyphens for underscores, or a label: ``Université``)."""
    return _parse_choice(
        field, value, ORGANISATION_TYPES, vocabulary="organisation_type", kind="organisation_type"
    )


def parse_cost(value: object, *, field: str = "cost") -> str:
    """Canonical cost: free, cost (at cost) or negotiable, or a label of one (``gratuit``, ``gratuito``)."""
    return _parse_choice(field, value, COSTS, vocabulary="cost", kind="cost")


def parse_area(value: object, *, field: str = "region") -> str:
    """Canonical geographic area: Global, an M49 region or a sub-region, or a label of one
    (``Afrique de l'Ouest``, ``África Occidental``)."""
    return _parse_choice(field, value, geographic_areas(), vocabulary="region", kind="region")


def parse_place(value: object, *, field: str = "region or country") -> str:
    """A country (alpha-3, from alpha-3 or alpha-2) or else a geographic area (Global, region, sub-region).

    Codes come first, then the names of areas, then the names of countries (``Antarctica`` is the area).
    """
    if isinstance(value, str) and (code := _country_code(value)) is not None:
        return code
    try:
        return parse_area(value, field=field)
    except AmbiguousTermError:
        raise
    except UnknownTermError as not_an_area:
        try:
            return parse_country(value, field=field)
        except AmbiguousTermError:
            raise
        except UnknownTermError as not_a_country:
            if not_an_area.suggestions or not not_a_country.suggestions:
                raise not_an_area from None
            raise not_a_country from None


@cache
def _alpha2() -> Mapping[str, str]:
    return {c.alpha2: c.alpha3 for c in countries().values()}


def _country_code(value: str) -> str | None:
    code = value.strip().upper()
    if code in countries():
        return code
    return _alpha2().get(code) if len(code) == 2 else None


def parse_country(value: object, *, field: str = "country") -> str:
    """Alpha-3 code of a country given as an alpha-3 or alpha-2 code (case-insensitive), or by its name in
    English, French or Spanish (``Sénégal``, ``Alemania``; accents aside)."""
    table = countries()
    if isinstance(value, str):
        code = _country_code(value)
        if code is not None:
            return code

        def named(c: str) -> str:
            return f"{c} ({table[c].name})"

        if (by_name := _by_label(field, value, "country", named)) is not None:
            return by_name
        by_code = closest(value.strip().upper(), table, n=2)
        suggestions = list(dict.fromkeys(_spelt_like("country", value, n=2) + by_code))[:3]
        raise UnknownTermError(field, value, [named(s) for s in suggestions], kind="country", codes=suggestions)
    raise UnknownTermError(field, value)


def parse_language(value: object, *, field: str = "language") -> str:
    """ISO 639-1 code of a language given as a code or a name in English, French or Spanish (``"French"``,
    ``"français"``, ``"francés"`` → ``"fr"``)."""
    table = languages()
    if isinstance(value, str):
        code = value.strip().lower()
        if code in table:
            return code

        def named(c: str) -> str:
            return f"{c} ({table[c].name})"

        if (by_name := _by_label(field, value, "language", named)) is not None:
            return by_name
        by_spelling = _spelt_like("language", value, n=2)
        by_spelling += [c for c in closest(code, table, n=2) if c not in by_spelling]
        suggestions = _suggestions("language", value, by_spelling[:3])
        raise UnknownTermError(field, value, [named(s) for s in suggestions], kind="language", codes=suggestions)
    raise UnknownTermError(field, value)


def parse_target(value: object, *, field: str = "target") -> int:
    """A KMGBF target number 1..23 (``"T3"`` and ``"3"`` are accepted too, and its title in English, French
    or Spanish: ``"Espèces exotiques envahissantes"`` is 6)."""
    hint = "KMGBF targets are numbered 1 to 23"
    if isinstance(value, str):
        text = value.strip().upper().removeprefix("T")
        if text.isdigit():
            value = int(text)
        else:

            def named(code: str) -> str:
                return f"{code} ({targets()[int(code)].title})"

            if (by_title := _by_label(field, value, "target", named)) is not None:
                return int(by_title)
            near = _spelt_like("target", value)
            raise UnknownTermError(field, value, [named(c) for c in near], hint=hint, kind="target", codes=near)
    if isinstance(value, int) and not isinstance(value, bool) and value in targets():
        return value
    raise UnknownTermError(field, value, hint=hint)


def parse_choice(field: str, value: object, choices: Iterable[str], *, kind: str | None = None) -> str:
    """Canonical spelling of ``value`` among ``choices`` (statuses, visibilities...); with ``kind``, a
    vocabulary of :data:`DATA_LABEL_KINDS`, its labels in every language are accepted too."""
    return _parse_choice(field, value, choices, kind=kind)


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


@cache
def _label_index(kind: str) -> Mapping[str, tuple[str, ...]]:
    """Every label of a kind in every language of :data:`LABEL_LANGUAGES` (folded: see ``_fold``) mapped to the
    codes it names; for countries and languages also their ISO English names."""
    names: dict[str, list[str]] = {}

    def add(text: str, code: str) -> None:
        codes = names.setdefault(_fold(text), [])
        if code not in codes:
            codes.append(code)

    if kind == "country":
        for country in countries().values():
            add(country.name, country.alpha3)
            for language in LABEL_LANGUAGES:
                add(label("country", country.alpha3, language), country.alpha3)
    elif kind == "language":
        for lang in languages().values():
            add(lang.name, lang.code)
            for language in LABEL_LANGUAGES:
                add(label("language", lang.code, language), lang.code)
    else:
        for code, by_language in _label_table()[kind].items():
            for text in by_language.values():
                add(text, code)
    return {text: tuple(codes) for text, codes in names.items()}


def codes_for_label(kind: str, text: str) -> tuple[str, ...]:
    """The codes of a kind whose label, in any language of the labels, is ``text`` (case, accents, apostrophe
    style, hyphens and spacing aside): one code, none, or several when the label is ambiguous."""
    return _label_index(kind).get(_fold(text), ())


def code_for_label(kind: str, text: str) -> str | None:
    """The code of a kind whose label, in any language of the labels, is ``text``; ``None`` when no code or
    several codes have that label (see :func:`codes_for_label`)."""
    codes = codes_for_label(kind, text)
    return codes[0] if len(codes) == 1 else None
