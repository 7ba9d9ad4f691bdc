"""The CBD Bio-Bridge Initiative's records, as the clearing-house publishes them, both ways: read by the built-in
mappings ``biobridge-request``, ``biobridge-profile`` and ``biobridge-opportunity``, and written by Pollinate's
feed in its Bio-Bridge shape (``/v1/feeds/needs?format=biobridge``), so a partner can harvest Pollinate with the
same connector.

Where the names come from (public repositories of the CBD Secretariat, ``scbd/*``):

- the documents' fields are those the clearing-house's record views read: ``scbd/chm.cbd.int``,
  ``app/directives/formats/views/bbi-request.html`` (``title``, ``problem``, ``country``, ``coverage``,
  ``assistanceTypes``, ``addressedPriorities``, ``objectives``, ``aichiTargets``, ``cbdSubjects``,
  ``startDate``/``endDate``, ``websites``, the ``organization`` and ``contact`` references),
  ``.../bbi-profile.html`` (``title``, ``coverageArea``, ``assistanceTypes``, ``suggestedExpertise``,
  ``collaborationAreas``, ``recentExperiance`` [sic], ``websites``) and ``.../bbi-opportunity.html``
  (``title``, ``description``, ``assistanceTypes``, ``areasBenifited`` [sic], ``eligibility``,
  ``aichiTargets``, ``applicationDeadline``, ``startDate``/``endDate``); every document has
  ``header.identifier``, ``header.schema`` (``bbiRequest``, ``bbiProfile``, ``bbiOpportunity``) and
  ``header.languages``; a record's page is ``database/record/<identifier>`` (the views' own links);
- texts are language strings (``{"en": "...", "fr": "..."}``) and vocabulary values thesaurus terms
  (``{"identifier": "..."}``): countries by lower-case ISO alpha-2 (``scbd/clearing-house-documentation``,
  ``swagger/json/thesaurus/general/countries.json``: ``"identifier": "ad"``), Aichi targets as
  ``AICHI-TARGET-01`` ... ``-20`` (``swagger/json/thesaurus/resource/aichi-targets.json``), KMGBF targets as
  ``GBF-TARGET-01`` ... ``-23`` (``swagger/json/thesaurus/national-target/gbf-targets.json``).

The ``organization`` reference is read expanded, as the views load it (``name``, ``country``,
``organizationType``, ``websites``). The identifiers of the Bio-Bridge assistance-type and organisation-type
thesauri are not in those repositories: terms whose identifier is a Pollinate code (``training``, ``ngo``, as
Pollinate's feed writes them) are understood, and a definition maps the others in its
``[vocabularies.assistance_types]`` and ``[vocabularies.org_types]`` tables (an unmapped one makes the record
invalid, with the identifier in the reason); so do the clearing-house's region terms in a coverage, which
Pollinate reads as countries (alpha-2 terms) or as its own areas (``Global``, M49 regions). Pollinate's feed
also writes ``gbfTargets`` (KMGBF targets as ``GBF-TARGET-nn`` terms) next to the Bio-Bridge fields, which have
only Aichi targets, and ``pollinateStatus`` (a need's status).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from matcher.connectors.mapping import FieldTable, get_path
from models import vocabularies as vocab
from models.orm import Need, Offer

RECORD_PAGE = "https://chm.cbd.int/database/record/{id}"


def _term(code: str) -> dict[str, str]:
    return {"identifier": code}


def _alpha2(alpha3: str) -> str:
    return vocab.countries()[alpha3].alpha2.lower()


def _gbf(number: int) -> dict[str, str]:
    return _term(f"GBF-TARGET-{number:02d}")


def _first(raw: Mapping[str, Any], *paths: str) -> Any:
    for path in paths:
        value = get_path(raw, path)
        if value not in (None, "", []):
            return value
    return None


def finish_request(values: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """A Bio-Bridge request: the requesting organisation (or the government itself) and the targets."""
    out = dict(values)
    party = out.get("party")
    if "requesting_organisation" not in out:
        if isinstance(party, str) and party.upper() in _alpha2_table():
            out["requesting_organisation"] = f"Government of {_alpha2_table()[party.upper()]}"
        elif party is not None:
            out["requesting_organisation"] = f"Government of {party}"
    doc_language = _first(raw, "header.languages.0")
    if isinstance(doc_language, str) and "language" not in out:
        out["language"] = doc_language
    return out


def finish_profile(values: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """A Bio-Bridge provider profile (or opportunity): where it serves, from its coverage terms."""
    out = dict(values)
    coverage = out.pop("coverage", [])
    countries, areas = [], []
    for item in coverage if isinstance(coverage, list) else [coverage]:
        text = str(item).strip()
        if text.upper() in _alpha2_table() or text.upper() in vocab.countries():
            countries.append(text)
        else:
            areas.append(text)
    if countries:
        out.setdefault("countries_served", countries)
    out.setdefault("regions_served", areas or [vocab.GLOBAL])
    return out


def _alpha2_table() -> dict[str, str]:
    return {c.alpha2: c.name for c in vocab.countries().values()}


REQUEST_FIELDS = FieldTable(
    {
        "title": "title",
        "description": ("problem", "objectives", "addressedPriorities"),
        "party": "country",
        "requesting_organisation": "organization.name",
        "targets": ("aichiTargets", "gbfTargets"),
        "assistance_types": "assistanceTypes",
        "status": "pollinateStatus",
        "url": "url",
    }
)


def _provider_fields(*, description: tuple[str, ...], coverage: str) -> FieldTable:
    """A provider document's fields: profiles and opportunities differ only in where their description and
    their coverage are; the organisation, targets, assistance types and languages are read alike."""
    return FieldTable(
        {
            "title": "title",
            "description": description,
            "organisation": "organization.name",
            "org_type": "organization.organizationType",
            "country": "organization.country",
            "website": "organization.websites.0.url",
            "coverage": coverage,
            "targets": ("aichiTargets", "gbfTargets"),
            "assistance_types": "assistanceTypes",
            "languages": "header.languages",
            "url": "url",
        }
    )


PROFILE_FIELDS = _provider_fields(
    description=("suggestedExpertise", "collaborationAreas", "recentExperiance"), coverage="coverageArea"
)
OPPORTUNITY_FIELDS = _provider_fields(
    description=("description", "eligibility", "potentialOutcomes"), coverage="areasBenifited"
)

# ------------------------------------------------------------------------------------------ writing


def need_document(need: Need, *, url: str) -> dict[str, Any]:
    """A public need as a Bio-Bridge request for assistance (``bbiRequest``)."""
    lang = need.language
    return {
        "header": {
            "identifier": need.external_id or f"need-{need.id}",
            "schema": "bbiRequest",
            "languages": [lang],
        },
        "title": {lang: need.title},
        "problem": {lang: need.description},
        "country": _term(_alpha2(need.party)),
        "organization": {
            "name": {lang: need.organisation.name},
            "country": _term(_alpha2(need.organisation.country)),
        },
        "assistanceTypes": [_term(a) for a in need.assistance_types],
        "gbfTargets": [_gbf(t) for t in need.targets],
        "pollinateStatus": need.status,
        "url": url,
        "updatedOn": _iso(need.updated_at),
    }


def offer_document(offer: Offer, *, url: str) -> dict[str, Any]:
    """An active offer as a Bio-Bridge provider profile (``bbiProfile``), its organisation expanded."""
    org = offer.organisation
    lang = offer.languages[0] if offer.languages else "en"
    coverage = [_term(_alpha2(c)) for c in offer.countries_served] + [_term(r) for r in offer.regions_served]
    document: dict[str, Any] = {
        "header": {
            "identifier": offer.external_id or f"offer-{offer.id}",
            "schema": "bbiProfile",
            "languages": offer.languages,
        },
        "title": {lang: offer.title},
        "suggestedExpertise": {lang: offer.description},
        "organization": {
            "name": {lang: org.name},
            "country": _term(_alpha2(org.country)),
            "organizationType": _term(org.org_type),
            "websites": [{"url": org.website, "name": "website"}] if org.website else [],
        },
        "coverageArea": coverage,
        "assistanceTypes": [_term(a) for a in offer.assistance_types],
        "gbfTargets": [_gbf(t) for t in offer.targets],
        "url": url,
        "updatedOn": _iso(offer.updated_at),
    }
    return document


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    return str(value)


__all__ = [
    "OPPORTUNITY_FIELDS",
    "PROFILE_FIELDS",
    "RECORD_PAGE",
    "REQUEST_FIELDS",
    "finish_profile",
    "finish_request",
    "need_document",
    "offer_document",
]
