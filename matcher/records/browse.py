"""Browsing the catalogue, as the web pages do: filters, facet counts, search ranked by the engine, the provider
directory and the catalogue's counts.

The same services and access rules as the API (``matcher.offers``, ``matcher.needs``, ``matcher.access``),
with the rule of the public pages: anonymous visitors see public needs, active offers and the providers.

- **Facets** are counted the usual way for multi-select filters: a value's count is the number of records
  matching every *other* filter plus that value, i.e. what choosing it would show (one GROUP BY per facet).
- **Search.** Without a query, records are listed newest first. With one, offers are ranked by the matching
  engine as if the query were an ad-hoc need with the selected filters as hard filters (the selected targets,
  country and assistance types are its ranking signals too), down to :data:`SEARCH_DEPTH` offers. Needs are
  ranked by the semantic similarity of their text to the query, with the engine's model and language centring:
  the engine's other signals say how well an offer fits a need, and mean nothing between two needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import numpy as np

from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.engine.query import MatchFilters, NeedQuery
from matcher.engine.service import MatchService, need_from_stored
from matcher.engine.texts import detect_language
from matcher.errors import NotReadyError
from matcher.records.listing import ListingFilters
from matcher.records.needs import need_listing
from matcher.records.offers import offer_listing, place_condition
from models import vocabularies as vocab
from models.orm import Need, Offer, Organisation
from models.repositories import (
    CatalogueCounts,
    NeedListing,
    NeedRepository,
    OfferListing,
    OfferRepository,
    OrganisationRepository,
    ProviderListing,
    active_offer_count,
    catalogue_counts,
    count_needs_by,
    count_offers_by,
    count_offers_by_place,
    count_providers_by_type,
    list_needs,
    list_offers,
    list_providers,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# A search ranks at most this many offers (or needs): deeper pages of a semantic ranking are noise.
SEARCH_DEPTH: Final = 200
# Needs compared with a query at most (the newest ones when a filter lets more through).
NEED_SEARCH_CANDIDATES: Final = 5_000

RecordT = TypeVar("RecordT", Need, Offer)


@dataclass(frozen=True, slots=True)
class BrowseFilters:
    """What a visitor chose: every field is optional; several values of one field mean "any of them".

    Attributes:
        targets: KMGBF target numbers.
        region: a geographic area (Global, an M49 region or sub-region): offers serving it, needs of its countries.
        country: an alpha-3 code: offers serving it, needs of that country.
        assistance_types: kinds of help.
        languages: ISO 639-1 codes (offers: languages the provider works in; needs: the need's language).
        org_types: organisation types (offers only).
        q: search text (ranks; never filters).
    """

    targets: tuple[int, ...] = ()
    region: str | None = None
    country: str | None = None
    assistance_types: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    org_types: tuple[str, ...] = ()
    q: str | None = None

    def without(self, *names: str) -> BrowseFilters:
        """These filters with the named ones cleared."""
        cleared: dict[str, Any] = {name: None if name in ("region", "country", "q") else () for name in names}
        return dataclasses.replace(self, **cleared)

    def listed(self) -> ListingFilters:
        """The conditions a listing applies: all but the query, which only ranks, and the organisation types,
        which only offers have."""
        return ListingFilters(
            targets=self.targets,
            region=self.region,
            country=self.country,
            assistance_types=self.assistance_types,
            languages=self.languages,
        )


@dataclass(frozen=True, slots=True)
class Results(Generic[RecordT]):
    """One page of records and how they were found.

    Attributes:
        items: the page, in order.
        total: records matching the filters (for a search: those ranked, at most :data:`SEARCH_DEPTH`).
        ranked: ordered by relevance to the query (else newest first).
        matching: records matching the filters, when a search ranked only the first :data:`SEARCH_DEPTH`.
    """

    items: list[RecordT]
    total: int
    ranked: bool = False
    matching: int | None = None


@dataclass(frozen=True, slots=True)
class Facets:
    """Counts per facet value (see the module docstring); values without a record are absent.

    ``regions`` holds the M49 regions and, when an area is selected, the sub-regions of its region;
    ``countries`` is filled where it is cheap (needs: one GROUP BY on the party).
    """

    targets: dict[int, int] = field(default_factory=dict)
    regions: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    assistance_types: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    org_types: dict[str, int] = field(default_factory=dict)


def region_of(area: str | None) -> str | None:
    """The M49 region an area belongs to (itself for a region; ``None`` for Global or nothing)."""
    if area is None or area == vocab.GLOBAL:
        return None
    return area if area in vocab.regions() else vocab.sub_regions().get(area)


def _facet_areas(filters: BrowseFilters) -> list[str]:
    """The areas whose counts a region facet shows: every region, and the sub-regions of the chosen one."""
    areas = list(vocab.regions())
    region = region_of(filters.region)
    if region is not None:
        areas += [s for s in vocab.regions()[region] if s != region]
    return areas


# ------------------------------------------------------------------------------------------- offers


def _offer_listing(principal: Principal, filters: BrowseFilters) -> OfferListing:
    return offer_listing(principal, filters.listed(), org_types=filters.org_types)


def browse_offers(
    session: Session,
    principal: Principal,
    service: MatchService | None,
    filters: BrowseFilters,
    *,
    limit: int,
    offset: int,
) -> Results[Offer]:
    """Offers the caller may see that pass the filters: ranked for the query (by ``service``), else newest
    first."""
    if not filters.q:
        page = list_offers(
            session, _offer_listing(principal, filters), limit=limit, offset=offset, newest_first=True
        )
        return Results(page.items, page.total)
    query = NeedQuery(
        title="",
        description=filters.q,
        targets=filters.targets,
        assistance_types=filters.assistance_types,
        language=detect_language(filters.q),
        party=filters.country,
        organisation_id=principal.organisation_id,
    )
    place = filters.country or filters.region
    hard = MatchFilters(
        targets=frozenset(filters.targets),
        serves=frozenset({place} if place else ()),
        assistance_types=frozenset(filters.assistance_types),
        languages=frozenset(filters.languages),
        org_types=frozenset(filters.org_types),
    )
    if service is None:
        raise NotReadyError("searching needs the matching service")
    depth = min(offset + limit, SEARCH_DEPTH)
    if offset >= depth:
        return Results([], 0, ranked=True)
    result = service.match_batch([query], k=depth, filters=hard, explain_matches=False)[0]
    ids = [m.offer_id for m in result.matches[offset:depth]]
    found = OfferRepository(session).by_ids(ids)
    items = [found[i] for i in ids if i in found and access.can_read_offer(principal, found[i])]
    total = min(result.allowed, SEARCH_DEPTH)
    return Results(items, total, ranked=True, matching=result.allowed if result.allowed > total else None)


def offer_facets(session: Session, principal: Principal, filters: BrowseFilters) -> Facets:
    """Counts of the offers the caller may see, per value of each facet (the query plays no part)."""

    def listing(*cleared: str) -> Any:
        return _offer_listing(principal, filters.without("q", *cleared))

    places = {area: place_condition(area) for area in _facet_areas(filters)}
    return Facets(
        targets=count_offers_by(session, listing("targets"), "targets"),
        regions=count_offers_by_place(session, listing("region"), places),
        assistance_types=count_offers_by(session, listing("assistance_types"), "assistance_types"),
        languages=count_offers_by(session, listing("languages"), "languages"),
        org_types=count_offers_by(session, listing("org_types"), "org_types"),
    )


def get_offer(session: Session, principal: Principal, offer_id: int) -> Offer:
    """An offer the caller may see (404 otherwise)."""
    return access.check_read_offer(principal, OfferRepository(session).get(offer_id), offer_id)


# -------------------------------------------------------------------------------------------- needs


def _need_listing(principal: Principal, filters: BrowseFilters) -> NeedListing | None:
    return need_listing(principal, filters.listed(), public_pages=True)


def browse_needs(
    session: Session,
    principal: Principal,
    service: MatchService | None,
    filters: BrowseFilters,
    *,
    limit: int,
    offset: int,
) -> Results[Need]:
    """Needs the caller may see on the public pages that pass the filters: ranked for the query, else newest
    first."""
    listing = _need_listing(principal, filters)
    if listing is None:
        return Results([], 0, ranked=bool(filters.q))
    if not filters.q:
        page = list_needs(session, listing, limit=limit, offset=offset, newest_first=True)
        return Results(page.items, page.total)
    if service is None:
        raise NotReadyError("searching needs the matching service")
    candidates = list_needs(session, listing, limit=NEED_SEARCH_CANDIDATES, offset=0, newest_first=True)
    ranked = rank_needs_by_text(service, filters.q, candidates.items)[:SEARCH_DEPTH]
    matching = candidates.total if candidates.total > len(ranked) else None
    return Results(ranked[offset : offset + limit], len(ranked), ranked=True, matching=matching)


def latest_needs(session: Session, principal: Principal, *, limit: int) -> list[Need]:
    """The newest needs the caller may see on the public pages."""
    listing = _need_listing(principal, BrowseFilters())
    assert listing is not None  # no geography: every country
    return list_needs(session, listing, limit=limit, offset=0, newest_first=True).items


def rank_needs_by_text(service: MatchService, text: str, needs: Sequence[Need]) -> list[Need]:
    """``needs`` by decreasing semantic similarity of their text to ``text`` (ties: newest first)."""
    if not needs:
        return []
    query = NeedQuery(title="", description=text, language=detect_language(text))
    vectors = service.query_vectors([query, *(need_from_stored(n) for n in needs)])
    similarity = vectors[1:] @ vectors[0]
    order = np.lexsort((-np.asarray([n.id for n in needs]), -similarity))
    return [needs[int(i)] for i in order]


def need_facets(session: Session, principal: Principal, filters: BrowseFilters) -> Facets:
    """Counts of the needs the caller may see on the public pages, per value of each facet."""

    def counts(facet: Any, *cleared: str) -> dict[Any, int]:
        listing = _need_listing(principal, filters.without("q", *cleared))
        return {} if listing is None else count_needs_by(session, listing, facet)

    regions: dict[str, int] = {}
    wanted = set(_facet_areas(filters))
    for party, n in counts("parties", "region").items():
        country = vocab.countries().get(party)
        if country is None:
            continue
        for area in {country.region, country.sub_region} & wanted:
            regions[area] = regions.get(area, 0) + n
    return Facets(
        targets=counts("targets", "targets"),
        regions=regions,
        countries=counts("parties", "country"),
        assistance_types=counts("assistance_types", "assistance_types"),
        languages=counts("languages", "languages"),
    )


def get_need(session: Session, principal: Principal, need_id: int) -> Need:
    """A need the caller may see on the public pages (404 otherwise: confidential needs do not exist there)."""
    need = NeedRepository(session).get(need_id)
    return access.check_read_need(principal, need, need_id, public_pages=True)


# ------------------------------------------------------------------------------------ the directory


@dataclass(frozen=True, slots=True)
class Provider:
    """An organisation of the provider directory and its number of active offers."""

    organisation: Organisation
    active_offers: int


def browse_providers(
    session: Session,
    principal: Principal,
    *,
    q: str | None = None,
    org_types: tuple[str, ...] = (),
    countries: tuple[str, ...] = (),
    limit: int,
    offset: int,
) -> tuple[list[Provider], int]:
    """A page of the provider directory (by name) and the number of providers matching."""
    del principal  # the directory is public; the argument keeps the services' shape for signed-in pages
    rows, total = list_providers(
        session, ProviderListing(q=q, org_types=org_types, countries=countries), limit=limit, offset=offset
    )
    return [Provider(org, n) for org, n in rows], total


def provider_offers(session: Session, principal: Principal, organisation_id: int, *, limit: int) -> Results[Offer]:
    """The offers of one organisation the caller may see (active ones for visitors), newest first."""
    listing = offer_listing(principal, ListingFilters(), organisation_id=organisation_id)
    page = list_offers(session, listing, limit=limit, offset=0, newest_first=True)
    return Results(page.items, page.total)


def provider_type_counts(session: Session) -> dict[str, int]:
    """Providers per organisation type."""
    return count_providers_by_type(session)


def get_provider(session: Session, principal: Principal, organisation_id: int) -> Provider:
    """A provider of the directory (404 for organisations with no active offer)."""
    del principal
    organisation = OrganisationRepository(session).get(organisation_id)
    active = active_offer_count(session, organisation_id) if organisation is not None else 0
    return Provider(access.check_read_provider(organisation, organisation_id, active_offers=active), active)


def counts(session: Session) -> CatalogueCounts:
    """Public needs, active offers, providers and countries (the home page's figures)."""
    return catalogue_counts(session)
