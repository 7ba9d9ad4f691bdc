"""The countries and regions a text names, in English, French or Spanish (a gazetteer, not a model).

Names come from the vocabularies Pollinate already has: every country's name in the Unicode CLDR (through
Babel) in the three languages plus its ISO name, and the M49 regions and sub-regions with their labels in
``models/data/labels.csv``. Matching is on whole words and case-sensitive — names are capitalised, and ``Chad``
or ``Turkey`` written in lower case are usually something else — and the longest name wins where names overlap
(``Papua New Guinea`` is not also ``Guinea``; ``Afrique de l'Ouest`` is not also ``Afrique``). Synonyms of the
vocabulary table are left out: several are ordinary words in another language (``lac`` is French for lake).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from models import vocabularies as vocab

_LANGUAGES = ("en", "fr", "es")


@dataclass(frozen=True, slots=True)
class Place:
    """A place named in a text.

    Attributes:
        kind: ``country`` or ``region`` (an M49 region or sub-region).
        code: ISO 3166 alpha-3 for a country, the area's name for a region.
        region: the sub-region a country lies in; a region's own M49 region (itself for a top-level one).
        mention: the words of the text that named it.
    """

    kind: Literal["country", "region"]
    code: str
    region: str
    mention: str


@cache
def _names() -> dict[str, tuple[Literal["country", "region"], str]]:
    names: dict[str, tuple[Literal["country", "region"], str]] = {}
    for alpha3, country in vocab.countries().items():
        for lang in _LANGUAGES:
            names.setdefault(vocab.label("country", alpha3, lang), ("country", alpha3))
        names.setdefault(country.name, ("country", alpha3))
    for area, labels in vocab.data_labels("region").items():
        if area == vocab.GLOBAL:
            continue  # "worldwide" names no place
        for lang in _LANGUAGES:
            names.setdefault(labels[lang], ("region", area))
        names.setdefault(area, ("region", area))
    return names


@cache
def _pattern() -> re.Pattern[str]:
    alternatives = sorted(_names(), key=len, reverse=True)
    body = "|".join(re.escape(name) for name in alternatives)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


def places_in(text: str) -> list[Place]:
    """Each place the text names, once, in order of first mention."""
    seen: dict[tuple[str, str], Place] = {}
    for found in _pattern().finditer(text):
        kind, code = _names()[found.group(0)]
        if (kind, code) in seen:
            continue
        region = vocab.countries()[code].sub_region if kind == "country" else vocab.sub_regions().get(code, code)
        seen[(kind, code)] = Place(kind, code, region, found.group(0))
    return list(seen.values())
