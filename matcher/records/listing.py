"""The conditions that listings of needs and of offers share, gathered once.

The API's list routes and the web pages' browsing turn their parameters into one :class:`ListingFilters`;
``matcher.records.needs`` and ``matcher.records.offers`` turn it into their repository's listing with the
caller's visibility, each with its own reading of the geography (a need's party is inside the area; an offer
serves it) and, for offers, their own conditions (organisation type, organisation).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ListingFilters:
    """What a listing of needs or offers is filtered by; every field is optional, several values of one field
    mean "any of them".

    Attributes:
        targets: KMGBF target numbers.
        region: a geographic area (Global, an M49 region or sub-region).
        country: an alpha-3 code.
        assistance_types: kinds of help.
        statuses: record statuses (a need's or an offer's).
        languages: ISO 639-1 codes (a need's language; the languages a provider works in).
        q: search text.
    """

    targets: tuple[int, ...] = ()
    region: str | None = None
    country: str | None = None
    assistance_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    q: str | None = None
