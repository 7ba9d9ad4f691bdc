"""Offers: create, read, list, change, pause and delete, with the authorization rules of ``matcher.access``.

Functions take the caller's session (they never commit) and the caller; ``values`` are already validated by an
input model and carry only the fields the caller set. Every write goes through the ORM, so the offer change
sequence advances and every worker's index catches up before its next match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from matcher.access import audit
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.engine.filters import serving_places
from matcher.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from matcher.records.listing import ListingFilters
from matcher.records.needs import check_version
from models.orm import Offer
from models.repositories import OfferListing, OfferRepository, OrganisationRepository, Page, list_offers

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_TAGS = frozenset({"targets", "assistance_types", "languages", "regions_served", "countries_served"})
_EDITABLE = frozenset({"title", "description", "cost", "capacity", "status", "expires_on"})


def create_offer(session: Session, principal: Principal, values: Mapping[str, Any]) -> Offer:
    """A new offer; a provider posts for its own organisation (``organisation_id`` defaults to it)."""
    access.require_signed_in(principal)
    if not principal.is_staff and principal.role != "provider":
        raise PermissionDeniedError("only providers and the secretariat post offers")
    organisation_id = values.get("organisation_id") or principal.organisation_id
    if organisation_id is None:
        raise InvalidInputError(
            "say which organisation offers this: give organisation_id", field="organisation_id"
        )
    access.check_create_offer(principal, organisation_id)
    audit.act_as(session, principal)
    if OrganisationRepository(session).get(organisation_id) is None:
        raise NotFoundError(f"no organisation with id {organisation_id}")
    _check_serves_somewhere(values.get("regions_served", []), values.get("countries_served", []))
    repo = OfferRepository(session)
    external_id = values.get("external_id")
    if external_id and repo.get_by_external_id(external_id):
        raise ConflictError(f"an offer with external id {external_id!r} exists; choose another one")
    offer = Offer(
        organisation_id=organisation_id,
        external_id=external_id,
        **{k: v for k, v in values.items() if k in _EDITABLE},
    )
    for name in _TAGS:
        setattr(offer, name, sorted(values.get(name, [])))
    repo.add(offer)
    session.flush()  # assigns the id (and stamps the offer change sequence)
    return offer


def _check_serves_somewhere(regions: list[str], countries: list[str]) -> None:
    if not regions and not countries:
        raise InvalidInputError(
            "an offer must serve somewhere: give regions_served (e.g. ['Global']) or countries_served",
            field="regions_served",
        )


def get_offer(session: Session, principal: Principal, offer_id: int) -> Offer:
    return access.check_read_offer(principal, OfferRepository(session).get(offer_id), offer_id)


def owned_offer(session: Session, principal: Principal, offer_id: int) -> Offer:
    """An offer the caller may change (and whose matching needs it may see)."""
    return access.check_change_offer(principal, OfferRepository(session).get(offer_id), offer_id)


def search_offers(
    session: Session,
    principal: Principal,
    filters: ListingFilters,
    *,
    org_types: tuple[str, ...] = (),
    organisation_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Offer]:
    """Offers the caller may see that match every condition of ``filters``, of these organisation types and
    of this organisation.

    Geography as in matching: an offer serves a region when it lists Global, that region, the region containing
    it or a sub-region or country inside it; it serves a country when it lists the country or an area holding it.
    """
    listing = offer_listing(principal, filters, org_types=org_types, organisation_id=organisation_id)
    return list_offers(session, listing, limit=limit, offset=offset)


def offer_listing(
    principal: Principal,
    filters: ListingFilters,
    *,
    org_types: tuple[str, ...] = (),
    organisation_id: int | None = None,
) -> OfferListing:
    """The conditions of :func:`search_offers`, with the caller's visibility."""
    visible_all, visible_org = access.visible_offer_scope(principal)
    return OfferListing(
        visible_all=visible_all,
        visible_organisation=visible_org,
        targets=filters.targets,
        places=tuple(place_condition(place) for place in (filters.region, filters.country) if place),
        assistance_types=filters.assistance_types,
        statuses=filters.statuses,
        languages=filters.languages,
        org_types=org_types,
        organisation_id=organisation_id,
        q=filters.q,
    )


def place_condition(place: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The areas and countries an offer may list to serve ``place`` (an area or an alpha-3 country), sorted."""
    areas, countries = serving_places(place)
    return tuple(sorted(areas)), tuple(sorted(countries))


def update_offer(
    session: Session, principal: Principal, offer_id: int, changes: Mapping[str, Any], *, version: int | None
) -> Offer:
    """Apply ``changes`` to an offer the caller owns (``status``: active, paused or expired)."""
    offer = owned_offer(session, principal, offer_id)
    check_version("offer", offer_id, offer.version, version)
    audit.act_as(session, principal)
    for name, value in changes.items():
        if name in _TAGS:
            setattr(offer, name, sorted(value))
        elif name in _EDITABLE:
            setattr(offer, name, value)
        else:
            raise InvalidInputError(f"{name} cannot be changed", field=name)
    _check_serves_somewhere(offer.regions_served, offer.countries_served)
    session.flush()
    return offer


def delete_offer(session: Session, principal: Principal, offer_id: int, *, version: int | None) -> None:
    offer = owned_offer(session, principal, offer_id)
    check_version("offer", offer_id, offer.version, version)
    audit.act_as(session, principal)
    OfferRepository(session).delete(offer)
