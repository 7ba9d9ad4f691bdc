"""Plain-language explanations: why an offer was suggested for a need.

Each explanation names the shared KMGBF targets (with titles), why the geography fits (or does not), the
matching assistance types and languages, any eligibility problem, and quotes the one or two sentences of the
offer most similar to the need, so a reviewer sees the evidence rather than a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matcher.engine.query import NeedQuery
from models import vocabularies as vocab
from models.repositories import OfferSnapshot


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an offer was suggested.

    Attributes:
        summary: one sentence.
        reasons: one line per signal (targets, geography, assistance, language, availability).
        evidence: the offer sentences most similar to the need.
    """

    summary: str
    reasons: tuple[str, ...]
    evidence: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """Everything as one paragraph."""
        quoted = " ".join(f"“{s}”" for s in self.evidence)
        return " ".join([self.summary, *self.reasons, *([f"Evidence: {quoted}"] if quoted else [])])

    def as_json(self) -> dict[str, Any]:
        """The stored and served form (suggested matches, notifications)."""
        return {
            "summary": self.summary,
            "reasons": list(self.reasons),
            "evidence": list(self.evidence),
            "text": self.text(),
        }


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def targets_reason(need: NeedQuery, offer: OfferSnapshot) -> str:
    """Shared targets, with their titles."""
    titles = vocab.targets()
    shared = sorted(set(need.targets) & set(offer.targets))
    if shared:
        named = _join([f"{t} ({titles[t].title})" for t in shared])
        return f"Shares KMGBF target{'s' if len(shared) > 1 else ''} {named}."
    if need.targets:
        return f"Shares no KMGBF target with the need (offer works on {_join([str(t) for t in offer.targets])})."
    return f"Works on KMGBF targets {_join([str(t) for t in offer.targets])}."


def geography_reason(need: NeedQuery, offer: OfferSnapshot) -> str:
    """Why the geography fits, from the most to the least specific reason."""
    served = _join(list(offer.regions_served) + list(offer.countries_served)) or "nowhere listed"
    if not need.party:
        return f"Serves {served}."
    country = vocab.countries()[need.party]
    if need.party in offer.countries_served:
        return f"Serves {country.name} directly."
    if country.sub_region in offer.regions_served:
        return f"Serves {country.sub_region}, {country.name}'s sub-region."
    if country.region in offer.regions_served:
        return f"Serves {country.region}, {country.name}'s region."
    if vocab.GLOBAL in offer.regions_served:
        return "Serves every region (Global)."
    return f"Does not list {country.name} or its region (serves {served})."


def assistance_reason(need: NeedQuery, offer: OfferSnapshot) -> str:
    """Which requested kinds of help the offer provides."""

    def label(t: str) -> str:
        return vocab.ASSISTANCE_LABELS.get(t, t.replace("_", " "))

    shared = [t for t in offer.assistance_types if t in set(need.assistance_types)]
    if shared:
        return f"Provides {_join([label(t) for t in shared])}, as requested."
    if need.assistance_types:
        return (
            f"Provides {_join([label(t) for t in offer.assistance_types])}"
            f" (requested: {_join([label(t) for t in need.assistance_types])})."
        )
    return f"Provides {_join([label(t) for t in offer.assistance_types])}."


def language_reason(need: NeedQuery, offer: OfferSnapshot) -> str | None:
    """Whether the provider works in the need's language."""
    if not need.language:
        return None
    names = vocab.languages()
    name = names[need.language].name if need.language in names else need.language
    if need.language in offer.languages:
        return f"Works in {name}, the language of the need."
    return f"Does not list {name} among its working languages ({_join(list(offer.languages))})."


def availability_reason(offer: OfferSnapshot, penalised: bool, stuffing: float = 0.0) -> str | None:
    """Eligibility problems of a down-weighted offer, and keyword stuffing."""
    if not penalised:
        return None
    problems = []
    if stuffing > 0:
        problems.append("description reads like a list of keywords")
    if offer.status != "active":
        problems.append(f"offer is {offer.status}")
    if offer.capacity is not None and offer.capacity <= 0:
        problems.append("provider has no capacity left")
    return f"Ranked lower because the {_join(problems) or 'offer is not available'}."


def explain(
    need: NeedQuery,
    offer: OfferSnapshot,
    *,
    evidence: tuple[str, ...] = (),
    penalised: bool = False,
    stuffing: float = 0.0,
) -> Explanation:
    """The explanation of one suggestion."""
    reasons = [targets_reason(need, offer), geography_reason(need, offer), assistance_reason(need, offer)]
    for optional in (language_reason(need, offer), availability_reason(offer, penalised, stuffing)):
        if optional:
            reasons.append(optional)
    summary = f"{offer.organisation} offers “{offer.title}”."
    return Explanation(summary=summary, reasons=tuple(reasons), evidence=evidence)
