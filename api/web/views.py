"""What the templates show: records, facets, filters and pages turned into display data in one language.

Routes call the services, then these functions; templates only lay the result out. Every vocabulary value is
shown by its label in the page's language (``models.vocabularies.label``), every link keeps the filters it
should keep, and nothing here reads the database (the records are loaded by the services).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from api.web.i18n import gettext as _
from api.web.rendering import query
from matcher.records.browse import BrowseFilters, Facets, Provider, region_of
from models import vocabularies as vocab
from models.orm import Need, Offer, Organisation, RecordSource

PAGE_SIZE: Final = 20
SUMMARY_CHARS: Final = 260


@dataclass(frozen=True, slots=True)
class Term:
    """A vocabulary value as shown: its code, its label, and a link (to the listing filtered by it)."""

    code: str
    label: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class SourceLink:
    """Where a harvested record comes from: the connector, the record's page at the source (only an http(s)
    URL is ever a link), when it was fetched and whether the source has withdrawn it."""

    connector: str
    url: str | None
    fetched_at: dt.datetime
    withdrawn: bool


def source_links(rows: Iterable[RecordSource]) -> list[SourceLink]:
    """The provenance rows of a record as its page shows them."""
    return [
        SourceLink(
            connector=row.connector,
            url=row.source_url if row.source_url and row.source_url.startswith(("https://", "http://")) else None,
            fetched_at=row.fetched_at,
            withdrawn=row.withdrawn_at is not None,
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class OfferView:
    """An offer as its card and its page show it."""

    id: int
    title: str
    summary: str
    description: str
    organisation: str
    organisation_id: int
    organisation_country: str
    organisation_type: str
    website: str | None
    targets: list[Term]
    assistance_types: list[Term]
    languages: list[Term]
    serves: list[Term]
    cost: str
    capacity: int | None
    status: str
    expires_on: dt.date | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NeedView:
    """A need as its card and its page show it."""

    id: int
    title: str
    summary: str
    description: str
    country: Term
    organisation: str
    targets: list[Term]
    assistance_types: list[Term]
    language: Term
    status: str
    status_code: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ProviderView:
    """An organisation of the directory."""

    id: int
    name: str
    org_type: str
    country: str
    website: str | None
    active_offers: int


@dataclass(frozen=True, slots=True)
class FacetOption:
    """One value of a facet: the input's id, value and label, its count, and whether it is chosen."""

    id: str
    value: str
    label: str
    count: int | None
    selected: bool


@dataclass(frozen=True, slots=True)
class FacetGroup:
    """A facet of the filter form: its query parameter, its heading and its options.

    ``control`` is ``checkbox`` (any of several values), ``radio`` (one) or ``select`` (one, from a long list).
    """

    name: str
    legend: str
    control: str
    options: list[FacetOption]
    any_label: str = ""
    expanded: bool = False


@dataclass(frozen=True, slots=True)
class Chip:
    """A chosen filter, with the link that removes it."""

    label: str
    remove_href: str


@dataclass(frozen=True, slots=True)
class PageLink:
    """A link of the pagination (``number`` None: an ellipsis)."""

    number: int | None
    href: str | None
    current: bool = False


@dataclass(frozen=True, slots=True)
class Pagination:
    """Where a listing is, and the links to the other pages."""

    page: int
    pages: int
    first_item: int
    last_item: int
    total: int
    previous: str | None
    next: str | None
    links: list[PageLink] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ records


def summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The start of a text, cut at a word boundary, with an ellipsis when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return f"{cut}…"


def _terms(kind: vocab.LabelKind, codes: Iterable[Any], locale: str, base: str | None, param: str) -> list[Term]:
    return [
        Term(str(code), vocab.label(kind, code, locale), f"{base}{query({param: code})}" if base else None)
        for code in codes
    ]


def _target_terms(numbers: Iterable[int], locale: str, base: str) -> list[Term]:
    return [
        Term(str(n), f"{n}. {vocab.label('target', n, locale)}", f"{base}{query({'target': n})}")
        for n in sorted(numbers)
    ]


