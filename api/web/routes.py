"""The public pages: home, offers, needs, the provider directory, and the language switcher.

Adapters like the JSON routes: each parses its query, calls the browsing services (``matcher/browse.py``) with
the visitor's principal, maps the records to display data (``views.py``) and renders a template. Filters are
GET parameters with the API's names (``target``, ``region``, ``country``, ``type``, ``language``,
``org_type``, ``q``), so every state of a listing has an address that works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import HTMLResponse

from api.deps import DatabaseDep, MatchServiceDep, vocabulary
from api.routers.common import RecordId
from api.web import i18n, views
from api.web.auth import ReaderDep, is_local_path
from api.web.rendering import render
from matcher.connectors import service as connectors
from matcher.records import browse
from models import vocabularies as vocab

router = APIRouter(include_in_schema=False)

PAGE_SIZE: Final = views.PAGE_SIZE
MAX_PAGE: Final = 1000
LANGUAGE_COOKIE_AGE_S: Final = 365 * 24 * 3600
HOME_NEEDS: Final = 3
PROVIDER_OFFERS: Final = 50


LocaleDep = Annotated[i18n.PageLocale, Depends(i18n.negotiate)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def browse_filters(
    q: Annotated[str | None, Query(max_length=200)] = None,
    target: Annotated[list[str], Query(max_length=23)] = [],  # noqa: B006
    region: Annotated[str | None, Query(max_length=60)] = None,
    country: Annotated[str | None, Query(max_length=60)] = None,
    type: Annotated[list[str], Query(max_length=9)] = [],  # noqa: B006
    language: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    org_type: Annotated[list[str], Query(max_length=8)] = [],  # noqa: B006
) -> browse.BrowseFilters:
    """The filters of a listing's address (422 naming the parameter and the closest valid values)."""
    region, country = _blank(region), _blank(country)
    return browse.BrowseFilters(
        targets=tuple(sorted(vocabulary([t for t in target if t.strip()], vocab.parse_target, "target"))),
        region=vocabulary([region], vocab.parse_area, "region")[0] if region else None,
        country=vocabulary([country], vocab.parse_country, "country")[0] if country else None,
        assistance_types=vocabulary([t for t in type if t.strip()], vocab.parse_assistance_type, "type"),
        languages=vocabulary([c for c in language if c.strip()], vocab.parse_language, "language"),
        org_types=vocabulary([t for t in org_type if t.strip()], vocab.parse_organisation_type, "org_type"),
        q=_blank(q),
    )


FiltersDep = Annotated[browse.BrowseFilters, Depends(browse_filters)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DatabaseDep, locale: LocaleDep, principal: ReaderDep) -> HTMLResponse:
    """What Pollinate is, what it holds, and where to start."""
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        counts = browse.counts(session)
        latest = browse.latest_needs(session, principal, limit=HOME_NEEDS)
        context = {
            "counts": counts,
            "latest_needs": [views.need_view(n, locale.code) for n in latest],
            "targets": [(n, vocab.label("target", n, locale.code)) for n in vocab.targets()],
        }
    return render(request, locale, "home.html", context)


def _listing(
    request: Request,
    locale: i18n.PageLocale,
    kind: str,
    filters: browse.BrowseFilters,
    results: browse.Results[Any],
    facets: browse.Facets,
    page: int,
    cards: Sequence[object],
) -> HTMLResponse:
    base = f"/{kind}"
    params = views.filter_params(filters)
    context = {
        "kind": kind,
        "base": base,
        "filters": filters,
        "results": results,
        "cards": cards,
        "groups": views.facet_groups(kind, facets, filters, locale.code),
        "chips": views.chips(base, filters, locale.code),
        "pagination": views.pagination(base, params, page=page, total=results.total),
    }
    return render(request, locale, "browse.html", context, partial="_browse.html")


@router.get("/offers", response_class=HTMLResponse)
def offers_page(
    request: Request,
    db: DatabaseDep,
    service: MatchServiceDep,
    locale: LocaleDep,
    principal: ReaderDep,
    filters: FiltersDep,
    page: Page = 1,
) -> HTMLResponse:
    """Active offers, filtered by facets; ranked by relevance to the search text, else newest first."""
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        offset = (page - 1) * PAGE_SIZE
        results = browse.browse_offers(session, principal, service, filters, limit=PAGE_SIZE, offset=offset)
        facets = browse.offer_facets(session, principal, filters)
        cards = [views.offer_view(o, locale.code) for o in results.items]
        return _listing(request, locale, "offers", filters, results, facets, page, cards)


