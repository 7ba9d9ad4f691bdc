"""``/v1/offers``: providers' offers, and the needs an offer could serve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from api.deps import DatabaseDep, MatchServiceDep, SettingsDep
from api.routers.common import (
    ERRORS,
    LIMIT,
    MAX_ID,
    OFFSET,
    IfMatch,
    IfMatchRequired,
    OfferStatus,
    Q,
    RecordId,
    delete_versioned,
    write_versioned,
)
from api.schemas import NeedMatchOut, OfferCreate, OfferOut, OfferUpdate, PageOut, need_match_out, offer_out
from api.security import (
    IdempotencyDep,
    PrincipalDep,
    SignedInDep,
    etag,
    idempotent,
    rate_limited,
)
from matcher.access.rules import Principal
from matcher.records import needs, offers
from matcher.records.interchange import (
    Area,
    AssistanceType,
    CountryCode,
    LanguageCode,
    OrganisationType,
    TargetNumber,
)
from matcher.records.listing import ListingFilters
from models.db import Database

router = APIRouter(prefix="/v1/offers", tags=["offers"], responses=ERRORS)


@router.post(
    "",
    status_code=201,
    response_model=OfferOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Post an offer",
)
def post_offer(
    body: OfferCreate, principal: SignedInDep, db: DatabaseDep, settings: SettingsDep, idem: IdempotencyDep
) -> JSONResponse:
    """A provider posts for its own organisation; the secretariat for any. The offer is matchable through
    every worker as soon as this returns."""

    def work(session):  # type: ignore[no-untyped-def]
        offer = offers.create_offer(session, principal, body.model_dump(exclude_none=True))
        payload = offer_out(offer).model_dump(mode="json")
        return 201, payload, {**etag(offer.version), "Location": f"/v1/offers/{offer.id}"}

    return idempotent(db, settings.api.idempotency_hours, principal, idem, work)


@router.get("", response_model=PageOut[OfferOut], summary="List offers")
def list_offers(
    principal: PrincipalDep,
    db: DatabaseDep,
    target: Annotated[list[TargetNumber], Query(max_length=23, description="Any of these KMGBF targets.")] = [],  # noqa: B006
    region: Annotated[Area | None, Query(description="Offers serving this area.")] = None,
    country: Annotated[CountryCode | None, Query(description="Offers serving this country (ISO3).")] = None,
    type: Annotated[list[AssistanceType], Query(max_length=9, description="Any of these assistance types.")] = [],  # noqa: B006
    status: Annotated[list[OfferStatus], Query(max_length=3)] = [],  # noqa: B006
    language: Annotated[list[LanguageCode], Query(max_length=20)] = [],  # noqa: B006
    org_type: Annotated[list[OrganisationType], Query(max_length=8)] = [],  # noqa: B006
    organisation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Q = None,
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[OfferOut]:
    """Active offers (anyone, no key needed), plus the caller's own in any status (every offer for the
    secretariat)."""
    with db.transaction(read_only=True) as session:
        filters = ListingFilters(
            targets=tuple(target),
            region=region,
            country=country,
            assistance_types=tuple(type),
            statuses=tuple(status),
            languages=tuple(language),
            q=q,
        )
        page = offers.search_offers(
            session,
            principal,
            filters,
            org_types=tuple(org_type),
            organisation_id=organisation_id,
            limit=limit,
            offset=offset,
        )
        return PageOut[OfferOut](
            items=[offer_out(o) for o in page.items], total=page.total, limit=limit, offset=offset
        )


@router.get("/{offer_id}", response_model=OfferOut, summary="Read an offer")
def get_offer(offer_id: RecordId, principal: PrincipalDep, db: DatabaseDep, response: Response) -> OfferOut:
    with db.transaction(read_only=True) as session:
        offer = offers.get_offer(session, principal, offer_id)
        response.headers.update(etag(offer.version))
        return offer_out(offer)


@router.patch(
    "/{offer_id}",
    response_model=OfferOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Change an offer (If-Match required)",
)
def patch_offer(
    offer_id: RecordId,
    body: OfferUpdate,
    principal: SignedInDep,
    db: DatabaseDep,
    response: Response,
    if_match: IfMatchRequired,
) -> OfferOut:
    changes = body.model_dump(exclude_unset=True)
    return write_versioned(
        db,
        response,
        if_match,
        lambda session, version: offer_out(
            offers.update_offer(session, principal, offer_id, changes, version=version)
        ),
        required=True,
    )


def _set_status(
    offer_id: int, status: str, principal: Principal, db: Database, response: Response, if_match: str | None
) -> OfferOut:
    return write_versioned(
        db,
        response,
        if_match,
        lambda session, version: offer_out(
            offers.update_offer(session, principal, offer_id, {"status": status}, version=version)
        ),
        required=False,
    )


@router.post(
    "/{offer_id}/pause", response_model=OfferOut, dependencies=[Depends(rate_limited("write"))], summary="Pause"
)
def pause_offer(
    offer_id: RecordId, principal: SignedInDep, db: DatabaseDep, response: Response, if_match: IfMatch = None
) -> OfferOut:
    """A paused offer is not suggested (or is down-weighted, as configured) until it is resumed."""
    return _set_status(offer_id, "paused", principal, db, response, if_match)


@router.post(
    "/{offer_id}/resume", response_model=OfferOut, dependencies=[Depends(rate_limited("write"))], summary="Resume"
)
def resume_offer(
    offer_id: RecordId, principal: SignedInDep, db: DatabaseDep, response: Response, if_match: IfMatch = None
) -> OfferOut:
    return _set_status(offer_id, "active", principal, db, response, if_match)


@router.delete(
    "/{offer_id}", status_code=204, dependencies=[Depends(rate_limited("write"))], summary="Delete an offer"
)
def delete_offer(
    offer_id: RecordId, principal: SignedInDep, db: DatabaseDep, if_match: IfMatch = None
) -> Response:
    return delete_versioned(
        db, if_match, lambda session, version: offers.delete_offer(session, principal, offer_id, version=version)
    )


@router.get(
    "/{offer_id}/needs",
    response_model=list[NeedMatchOut],
    dependencies=[Depends(rate_limited("match"))],
    summary="Open needs this offer could serve",
)
def offer_needs(
    offer_id: RecordId,
    principal: SignedInDep,
    db: DatabaseDep,
    service: MatchServiceDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[NeedMatchOut]:
    """Open needs (public ones; every one for the secretariat) ranked by how well this offer fits them, with
    the same signals and weights as forward matching (except BM25 and feedback, which depend on the rest of the
    catalogue). For the offer's organisation and the secretariat."""
    with db.transaction(read_only=True) as session:
        offers.owned_offer(session, principal, offer_id)
        candidates = needs.open_needs_visible_to(session, principal)
    return [need_match_out(m) for m in service.rank_needs(offer_id, candidates, k=k)]
