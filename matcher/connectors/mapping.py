"""From a source's record to Pollinate's: field paths, language strings, thesaurus terms and vocabularies.

A mapping reads a raw source record (a JSON object, or a CSV row) through a table ``Pollinate field -> path``
(dotted: ``organization.name``, ``header.identifier``, ``websites.0.url``) and returns the raw values of an
interchange record (``matcher.records.interchange``), which then validates them like any import. On the way:

- a *language string* (``{"en": "...", "fr": "..."}``, the clearing-house's ``lstring``) becomes its text in
  the definition's language, else English, else its first language;
- a *thesaurus term* (``{"identifier": "..."}``, the clearing-house's ``ETerm``) becomes its identifier;
- vocabulary fields go through :class:`Vocabulary`: the definition's own table first, then the built-in ones
  (Aichi targets to KMGBF targets, country names and ISO alpha-2 to alpha-3).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import babel
import pycountry

from matcher.connectors.definition import ConnectorDefinition
from models import vocabularies as vocab
from models.orm import EXTERNAL_ID_LEN

# Pollinate's own correspondence from the Aichi Biodiversity Targets (2011-2020) to the KMGBF targets that carry
# their subject forward (decision 15/4). Not an official CBD table: each Aichi target maps to the KMGBF targets
# whose subject it names, so that a Bio-Bridge request tagged with Aichi targets is found by KMGBF filters.
# The identifiers are the clearing-house thesaurus's (AICHI-TARGETS domain: "AICHI-TARGET-01" ... "-20";
# scbd/clearing-house-documentation, swagger/json/thesaurus/resource/aichi-targets.json).
AICHI_TO_KMGBF: Mapping[int, tuple[int, ...]] = {
    1: (21,),  # awareness of biodiversity values -> knowledge, education
    2: (14,),  # values integrated into planning and accounts -> mainstreaming
    3: (18,),  # harmful incentives removed -> incentives
    4: (15, 16),  # sustainable production and consumption -> business disclosure, consumption
    5: (1, 2),  # loss of habitats halved -> spatial planning, restoration
    6: (5,),  # sustainable fisheries -> sustainable harvest
    7: (10,),  # sustainable agriculture, aquaculture, forestry -> productive areas
    8: (7,),  # pollution -> pollution
    9: (6,),  # invasive alien species -> invasive alien species
    10: (8,),  # ecosystems vulnerable to climate change -> climate change
    11: (3,),  # protected areas -> 30x30
    12: (4,),  # extinctions prevented -> species recovery
    13: (4,),  # genetic diversity of cultivated and domesticated species -> genetic diversity
    14: (11,),  # ecosystem services -> nature's contributions
    15: (2, 8),  # resilience, restoration, carbon stocks -> restoration, climate change
    16: (13,),  # Nagoya Protocol -> access and benefit-sharing
    17: (14,),  # NBSAPs -> integration into policies and planning
    18: (22,),  # traditional knowledge -> participation of IPLCs
    19: (20, 21),  # knowledge, science and technology -> capacity, knowledge
    20: (19,),  # resource mobilisation -> financial resources
}
_AICHI = re.compile(r"^(?:AICHI[-_ ]?(?:TARGET)?[-_ ]?|ABT[-_ ]?)0*(\d{1,2})$", re.IGNORECASE)
_GBF = re.compile(r"^(?:GBF[-_ ]?(?:TARGET)?[-_ ]?|KMGBF[-_ ]?(?:T|TARGET)?[-_ ]?|T)0*(\d{1,2})$", re.IGNORECASE)
_EXTERNAL_ID = re.compile(r"^[\w.:\-]+$")
LIST_FIELDS = frozenset({"targets", "assistance_types", "languages", "regions_served", "countries_served"})


class MappingError(ValueError):
    """A source value that cannot be mapped (the record is reported invalid with this reason)."""


def get_path(record: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``); None where any step is missing."""
    value = record
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            value = value[index] if index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _plain(value: Any, language: str) -> Any:
    """Language strings to text, thesaurus terms to identifiers (lists element-wise)."""
    if isinstance(value, list):
        return [_plain(v, language) for v in value if v is not None]
    if isinstance(value, Mapping):
        if "identifier" in value:
            return value["identifier"]
        texts = {k: v for k, v in value.items() if isinstance(v, str) and len(k) == 2}
        if texts:
            return texts.get(language) or texts.get("en") or next(iter(texts.values()))
    return value


