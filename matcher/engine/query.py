"""What the engine ranks providers for: a need (stored or ad hoc) and the hard filters on offers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NeedQuery:
    """A need as the ranker sees it. Every field except the text is optional and, when given, is a ranking
    signal (not a filter): targets, party (geography), assistance types and language.

    Attributes:
        title: short title (may be empty for ad-hoc text queries).
        description: the problem in the Party's words.
        targets: KMGBF target numbers.
        assistance_types: kinds of help wanted.
        language: ISO 639-1 code of the text (detected when ``None``).
        party: ISO 3166-1 alpha-3 country of the need.
        organisation_id: the requesting organisation; it is never suggested for its own need.
        need_id: database id when the need is stored.
        external_id: the need's external id, when it has one.
    """

    title: str
    description: str
    targets: tuple[int, ...] = ()
    assistance_types: tuple[str, ...] = ()
    language: str | None = None
    party: str | None = None
    organisation_id: int | None = None
    need_id: int | None = None
    external_id: str | None = None


FILTER_NAMES = (
    "targets",
    "serves",
    "assistance_types",
    "languages",
    "costs",
    "org_types",
    "exclude_organisations",
)


@dataclass(frozen=True, slots=True)
class MatchFilters:
    """Hard filters: an offer that fails one is never returned. Empty sets mean "no constraint".

    Offer status and capacity are not filters but eligibility rules of the ranking settings (excluded or
    down-weighted, each with a reported reason).

    Geography (``serves``): an offer qualifies for an area or country when it serves Global, that area, the
    region containing it, the country itself, or (for an area) a sub-region or country inside it. ``Global``
    itself selects the providers that serve every region.
    """

    targets: frozenset[int] = frozenset()
    serves: frozenset[str] = frozenset()
    assistance_types: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    costs: frozenset[str] = frozenset()
    org_types: frozenset[str] = frozenset()
    exclude_organisations: frozenset[int] = frozenset()
