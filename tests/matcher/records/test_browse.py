"""Browsing services of the public pages, on both databases: facet counts equal their definition (the listing
with that value added), the public view never includes confidential needs or inactive offers, and the provider
directory holds exactly the organisations with an active offer."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from matcher.access.rules import ANONYMOUS, Principal
from matcher.records import browse, needs, offers, organisations
from matcher.records.browse import BrowseFilters
from models import vocabularies as vocab
from models.db import Database

STAFF = Principal(role="secretariat")

OFFERS: list[dict[str, Any]] = [
    {"targets": [6], "assistance_types": ["training"], "languages": ["en"], "regions_served": ["Global"]},
    {
        "targets": [6, 3],
        "assistance_types": ["technical_advice"],
        "languages": ["fr"],
        "regions_served": ["Africa"],
    },
    {
        "targets": [3],
        "assistance_types": ["training", "funding"],
        "languages": ["es", "en"],
        "countries_served": ["KEN"],
    },
    {
        "targets": [21],
        "assistance_types": ["data_sharing"],
        "languages": ["en"],
        "regions_served": ["Western Africa"],
    },
    {"targets": [21], "assistance_types": ["training"], "languages": ["en"], "regions_served": ["Oceania"]},
    {
        "targets": [6],
        "assistance_types": ["training"],
        "languages": ["en"],
        "regions_served": ["Global"],
        "status": "paused",
    },
]
NEEDS: list[dict[str, Any]] = [
    {"party": "KEN", "targets": [6], "assistance_types": ["training"], "language": "en"},
    {"party": "SEN", "targets": [3, 6], "assistance_types": ["technical_advice"], "language": "fr"},
    {"party": "FJI", "targets": [21], "assistance_types": ["training"], "language": "en"},
    {
        "party": "KEN",
        "targets": [6],
        "assistance_types": ["training"],
        "language": "en",
        "visibility": "confidential",
    },
]


def seed(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        org_types = itertools.cycle(["ngo", "university", "ngo"])
        orgs = [
            organisations.create_organisation(
                session, STAFF, {"name": f"Provider {i}", "org_type": next(org_types), "country": c}
            ).id
            for i, c in enumerate(["FRA", "KEN", "BRA"])
        ]
        idle = organisations.create_organisation(
            session, STAFF, {"name": "Provider with nothing active", "org_type": "ngo", "country": "PER"}
        ).id
        for i, values in enumerate(OFFERS):
            organisation = idle if values.get("status") == "paused" else orgs[i % len(orgs)]
            offers.create_offer(
                session,
                STAFF,
                {
                    "title": f"Offer {i}",
                    "description": f"Offer number {i}.",
                    "organisation_id": organisation,
                    **values,
                },
            )
        for i, values in enumerate(NEEDS):
            body = {"title": f"Need {i}", "description": f"Need number {i}.", **values}
            needs.create_need(session, needs.plan_need(session, STAFF, body))
    return {"idle": idle}


def offer_total(db: Database, filters: BrowseFilters) -> int:
    with db.transaction(read_only=True) as session:
        return browse.browse_offers(session, ANONYMOUS, None, filters, limit=1, offset=0).total


def need_total(db: Database, filters: BrowseFilters) -> int:
    with db.transaction(read_only=True) as session:
        return browse.browse_needs(session, ANONYMOUS, None, filters, limit=1, offset=0).total


FILTER_SETS = [
    BrowseFilters(),
    BrowseFilters(assistance_types=("training",)),
    BrowseFilters(targets=(6,), languages=("en",)),
    BrowseFilters(region="Africa"),
    BrowseFilters(region="Western Africa", org_types=("ngo",)),
    BrowseFilters(country="KEN", assistance_types=("training", "funding")),
]


def test_offer_facet_counts_are_the_listing_with_that_value(db: Database) -> None:
    seed(db)
    for filters in FILTER_SETS:
        with db.transaction(read_only=True) as session:
            facets = browse.offer_facets(session, ANONYMOUS, filters)
        for n in vocab.targets():
            expected = offer_total(db, replace(filters, targets=(n,)))
            assert facets.targets.get(n, 0) == expected, (filters, n)
        for t in vocab.ASSISTANCE_TYPES:
            expected = offer_total(db, replace(filters, assistance_types=(t,)))
            assert facets.assistance_types.get(t, 0) == expected, (filters, t)
        for code in ("en", "fr", "es"):
            expected = offer_total(db, replace(filters, languages=(code,)))
            assert facets.languages.get(code, 0) == expected, (filters, code)
        for t in vocab.ORGANISATION_TYPES:
            expected = offer_total(db, replace(filters, org_types=(t,)))
            assert facets.org_types.get(t, 0) == expected, (filters, t)
        for area in facets.regions:
            expected = offer_total(db, replace(filters, region=area))
            assert facets.regions[area] == expected, (filters, area)


def test_need_facet_counts_are_the_listing_with_that_value(db: Database) -> None:
    seed(db)
    for filters in FILTER_SETS:
        filters = filters.without("org_types")
        with db.transaction(read_only=True) as session:
            facets = browse.need_facets(session, ANONYMOUS, filters)
        for n in vocab.targets():
            expected = need_total(db, replace(filters, targets=(n,)))
            assert facets.targets.get(n, 0) == expected, (filters, n)
        for area, count in facets.regions.items():
            assert count == need_total(db, replace(filters, region=area)), (filters, area)
        for country, count in facets.countries.items():
            assert count == need_total(db, replace(filters, country=country)), country


def test_the_public_view_holds_public_needs_active_offers_and_providers(db: Database) -> None:
    ids = seed(db)
    assert offer_total(db, BrowseFilters()) == 5  # the paused offer is not public
    assert need_total(db, BrowseFilters()) == 3  # nor is the confidential need
    assert need_total(db, BrowseFilters(country="KEN")) == 1
    with db.transaction(read_only=True) as session:
        facets = browse.need_facets(session, ANONYMOUS, BrowseFilters())
        assert facets.countries == {"KEN": 1, "SEN": 1, "FJI": 1}
        counts = browse.counts(session)
        providers, total = browse.browse_providers(session, ANONYMOUS, limit=10, offset=0)
        latest = browse.latest_needs(session, ANONYMOUS, limit=2)
    assert (counts.public_needs, counts.active_offers, counts.providers) == (3, 5, 3)
    # Countries of a public need (KEN, SEN, FJI) or of a provider (FRA, KEN, BRA); requesting institutions of
    # needs are not providers, and the organisation with only a paused offer is not either.
    assert counts.countries == 5
    assert total == 3 and ids["idle"] not in [p.organisation.id for p in providers]
    assert sum(p.active_offers for p in providers) == 5
    assert [n.title for n in latest] == ["Need 2", "Need 1"]


def test_the_directory_filters_by_name_type_and_country(db: Database) -> None:
    seed(db)
    with db.transaction(read_only=True) as session:
        _, by_type = browse.browse_providers(session, ANONYMOUS, org_types=("ngo",), limit=10, offset=0)
        found, by_name = browse.browse_providers(session, ANONYMOUS, q="vider 1", limit=10, offset=0)
        _, by_country = browse.browse_providers(session, ANONYMOUS, countries=("BRA",), limit=10, offset=0)
        type_counts = browse.provider_type_counts(session)
    assert (by_type, by_name, by_country) == (2, 1, 1)
    assert found[0].organisation.name == "Provider 1"
    assert type_counts == {"ngo": 2, "university": 1}
