"""Hard filters and eligibility over the offer catalogue, computed as NumPy masks.

Every filter is a vectorised bit test or a position lookup over all offers (well under a millisecond at 100k
offers), so the allowed set is exact before any vector search: the search then runs only over allowed
positions and its top-k is the exact filtered top-k, however selective the filter.

When nothing is allowed the outcome says why: which filter emptied the result (removing it alone would give
results, and how many), or which eligibility rule excluded every remaining offer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from matcher.engine.catalog import (
    AREA_BITS,
    COST_CODES,
    ORG_TYPE_CODES,
    STATUS_CODES,
    UNLIMITED,
    OfferCatalog,
    area_bits,
    target_bits,
    type_bits,
)
from matcher.engine.query import FILTER_NAMES, MatchFilters
from models import vocabularies as vocab

Policy = Literal["exclude", "downweight"]

EXCLUSION_REASONS = {
    "own_organisation": "the offer belongs to the organisation that posted the need",
    "paused": "the offer is paused",
    "expired": "the offer has expired",
    "at_capacity": "the provider has no capacity left",
}


def serving_places(place: str) -> tuple[list[str], set[str]]:
    """The areas and the explicit countries an offer may list to serve ``place`` (a country or an area)."""
    if place in vocab.countries():
        return list(vocab.areas_of(place)), {place}
    area = vocab.parse_area(place)
    if area == vocab.GLOBAL:  # "serves Global" means worldwide providers, not "anywhere at all"
        return [vocab.GLOBAL], set()
    if area in vocab.regions():
        return [vocab.GLOBAL, area, *vocab.regions()[area]], set(vocab.countries_in(area))
    return [vocab.GLOBAL, area, vocab.sub_regions()[area]], set(vocab.countries_in(area))


def places_bits_and_countries(place: str) -> tuple[int, set[str]]:
    """The area bits and explicit countries that make an offer serve ``place`` (a country or an area)."""
    areas, countries = serving_places(place)
    return area_bits(areas), countries


def serving_mask(catalog: OfferCatalog, places: frozenset[str]) -> NDArray[np.bool_]:
    """Offers that serve any of ``places`` (countries or areas)."""
    bits = 0
    countries: set[str] = set()
    for place in places:
        b, c = places_bits_and_countries(place)
        bits |= b
        countries |= c
    mask: NDArray[np.bool_] = (catalog.column("areas") & np.uint64(bits)) != 0
    for country in countries.intersection(catalog.countries_with_offers()):
        mask[catalog.positions_serving_country(country)] = True
    return mask


def filter_masks(catalog: OfferCatalog, filters: MatchFilters) -> dict[str, NDArray[np.bool_]]:
    """One mask per active filter."""
    masks: dict[str, NDArray[np.bool_]] = {}
    if filters.targets:
        masks["targets"] = (catalog.column("targets") & np.uint32(target_bits(sorted(filters.targets)))) != 0
    if filters.serves:
        masks["serves"] = serving_mask(catalog, filters.serves)
    if filters.assistance_types:
        masks["assistance_types"] = (
            catalog.column("types") & np.uint16(type_bits(sorted(filters.assistance_types)))
        ) != 0
    if filters.languages:
        mask = np.zeros(catalog.size, dtype=bool)
        for lang in filters.languages:
            mask[catalog.positions_with_language(lang)] = True
        masks["languages"] = mask
    if filters.costs:
        masks["costs"] = np.isin(catalog.column("cost"), [COST_CODES[c] for c in filters.costs])
    if filters.org_types:
        masks["org_types"] = np.isin(catalog.column("org_type"), [ORG_TYPE_CODES[t] for t in filters.org_types])
    if filters.exclude_organisations:
        masks["exclude_organisations"] = ~np.isin(catalog.column("org_id"), list(filters.exclude_organisations))
    return masks


@dataclass(slots=True)
class FilterOutcome:
    """The allowed positions for one need and how they were arrived at.

    Attributes:
        allowed: positions that pass every filter and eligibility rule (live only).
        penalties: per allowed position, the number of down-weighted eligibility problems (0 = none).
        matching_filters: live offers passing the filters, before eligibility.
        excluded: eligibility exclusions among those, by reason.
        empty_reason: why nothing is allowed, and what to relax (``None`` when something is).
    """

    allowed: NDArray[np.int64]
    penalties: NDArray[np.float32]
    matching_filters: int
    excluded: dict[str, int] = field(default_factory=dict)
    empty_reason: str | None = None


def apply_filters(
    catalog: OfferCatalog,
    live: NDArray[np.bool_],
    filters: MatchFilters,
    *,
    own_organisation: int | None,
    inactive: Policy,
    at_capacity: Policy,
    today: dt.date,
) -> FilterOutcome:
    """Allowed positions for a need: live, passing every filter, and eligible (see ``EXCLUSION_REASONS``)."""
    outcomes = apply_filters_batch(
        catalog,
        live,
        filters,
        organisations=[own_organisation],
        inactive=inactive,
        at_capacity=at_capacity,
        today=today,
    )
    return outcomes[own_organisation]


def apply_filters_batch(
    catalog: OfferCatalog,
    live: NDArray[np.bool_],
    filters: MatchFilters,
    *,
    organisations: Iterable[int | None],
    inactive: Policy,
    at_capacity: Policy,
    today: dt.date,
) -> dict[int | None, FilterOutcome]:
    """:func:`apply_filters` for the needs of several requesting organisations (``None``: no organisation).

    The filters and eligibility rules are evaluated once over the catalogue; each organisation's outcome then
    only drops its own offers. Outcomes of organisations owning no allowed offer share the arrays of the
    ``None`` outcome (read them, never write to them).
    """
    masks = filter_masks(catalog, filters)
    passing = live.copy()
    for mask in masks.values():
        passing &= mask
    matching = int(passing.sum())

    status = catalog.column("status")
    capacity = catalog.column("capacity")
    problems: dict[str, NDArray[np.bool_]] = {
        "paused": status == STATUS_CODES["paused"],
        "expired": catalog.expired(today),
        "at_capacity": (capacity != UNLIMITED) & (capacity <= 0),
    }
    policies = {"paused": inactive, "expired": inactive, "at_capacity": at_capacity}

    eligible = passing.copy()
    penalties = np.zeros(catalog.size, dtype=np.float32)
    excluded: dict[str, int] = {}
    for reason, problem in problems.items():
        hit = passing & problem
        count = int(hit.sum())
        if not count:
            continue
        if policies[reason] == "exclude":
            eligible &= ~problem
            excluded[reason] = count
        else:
            penalties[hit] += 1.0
    allowed = np.flatnonzero(eligible).astype(np.int64)
    allowed_penalties = penalties[allowed]

    # Own offers are always excluded, counted among the offers passing the filters (an own paused offer
    # counts as both), and reported first.
    org_ids = catalog.column("org_id")
    passing_orgs = org_ids[passing]
    wanted = [o for o in dict.fromkeys(organisations) if o is not None]
    if len(wanted) <= _FEW_ORGANISATIONS:
        # One comparison pass per organisation: a single match (the API) would otherwise sort every passing
        # offer's organisation (4 ms of a 40 ms match at 100k offers).
        passing_counts = {o: int(np.count_nonzero(passing_orgs == o)) for o in wanted}
    else:
        owners, owned = np.unique(passing_orgs, return_counts=True)
        passing_counts = dict(zip(owners.tolist(), owned.tolist(), strict=True))
    allowed_orgs = org_ids[allowed]
    outcomes: dict[int | None, FilterOutcome] = {}
    for organisation in dict.fromkeys(organisations):
        own = passing_counts.get(organisation, 0) if organisation is not None else 0
        if own:
            keep = allowed_orgs != organisation
            outcome = FilterOutcome(
                allowed[keep], allowed_penalties[keep], matching, {"own_organisation": own, **excluded}
            )
        else:
            outcome = FilterOutcome(allowed, allowed_penalties, matching, dict(excluded))
        if not len(outcome.allowed):
            outcome.empty_reason = _why_empty(live, masks, matching, outcome.excluded)
        outcomes[organisation] = outcome
    return outcomes


# Up to this many organisations in a batch, own offers are counted by comparison rather than by sorting.
_FEW_ORGANISATIONS = 8


def _why_empty(
    live: NDArray[np.bool_], masks: dict[str, NDArray[np.bool_]], matching: int, excluded: dict[str, int]
) -> str:
    if not live.any():
        return "there are no offers in the catalogue yet"
    if matching:
        parts = ", ".join(f"{n} {EXCLUSION_REASONS[r].removeprefix('the ')}" for r, n in excluded.items())
        return f"all {matching} offers passing the filters are excluded: {parts}"
    relaxations = []
    for name in FILTER_NAMES:
        if name not in masks:
            continue
        others = live.copy()
        for other, mask in masks.items():
            if other != name:
                others &= mask
        if others.any():
            relaxations.append(f"without the {name.replace('_', ' ')} filter {int(others.sum())} offers qualify")
    if relaxations:
        return "no offer passes every filter; " + "; ".join(relaxations)
    return "no offer passes the filters, and no single filter removal would help: relax several filters"


def geography_levels(catalog: OfferCatalog, positions: NDArray[np.int64], party: str) -> NDArray[np.float32]:
    """How directly each offer serves the party's country: 3 = the country or its sub-region, 2 = its region,
    1 = Global only, 0 = not at all."""
    sub, region, glob = vocab.areas_of(party)
    every = catalog.is_whole(positions)  # read the column, no gather, no np.isin
    areas = catalog.column("areas") if every else catalog.column("areas")[positions]
    levels = np.zeros(len(positions), dtype=np.float32)
    levels[(areas & np.uint64(1 << AREA_BITS[glob])) != 0] = 1
    levels[(areas & np.uint64(1 << AREA_BITS[region])) != 0] = 2
    direct = (areas & np.uint64(1 << AREA_BITS[sub])) != 0
    serving = catalog.positions_serving_country(party)
    if every:
        direct |= catalog.mask_of(serving)
    else:
        direct |= np.isin(positions, serving)
    levels[direct] = 3
    return levels