def offer_view(offer: Offer, locale: str) -> OfferView:
    """An offer in ``locale``; its terms link to the offers sharing them."""
    org = offer.organisation
    serves = _terms("region", offer.regions_served, locale, "/offers", "region")
    serves += _terms("country", offer.countries_served, locale, "/offers", "country")
    return OfferView(
        id=offer.id,
        title=offer.title,
        summary=summary(offer.description),
        description=offer.description,
        organisation=org.name,
        organisation_id=org.id,
        organisation_country=vocab.label("country", org.country, locale),
        organisation_type=vocab.label("organisation_type", org.org_type, locale),
        website=org.website,
        targets=_target_terms(offer.targets, locale, "/offers"),
        assistance_types=_terms("assistance_type", offer.assistance_types, locale, "/offers", "type"),
        languages=_terms("language", offer.languages, locale, "/offers", "language"),
        serves=serves,
        cost=vocab.label("cost", offer.cost, locale),
        capacity=offer.capacity,
        status=vocab.label("offer_status", offer.status, locale),
        expires_on=offer.expires_on,
        created_at=offer.created_at,
    )


def need_view(need: Need, locale: str) -> NeedView:
    """A need in ``locale``; its terms link to the needs sharing them."""
    return NeedView(
        id=need.id,
        title=need.title,
        summary=summary(need.description),
        description=need.description,
        country=Term(
            need.party, vocab.label("country", need.party, locale), f"/needs{query({'country': need.party})}"
        ),
        organisation=need.organisation.name,
        targets=_target_terms(need.targets, locale, "/needs"),
        assistance_types=_terms("assistance_type", need.assistance_types, locale, "/needs", "type"),
        language=Term(
            need.language,
            vocab.label("language", need.language, locale),
            f"/needs{query({'language': need.language})}",
        ),
        status=vocab.label("need_status", need.status, locale),
        status_code=need.status,
        created_at=need.created_at,
    )


def provider_view(provider: Provider, locale: str) -> ProviderView:
    """A provider of the directory in ``locale``."""
    org: Organisation = provider.organisation
    return ProviderView(
        id=org.id,
        name=org.name,
        org_type=vocab.label("organisation_type", org.org_type, locale),
        country=vocab.label("country", org.country, locale),
        website=org.website,
        active_offers=provider.active_offers,
    )


# ------------------------------------------------------------------------------------------ filters


def filter_params(filters: BrowseFilters) -> dict[str, Any]:
    """The query parameters that select ``filters`` (the names of the API's listings)."""
    return {
        "q": filters.q,
        "target": list(filters.targets),
        "region": filters.region,
        "country": filters.country,
        "type": list(filters.assistance_types),
        "language": list(filters.languages),
        "org_type": list(filters.org_types),
    }


def _option(
    name: str, value: Any, label: str, counts: Mapping[Any, int] | None, chosen: Sequence[Any]
) -> FacetOption:
    count = None if counts is None else counts.get(value, 0)
    return FacetOption(f"f-{name}-{value}".replace(" ", "-"), str(value), label, count, value in chosen)