@router.get("/offers/{offer_id}", response_class=HTMLResponse)
def offer_page(
    request: Request, offer_id: RecordId, db: DatabaseDep, locale: LocaleDep, principal: ReaderDep
) -> HTMLResponse:
    """One offer and its provider."""
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        offer = views.offer_view(browse.get_offer(session, principal, offer_id), locale.code)
        sources = views.source_links(connectors.sources_of(session, "offer", offer_id))
    return render(request, locale, "offers/detail.html", {"offer": offer, "sources": sources})


@router.get("/needs", response_class=HTMLResponse)
def needs_page(
    request: Request,
    db: DatabaseDep,
    service: MatchServiceDep,
    locale: LocaleDep,
    principal: ReaderDep,
    filters: FiltersDep,
    page: Page = 1,
) -> HTMLResponse:
    """Public needs, filtered by facets; ranked by relevance to the search text, else newest first."""
    filters = filters.without("org_types")
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        offset = (page - 1) * PAGE_SIZE
        results = browse.browse_needs(session, principal, service, filters, limit=PAGE_SIZE, offset=offset)
        facets = browse.need_facets(session, principal, filters)
        cards = [views.need_view(n, locale.code) for n in results.items]
        return _listing(request, locale, "needs", filters, results, facets, page, cards)


@router.get("/needs/{need_id}", response_class=HTMLResponse)
def need_page(
    request: Request, need_id: RecordId, db: DatabaseDep, locale: LocaleDep, principal: ReaderDep
) -> HTMLResponse:
    """One public need (confidential needs are not found here)."""
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        need = views.need_view(browse.get_need(session, principal, need_id), locale.code)
        sources = views.source_links(connectors.sources_of(session, "need", need_id))
    return render(request, locale, "needs/detail.html", {"need": need, "sources": sources})


@router.get("/providers", response_class=HTMLResponse)
def providers_page(
    request: Request,
    db: DatabaseDep,
    locale: LocaleDep,
    principal: ReaderDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    org_type: Annotated[list[str], Query(max_length=8)] = [],  # noqa: B006
    country: Annotated[str | None, Query(max_length=60)] = None,
    page: Page = 1,
) -> HTMLResponse:
    """The organisations offering support, by name, with their number of active offers."""
    country = _blank(country)
    types = vocabulary([t for t in org_type if t.strip()], vocab.parse_organisation_type, "org_type")
    countries = vocabulary([country], vocab.parse_country, "country") if country else ()
    q = _blank(q)
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        providers, total = browse.browse_providers(
            session,
            principal,
            q=q,
            org_types=types,
            countries=countries,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        type_counts = browse.provider_type_counts(session)
        params = {"q": q, "org_type": list(types), "country": country and countries[0]}
        context = {
            "q": q,
            "providers": [views.provider_view(p, locale.code) for p in providers],
            "total": total,
            "types": [
                views.FacetOption(
                    f"f-org_type-{t}",
                    t,
                    vocab.label("organisation_type", t, locale.code),
                    type_counts.get(t, 0),
                    t in types,
                )
                for t in vocab.ORGANISATION_TYPES
            ],
            "countries": sorted(
                (
                    views.FacetOption(
                        f"f-country-{c}", c, vocab.label("country", c, locale.code), None, c in countries
                    )
                    for c in vocab.countries()
                ),
                key=lambda o: o.label.casefold(),
            ),
            "pagination": views.pagination("/providers", params, page=page, total=total),
        }
        return render(request, locale, "providers/browse.html", context, partial="providers/_browse.html")


@router.get("/providers/{organisation_id}", response_class=HTMLResponse)
def provider_page(
    request: Request, organisation_id: RecordId, db: DatabaseDep, locale: LocaleDep, principal: ReaderDep
) -> HTMLResponse:
    """A provider: its public details and its active offers."""
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        provider = browse.get_provider(session, principal, organisation_id)
        offers = browse.provider_offers(session, principal, organisation_id, limit=PROVIDER_OFFERS)
        context = {
            "provider": views.provider_view(provider, locale.code),
            "offers": [views.offer_view(o, locale.code) for o in offers.items],
            "more_offers": offers.total > len(offers.items),
            "sources": views.source_links(connectors.sources_of(session, "organisation", organisation_id)),
        }
    return render(request, locale, "providers/detail.html", context)


@router.get("/language")
def choose_language(
    request: Request,
    lang: Annotated[str, Query(max_length=10)],
    next: Annotated[str, Query(max_length=2000)] = "/",
) -> RedirectResponse:
    """Remember the reader's language (a cookie) and go back to the page they were reading."""
    target = next if is_local_path(next) else "/"
    response = RedirectResponse(target, status_code=303)
    if lang in i18n.LOCALES:
        response.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=LANGUAGE_COOKIE_AGE_S,
            path="/",
            samesite="lax",
            httponly=True,
            secure=request.url.scheme == "https",
        )
    return response
