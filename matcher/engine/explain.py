"""Plain-language explanations: why an offer was suggested for a need.

Each explanation names the shared KMGBF targets (with titles), why the geography fits (or does not), the
matching assistance types and languages, any eligibility problem, and quotes the one or two sentences of the
offer most similar to the need, so a reviewer sees the evidence rather than a number.

Every sentence exists twice: as a :class:`Fact` (a code naming the statement and the vocabulary codes it is
about: ``Fact("geography.sub_region", {"country": "SEN", "area": "Western Africa"})``) and as its English text.
The facts are what a reader in another language is shown: the web pages render them with their own gettext
catalogues and vocabulary labels (``matcher/language/explanations.py``), since the engine knows no languages but
English. The English text is rendered from the facts here (:func:`english`), so the two never disagree.

Fact codes and their parameters (codes are vocabulary codes: target numbers, M49 area names, alpha-3
countries, assistance types, ISO 639-1 languages):

========================  ==========================================================================
summary ``offer``         ``organisation``, ``title``
summary ``offer.ranked``  ``rank``, ``organisation``, ``title`` (an alert to a provider)
summary ``saved_search``  ``query``, ``similarity`` (an alert for a saved search)
``targets.shared``        ``targets``: the shared targets
``targets.none_shared``   ``offer_targets``: the need has targets, the offer shares none
``targets.offer``         ``offer_targets``: the need names no target
``geography.serves``      ``areas``, ``countries``: what the offer serves (the need names no country)
``geography.country``     ``country``: the offer serves the need's country by name
``geography.sub_region``  ``country``, ``area``: ... its sub-region
``geography.region``      ``country``, ``area``: ... its region
``geography.global``      (none): the offer serves every region
``geography.outside``     ``country``, ``areas``, ``countries``: none of these
``assistance.shared``     ``types``: the requested types the offer provides
``assistance.other``      ``types``, ``requested``: the offer provides none of the requested types
``assistance.offer``      ``types``: the need requests no type
``language.shared``       ``language``: the offer works in the need's language
``language.missing``      ``language``, ``offer_languages``
``availability``          ``problems`` (``keyword_list``, ``inactive``, ``no_capacity``), ``status``
``alert.targets``         ``targets``: followed targets the need works on
``alert.area``            ``country``: the need's country is in a followed area
``alert.assistance``      ``types``: followed types the need asks for
========================  ==========================================================================

A new code needs its English sentence here and its translations in the web layer (a test there fails for a
code it cannot render).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from matcher.engine.query import NeedQuery
from models import vocabularies as vocab
from models.repositories import OfferSnapshot


@dataclass(frozen=True, slots=True)
class Fact:
    """One statement of an explanation as data, free of any language.

    Attributes:
        code: which statement (see the module docstring for the codes and their parameters).
        params: the values it is about, as JSON values (vocabulary codes, numbers, lists of them, the offer's
            own title and organisation name).
    """

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The stored form: ``{"code": ..., "params": {...}}``."""
        return {"code": self.code, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fact:
        """The fact of its stored form."""
        return cls(str(data["code"]), dict(data.get("params") or {}))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an offer was suggested.

    Attributes:
        summary: one sentence (English).
        reasons: one line per signal (targets, geography, assistance, language, availability), in English.
        evidence: the offer sentences most similar to the need (in the offer's own language).
        summary_fact: the summary as a :class:`Fact` (``None`` for explanations stored before facts existed).
        reason_facts: the reasons as facts, one per line of ``reasons`` and in the same order.
    """

    summary: str
    reasons: tuple[str, ...]
    evidence: tuple[str, ...] = field(default=())
    summary_fact: Fact | None = None
    reason_facts: tuple[Fact, ...] = field(default=())

    def text(self) -> str:
        """Everything as one paragraph."""
        quoted = " ".join(f"“{s}”" for s in self.evidence)
        return " ".join([self.summary, *self.reasons, *([f"Evidence: {quoted}"] if quoted else [])])

    def as_json(self) -> dict[str, Any]:
        """The stored and served form (suggested matches, notifications); ``facts`` when there are facts."""
        out: dict[str, Any] = {
            "summary": self.summary,
            "reasons": list(self.reasons),
            "evidence": list(self.evidence),
            "text": self.text(),
        }
        if self.summary_fact is not None:
            out["facts"] = {
                "summary": self.summary_fact.as_json(),
                "reasons": [f.as_json() for f in self.reason_facts],
            }
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Explanation:
        """The explanation of its stored form (one stored without facts has none)."""
        facts = data.get("facts")
        return cls(
            summary=str(data.get("summary", "")),
            reasons=tuple(str(r) for r in data.get("reasons", ())),
            evidence=tuple(str(e) for e in data.get("evidence", ())),
            summary_fact=Fact.from_json(facts["summary"]) if facts else None,
            reason_facts=tuple(Fact.from_json(f) for f in facts["reasons"]) if facts else (),
        )

    @classmethod
    def of_facts(cls, summary: Fact, reasons: Sequence[Fact], evidence: tuple[str, ...] = ()) -> Explanation:
        """The explanation of these facts, with its English text."""
        return cls(
            summary=english(summary),
            reasons=tuple(english(f) for f in reasons),
            evidence=evidence,
            summary_fact=summary,
            reason_facts=tuple(reasons),
        )


# ------------------------------------------------------------------------------------------ the facts


def targets_fact(need: NeedQuery, offer: OfferSnapshot) -> Fact:
    """Shared targets (or the offer's, when none is shared)."""
    shared = sorted(set(need.targets) & set(offer.targets))
    if shared:
        return Fact("targets.shared", {"targets": shared})
    if need.targets:
        return Fact("targets.none_shared", {"offer_targets": list(offer.targets)})
    return Fact("targets.offer", {"offer_targets": list(offer.targets)})


def geography_fact(need: NeedQuery, offer: OfferSnapshot) -> Fact:
    """Why the geography fits, from the most to the least specific reason."""
    served = {"areas": list(offer.regions_served), "countries": list(offer.countries_served)}
    if not need.party:
        return Fact("geography.serves", served)
    country = vocab.countries()[need.party]
    if need.party in offer.countries_served:
        return Fact("geography.country", {"country": need.party})
    if country.sub_region in offer.regions_served:
        return Fact("geography.sub_region", {"country": need.party, "area": country.sub_region})
    if country.region in offer.regions_served:
        return Fact("geography.region", {"country": need.party, "area": country.region})
    if vocab.GLOBAL in offer.regions_served:
        return Fact("geography.global")
    return Fact("geography.outside", {"country": need.party, **served})


def assistance_fact(need: NeedQuery, offer: OfferSnapshot) -> Fact:
    """Which requested kinds of help the offer provides."""
    shared = [t for t in offer.assistance_types if t in set(need.assistance_types)]
    if shared:
        return Fact("assistance.shared", {"types": shared})
    if need.assistance_types:
        return Fact(
            "assistance.other", {"types": list(offer.assistance_types), "requested": list(need.assistance_types)}
        )
    return Fact("assistance.offer", {"types": list(offer.assistance_types)})


def language_fact(need: NeedQuery, offer: OfferSnapshot) -> Fact | None:
    """Whether the provider works in the need's language."""
    if not need.language:
        return None
    if need.language in offer.languages:
        return Fact("language.shared", {"language": need.language})
    return Fact("language.missing", {"language": need.language, "offer_languages": list(offer.languages)})


def availability_fact(offer: OfferSnapshot, penalised: bool, stuffing: float = 0.0) -> Fact | None:
    """Eligibility problems of a down-weighted offer, and keyword stuffing."""
    if not penalised:
        return None
    problems = []
    if stuffing > 0:
        problems.append("keyword_list")
    if offer.status != "active":
        problems.append("inactive")
    if offer.capacity is not None and offer.capacity <= 0:
        problems.append("no_capacity")
    return Fact("availability", {"problems": problems, "status": offer.status})


def explain(
    need: NeedQuery,
    offer: OfferSnapshot,
    *,
    evidence: tuple[str, ...] = (),
    penalised: bool = False,
    stuffing: float = 0.0,
) -> Explanation:
    """The explanation of one suggestion."""
    reasons = [targets_fact(need, offer), geography_fact(need, offer), assistance_fact(need, offer)]
    for optional in (language_fact(need, offer), availability_fact(offer, penalised, stuffing)):
        if optional:
            reasons.append(optional)
    summary = Fact("offer", {"organisation": offer.organisation, "title": offer.title})
    return Explanation.of_facts(summary, reasons, evidence)


# ------------------------------------------------------------------------------------- English text


def _join(items: Sequence[object]) -> str:
    texts = [str(i) for i in items]
    if len(texts) <= 1:
        return "".join(texts)
    return ", ".join(texts[:-1]) + " and " + texts[-1]


def _country(code: str) -> str:
    return vocab.countries()[code].name


def _assistance(codes: Sequence[str]) -> str:
    return _join([vocab.ASSISTANCE_LABELS.get(t, t.replace("_", " ")) for t in codes])


def _language(code: str) -> str:
    names = vocab.languages()
    return names[code].name if code in names else code


def _served(p: Mapping[str, Any]) -> str:
    return _join([*p["areas"], *p["countries"]]) or "nowhere listed"


def _shared_targets(p: Mapping[str, Any]) -> str:
    titles = vocab.targets()
    shared = p["targets"]
    named = _join([f"{t} ({titles[t].title})" for t in shared])
    return f"Shares KMGBF target{'s' if len(shared) > 1 else ''} {named}."


_PROBLEMS: Final[Mapping[str, Callable[[Mapping[str, Any]], str]]] = {
    "keyword_list": lambda p: "description reads like a list of keywords",
    "inactive": lambda p: f"offer is {p['status']}",
    "no_capacity": lambda p: "provider has no capacity left",
}


def _availability(p: Mapping[str, Any]) -> str:
    problems = [_PROBLEMS[code](p) for code in p["problems"]]
    return f"Ranked lower because the {_join(problems) or 'offer is not available'}."


def _alert_targets(p: Mapping[str, Any]) -> str:
    shared = p["targets"]
    return "Works on KMGBF target" + ("s " if len(shared) > 1 else " ") + ", ".join(map(str, shared)) + "."


ENGLISH: Final[Mapping[str, Callable[[Mapping[str, Any]], str]]] = {
    "offer": lambda p: f"{p['organisation']} offers “{p['title']}”.",
    "offer.ranked": lambda p: (
        f"Your offer would be provider #{p['rank']} for this need. {p['organisation']} offers “{p['title']}”."
    ),
    "saved_search": lambda p: f"Close to your saved search “{p['query']}” (similarity {p['similarity']:.2f}).",
    "targets.shared": _shared_targets,
    "targets.none_shared": lambda p: (
        f"Shares no KMGBF target with the need (offer works on {_join(p['offer_targets'])})."
    ),
    "targets.offer": lambda p: f"Works on KMGBF targets {_join(p['offer_targets'])}.",
    "geography.serves": lambda p: f"Serves {_served(p)}.",
    "geography.country": lambda p: f"Serves {_country(p['country'])} directly.",
    "geography.sub_region": lambda p: f"Serves {p['area']}, {_country(p['country'])}'s sub-region.",
    "geography.region": lambda p: f"Serves {p['area']}, {_country(p['country'])}'s region.",
    "geography.global": lambda p: "Serves every region (Global).",
    "geography.outside": lambda p: f"Does not list {_country(p['country'])} or its region (serves {_served(p)}).",
    "assistance.shared": lambda p: f"Provides {_assistance(p['types'])}, as requested.",
    "assistance.other": lambda p: (
        f"Provides {_assistance(p['types'])} (requested: {_assistance(p['requested'])})."
    ),
    "assistance.offer": lambda p: f"Provides {_assistance(p['types'])}.",
    "language.shared": lambda p: f"Works in {_language(p['language'])}, the language of the need.",
    "language.missing": lambda p: (
        f"Does not list {_language(p['language'])} among its working languages ({_join(p['offer_languages'])})."
    ),
    "availability": _availability,
    "alert.targets": _alert_targets,
    "alert.area": lambda p: f"{_country(p['country'])} is in the area you follow.",
    "alert.assistance": lambda p: (
        "Asks for " + ", ".join(vocab.ASSISTANCE_LABELS.get(t, t) for t in p["types"]) + "."
    ),
}
"""The English sentence of each fact code."""


def english(fact: Fact) -> str:
    """The English sentence of a fact (what ``Explanation.summary`` and ``reasons`` hold)."""
    return ENGLISH[fact.code](fact.params)