def facet_groups(kind: str, facets: Facets, filters: BrowseFilters, locale: str) -> list[FacetGroup]:
    """The facets of the ``offers`` or ``needs`` filter form, labelled in ``locale`` (the active language).

    Every target, assistance type and organisation type is listed (with its count, possibly 0); languages are
    the ones some record has, plus the chosen ones; regions are the M49 regions, and the sub-regions of the
    chosen one; countries are those with a record where that is counted (needs), else every country.
    """
    groups = [
        FacetGroup(
            "target",
            _("KMGBF target"),
            "checkbox",
            [
                _option("target", n, f"{n}. {vocab.label('target', n, locale)}", facets.targets, filters.targets)
                for n in vocab.targets()
            ],
        )
    ]
    chosen_region = [filters.region] if filters.region else []
    areas = list(vocab.regions())
    region = region_of(filters.region)
    if region is not None:
        at = areas.index(region) + 1
        areas[at:at] = [s for s in vocab.regions()[region] if s != region]
    regions = [
        _option("region", a, vocab.label("region", a, locale), facets.regions, chosen_region)
        for a in areas
        if facets.regions.get(a) or a in chosen_region or (region is not None and a in vocab.regions()[region])
    ]
    if filters.region and filters.region not in areas:  # Global, chosen through a link
        regions.append(
            _option("region", filters.region, vocab.label("region", filters.region, locale), None, chosen_region)
        )
    groups.append(FacetGroup("region", _("Region"), "radio", regions, any_label=_("Any region"), expanded=True))
    chosen_country = [filters.country] if filters.country else []
    if kind == "needs":
        codes = set(facets.countries) | set(chosen_country)
        counts: Mapping[str, int] | None = facets.countries
    else:
        codes = set(vocab.countries_in(filters.region)) if filters.region else set(vocab.countries())
        codes |= set(chosen_country)
        counts = None
    countries = sorted(
        (_option("country", c, vocab.label("country", c, locale), counts, chosen_country) for c in codes),
        key=lambda o: o.label.casefold(),
    )
    groups.append(FacetGroup("country", _("Country"), "select", countries, any_label=_("Any country")))
    types = _labelled(
        "type",
        "assistance_type",
        vocab.ASSISTANCE_TYPES,
        facets.assistance_types,
        filters.assistance_types,
        locale,
    )
    groups.append(FacetGroup("type", _("Kind of help"), "checkbox", types, expanded=True))
    spoken = sorted(set(facets.languages) | set(filters.languages))
    languages = _labelled("language", "language", spoken, facets.languages, filters.languages, locale)
    languages.sort(key=lambda o: o.label.casefold())
    groups.append(FacetGroup("language", _("Language"), "checkbox", languages))
    if kind == "offers":
        org_types = _labelled(
            "org_type", "organisation_type", vocab.ORGANISATION_TYPES, facets.org_types, filters.org_types, locale
        )
        groups.append(FacetGroup("org_type", _("Type of organisation"), "checkbox", org_types))
    return groups


def _labelled(
    name: str,
    kind: vocab.LabelKind,
    codes: Iterable[str],
    counts: Mapping[str, int],
    chosen: Sequence[str],
    locale: str,
) -> list[FacetOption]:
    """The options of the filter ``name``: one per code, in order, labelled in ``locale``."""
    return [_option(name, code, vocab.label(kind, code, locale), counts, chosen) for code in codes]


def chips(base: str, filters: BrowseFilters, locale: str) -> list[Chip]:
    """The chosen filters, each with the link that removes it (and keeps the others)."""
    params = filter_params(filters)
    out: list[Chip] = []

    def without(name: str, value: Any) -> str:
        rest = dict(params)
        current = rest[name]
        rest[name] = [v for v in current if v != value] if isinstance(current, list) else None
        return f"{base}{query(rest)}"

    if filters.q:
        out.append(Chip(_("Search: %(text)s") % {"text": filters.q}, without("q", filters.q)))
    for n in filters.targets:
        out.append(Chip(f"{n}. {vocab.label('target', n, locale)}", without("target", n)))
    if filters.region:
        out.append(Chip(vocab.label("region", filters.region, locale), without("region", filters.region)))
    if filters.country:
        out.append(Chip(vocab.label("country", filters.country, locale), without("country", filters.country)))
    for t in filters.assistance_types:
        out.append(Chip(vocab.label("assistance_type", t, locale), without("type", t)))
    for code in filters.languages:
        out.append(Chip(vocab.label("language", code, locale), without("language", code)))
    for t in filters.org_types:
        out.append(Chip(vocab.label("organisation_type", t, locale), without("org_type", t)))
    return out


def pagination(
    base: str, params: Mapping[str, Any], *, page: int, total: int, page_size: int = PAGE_SIZE
) -> Pagination:
    """The pagination of a listing at ``page`` (1-based): previous, next, and the pages around this one."""
    pages = max(1, math.ceil(total / page_size))

    def href(number: int) -> str:
        return f"{base}{query({**params, 'page': number if number > 1 else None})}"

    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[PageLink] = []
    for number in shown:
        if links and links[-1].number is not None and number - links[-1].number > 1:
            links.append(PageLink(None, None))
        links.append(PageLink(number, href(number), number == page))
    first = (page - 1) * page_size + 1 if total else 0
    return Pagination(
        page=page,
        pages=pages,
        first_item=first,
        last_item=min(total, page * page_size),
        total=total,
        previous=href(page - 1) if page > 1 else None,
        next=href(page + 1) if page < pages else None,
        links=links if pages > 1 else [],
    )
