"""The vectorised filters agree with a plain-Python reading of their definition (property test)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.engine.catalog import OfferCatalog
from matcher.engine.filters import apply_filters, filter_masks, geography_levels
from matcher.engine.query import MatchFilters
from models import vocabularies as vocab
from models.repositories import OfferSnapshot

AREAS = list(vocab.geographic_areas())
COUNTRIES = ["FJI", "KEN", "PER", "FRA", "VNM", "WSM", "JAM", "MAR"]
PLACES = AREAS + COUNTRIES
LANGS = ["en", "fr", "es", "pt"]

snapshots = st.builds(
    OfferSnapshot,
    id=st.integers(1, 10**6),
    external_id=st.none(),
    title=st.just("t"),
    description=st.just("d"),
    cost=st.sampled_from(vocab.COSTS),
    capacity=st.one_of(st.none(), st.integers(0, 3)),
    status=st.sampled_from(vocab.OFFER_STATUSES),
    expires_on=st.one_of(st.none(), st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1))),
    change_seq=st.just(1),
    organisation_id=st.integers(1, 5),
    organisation=st.just("o"),
    org_type=st.sampled_from(vocab.ORGANISATION_TYPES),
    org_country=st.just("FRA"),
    targets=st.lists(st.integers(1, 23), min_size=1, max_size=4, unique=True).map(tuple),
    assistance_types=st.lists(st.sampled_from(vocab.ASSISTANCE_TYPES), min_size=1, max_size=3, unique=True).map(
        tuple
    ),
    languages=st.lists(st.sampled_from(LANGS), min_size=1, max_size=2, unique=True).map(tuple),
    regions_served=st.lists(st.sampled_from(AREAS), max_size=2, unique=True).map(tuple),
    countries_served=st.lists(st.sampled_from(COUNTRIES), max_size=2, unique=True).map(tuple),
)
filters = st.builds(
    MatchFilters,
    targets=st.frozensets(st.integers(1, 23), max_size=3),
    serves=st.frozensets(st.sampled_from(PLACES), max_size=2),
    assistance_types=st.frozensets(st.sampled_from(vocab.ASSISTANCE_TYPES), max_size=2),
    languages=st.frozensets(st.sampled_from(LANGS), max_size=2),
    costs=st.frozensets(st.sampled_from(vocab.COSTS), max_size=2),
    org_types=st.frozensets(st.sampled_from(vocab.ORGANISATION_TYPES), max_size=3),
    exclude_organisations=st.frozensets(st.integers(1, 5), max_size=2),
)


def serves(s: OfferSnapshot, place: str) -> bool:
    areas = set(s.regions_served)
    if vocab.GLOBAL in areas:
        return True
    if place in vocab.countries():
        return place in s.countries_served or bool(areas & set(vocab.areas_of(place)))
    if place == vocab.GLOBAL:
        return False
    inside = vocab.countries_in(place)
    related = {place, *vocab.regions()[place]} if place in vocab.regions() else {place, vocab.sub_regions()[place]}
    return bool(areas & related) or bool(set(s.countries_served) & inside)


def reference(s: OfferSnapshot, f: MatchFilters) -> bool:
    return (
        (not f.targets or bool(set(s.targets) & f.targets))
        and (not f.serves or any(serves(s, p) for p in f.serves))
        and (not f.assistance_types or bool(set(s.assistance_types) & f.assistance_types))
        and (not f.languages or bool(set(s.languages) & f.languages))
        and (not f.costs or s.cost in f.costs)
        and (not f.org_types or s.org_type in f.org_types)
        and s.organisation_id not in f.exclude_organisations
    )


def build(items: list[OfferSnapshot]) -> OfferCatalog:
    catalog = OfferCatalog()
    catalog.append(np.arange(len(items), dtype=np.int64), items)
    return catalog


@settings(max_examples=300, deadline=None)
@given(st.lists(snapshots, min_size=1, max_size=40), filters)
def test_filter_masks_match_the_definition(items: list[OfferSnapshot], f: MatchFilters) -> None:
    catalog = build(items)
    mask = np.ones(len(items), dtype=bool)
    for m in filter_masks(catalog, f).values():
        mask &= m
    assert mask.tolist() == [reference(s, f) for s in items]


@settings(max_examples=200, deadline=None)
@given(st.lists(snapshots, min_size=1, max_size=40), filters, st.integers(1, 5))
def test_eligibility_excludes_exactly_the_ineligible(
    items: list[OfferSnapshot], f: MatchFilters, own: int
) -> None:
    catalog = build(items)
    today = dt.date(2025, 6, 1)
    live = np.ones(len(items), dtype=bool)
    outcome = apply_filters(
        catalog, live, f, own_organisation=own, inactive="exclude", at_capacity="exclude", today=today
    )

    def eligible(s: OfferSnapshot) -> bool:
        expired = s.status == "expired" or (s.expires_on is not None and s.expires_on < today)
        full = s.capacity is not None and s.capacity <= 0
        return s.organisation_id != own and s.status != "paused" and not expired and not full

    expected = [i for i, s in enumerate(items) if reference(s, f) and eligible(s)]
    assert outcome.allowed.tolist() == expected
    assert outcome.matching_filters == sum(reference(s, f) for s in items)
    assert (outcome.empty_reason is None) == bool(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(snapshots, min_size=1, max_size=30), st.sampled_from(COUNTRIES))
def test_geography_levels_follow_the_most_specific_area(items: list[OfferSnapshot], party: str) -> None:
    catalog = build(items)
    levels = geography_levels(catalog, np.arange(len(items), dtype=np.int64), party).tolist()
    sub, region, _ = vocab.areas_of(party)
    for s, level in zip(items, levels, strict=True):
        if party in s.countries_served or sub in s.regions_served:
            assert level == 3
        elif region in s.regions_served:
            assert level == 2
        elif vocab.GLOBAL in s.regions_served:
            assert level == 1
        else:
            assert level == 0