def _flatten(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(value)
        elif value is not None and value != "":
            out.append(value)
    return out


@cache
def _country_names() -> Mapping[str, str]:
    """Folded country names (English, French, Spanish; CLDR and ISO 3166) to alpha-3."""
    alpha3 = {c.alpha2: code for code, c in vocab.countries().items()}
    names: dict[str, str] = {}
    for locale in ("en", "fr", "es"):
        for alpha2, name in babel.Locale(locale).territories.items():
            if alpha2 in alpha3:
                names[name.casefold()] = alpha3[alpha2]
    for country in pycountry.countries:
        if country.alpha_3 in vocab.countries():
            for attr in ("name", "official_name", "common_name"):
                name = getattr(country, attr, None)
                if name:
                    names.setdefault(name.casefold(), country.alpha_3)
    return names


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A definition's vocabulary tables (keys folded) with the built-in ones behind them."""

    targets: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    countries: Mapping[str, str] = field(default_factory=dict)
    assistance_types: Mapping[str, str] = field(default_factory=dict)
    org_types: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: ConnectorDefinition, *, builtin: Vocabulary | None = None) -> Vocabulary:
        own = definition.vocabularies
        base = builtin or cls()
        return cls(
            targets={**base.targets, **{k.casefold(): tuple(v) for k, v in own.targets.items()}},
            countries={**base.countries, **{k.casefold(): v for k, v in own.countries.items()}},
            assistance_types={
                **base.assistance_types,
                **{k.casefold(): v for k, v in own.assistance_types.items()},
            },
            org_types={**base.org_types, **{k.casefold(): v for k, v in own.org_types.items()}},
        )

    def target_numbers(self, values: Iterable[Any]) -> list[int]:
        """KMGBF target numbers of source values: the table, ``AICHI-TARGET-nn``, ``GBF-TARGET-nn``/``Tn``/n."""
        out: list[int] = []
        for value in values:
            text = str(value).strip()
            if text.casefold() in self.targets:
                out.extend(self.targets[text.casefold()])
            elif (aichi := _AICHI.match(text)) and int(aichi.group(1)) in AICHI_TO_KMGBF:
                out.extend(AICHI_TO_KMGBF[int(aichi.group(1))])
            elif gbf := _GBF.match(text):
                out.append(int(gbf.group(1)))
            elif text.isdigit():
                out.append(int(text))
            else:
                raise MappingError(f"target {text!r} is neither a KMGBF nor an Aichi target nor in the table")
        return list(dict.fromkeys(out))

    def country(self, value: Any) -> str:
        """Alpha-3 code of a country given as alpha-3, alpha-2 (any case), a name, or in the table."""
        text = str(value).strip()
        if text.casefold() in self.countries:
            return self.countries[text.casefold()]
        try:
            return vocab.parse_country(text)
        except vocab.UnknownTermError:
            pass
        found = _country_names().get(text.casefold())
        if found is None:
            raise MappingError(f"country {text!r} is not a country code or name Pollinate knows")
        return found

    def assistance_type(self, value: Any) -> str:
        text = str(value).strip()
        return self.assistance_types.get(text.casefold(), text)

    def org_type(self, value: Any) -> str:
        text = str(value).strip()
        return self.org_types.get(text.casefold(), text)


def external_id(connector: str, source_id: str) -> str:
    """The Pollinate external id of a harvested record: ``<connector>:<source id>``, or the connector and a hash
    of the source id when that is too long or has characters external ids do not allow."""
    plain = f"{connector}:{source_id}"
    if len(plain) <= EXTERNAL_ID_LEN and _EXTERNAL_ID.match(plain):
        return plain
    digest = hashlib.sha256(source_id.encode("utf-8")).hexdigest()
    prefix = connector[: EXTERNAL_ID_LEN - 42]
    return f"{prefix}:h{digest[:40]}"


def content_hash(values: Mapping[str, Any]) -> str:
    """A stable hash of a mapped record (unchanged records hash alike, whatever the source's key order)."""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class FieldTable:
    """``Pollinate field -> source path(s)``; several paths are joined (texts) or concatenated (lists)."""

    fields: Mapping[str, str | tuple[str, ...]]
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def read(self, record: Mapping[str, Any], language: str) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.defaults)
        for name, paths in self.fields.items():
            values = [
                _plain(get_path(record, p), language) for p in ((paths,) if isinstance(paths, str) else paths)
            ]
            if name in LIST_FIELDS:
                items = _flatten(_as_list(v) if isinstance(v, str) else v for v in values)
                if items:
                    out[name] = items
            else:
                texts = [v for v in values if v is not None and v != "" and v != []]
                if not texts:
                    continue
                if len(texts) == 1:
                    out[name] = texts[0]
                else:
                    out[name] = "\n\n".join(str(t).strip() for t in texts)
        return out


def normalise(kind: str, values: dict[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """Map vocabulary fields through ``vocabulary`` (raises MappingError for a value it cannot place)."""
    out = dict(values)
    if "targets" in out:
        out["targets"] = vocabulary.target_numbers(_as_list(out["targets"]))
    if "assistance_types" in out:
        out["assistance_types"] = [vocabulary.assistance_type(v) for v in _as_list(out["assistance_types"])]
    if "countries_served" in out:
        out["countries_served"] = [vocabulary.country(v) for v in _as_list(out["countries_served"])]
    for key in ("party", "country"):
        if key in out:
            out[key] = vocabulary.country(out[key])
    if "org_type" in out:
        out["org_type"] = vocabulary.org_type(out["org_type"])
    if kind == "offers" and "languages" in out:
        out["languages"] = _as_list(out["languages"])
    return out


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and ";" in value:
        return [v.strip() for v in value.split(";") if v.strip()]
    return [value]
