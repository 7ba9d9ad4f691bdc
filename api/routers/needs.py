"""``/v1/needs``: Parties' needs, their ranked providers and their stored suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from api.deps import DatabaseDep, MatchServiceDep, NeedServiceDep, SettingsDep
from api.routers.common import (
    ERRORS,
    LIMIT,
    OFFSET,
    IfMatch,
    IfMatchRequired,
    NeedStatus,
    Q,
    RecordId,
    delete_versioned,
    match_filter_params,
    write_versioned,
)
from api.schemas import (
    NeedCreate,
    NeedOut,
    NeedPosted,
    NeedUpdate,
    PageOut,
    Ranking,
    StoredRanking,
    need_out,
    ranking_out,
    stored_match_out,
)
from api.security import (
    IdempotencyDep,
    SignedInDep,
    etag,
    idempotent,
    if_match_version,
    rate_limited,
    replay,
)
from matcher.engine.query import MatchFilters
from matcher.records import needs
from matcher.records.interchange import Area, AssistanceType, CountryCode, LanguageCode, TargetNumber
from matcher.records.listing import ListingFilters
from matcher.review.suggestions import stored_suggestions

router = APIRouter(prefix="/v1/needs", tags=["needs"], responses=ERRORS)


@router.post(
    "",
    status_code=201,
    response_model=NeedPosted,
    dependencies=[Depends(rate_limited("write", "match"))],
    summary="Post a need and get its ranked providers",
)
def post_need(
    body: NeedCreate,
    principal: SignedInDep,
    db: DatabaseDep,
    service: NeedServiceDep,
    settings: SettingsDep,
    idem: IdempotencyDep,
    k: Annotated[int, Query(ge=1, le=100, description="How many providers to rank and store.")] = 10,
) -> JSONResponse:
    """Store the need and answer with it and its ranked providers, which are stored as its suggested matches
    (with score components and explanations) for the secretariat to review. Providers whose subscriptions
    the need satisfies are notified (written to the outbox in the same transaction as the need)."""
    hours = settings.api.idempotency_hours
    if (seen := replay(db, hours, principal, idem)) is not None:
        return seen
    with db.transaction(read_only=True) as session:
        prepared = service.prepare_post(session, principal, body.model_dump(exclude_none=True), k=k)

    def work(session):  # type: ignore[no-untyped-def]
        posted = service.post(session, prepared)
        need = posted.need
        payload = NeedPosted(need=need_out(need), ranking=ranking_out(posted.ranking)).model_dump(mode="json")
        return 201, payload, {**etag(need.version), "Location": f"/v1/needs/{need.id}"}

    return idempotent(db, hours, principal, idem, work)


@router.get("", response_model=PageOut[NeedOut], summary="List needs")
def list_needs(
    principal: SignedInDep,
    db: DatabaseDep,
    target: Annotated[list[TargetNumber], Query(max_length=23, description="Any of these KMGBF targets.")] = [],  # noqa: B006
    region: Annotated[Area | None, Query(description="Parties inside this area.")] = None,
    country: Annotated[CountryCode | None, Query(description="This Party (ISO3).")] = None,
    type: Annotated[list[AssistanceType], Query(max_length=9, description="Any of these assistance types.")] = [],  # noqa: B006
    status: Annotated[list[NeedStatus], Query(max_length=5)] = [],  # noqa: B006
    language: Annotated[list[LanguageCode], Query(max_length=20)] = [],  # noqa: B006
    q: Q = None,
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[NeedOut]:
    """Needs the caller may see: public ones, plus its own confidential ones (every need for the secretariat)."""
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
        page = needs.search_needs(session, principal, filters, limit=limit, offset=offset)
        return PageOut[NeedOut](
            items=[need_out(n) for n in page.items], total=page.total, limit=limit, offset=offset
        )


@router.get("/{need_id}", response_model=NeedOut, summary="Read a need")
def get_need(need_id: RecordId, principal: SignedInDep, db: DatabaseDep, response: Response) -> NeedOut:
    with db.transaction(read_only=True) as session:
        need = needs.get_need(session, principal, need_id)
        response.headers.update(etag(need.version))
        return need_out(need)


@router.patch(
    "/{need_id}",
    response_model=NeedOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Change a need (If-Match required)",
)
def patch_need(
    need_id: RecordId,
    body: NeedUpdate,
    principal: SignedInDep,
    db: DatabaseDep,
    service: NeedServiceDep,
    response: Response,
    if_match: IfMatchRequired,
) -> NeedOut:
    """A change to the text, targets, assistance types, language, visibility or status notifies the
    subscriptions the changed need satisfies and did not satisfy before."""
    version = if_match_version(if_match, required=True)
    changes = body.model_dump(exclude_unset=True)
    with db.transaction(read_only=True) as session:
        prepared = service.prepare_change(session, principal, need_id, changes, version=version)
    with db.transaction() as session:
        out = need_out(service.change(session, principal, prepared))
    response.headers.update(etag(out.version))
    return out


@router.post(
    "/{need_id}/withdraw",
    response_model=NeedOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Withdraw a need",
)
def withdraw_need(
    need_id: RecordId, principal: SignedInDep, db: DatabaseDep, response: Response, if_match: IfMatch = None
) -> NeedOut:
    return write_versioned(
        db,
        response,
        if_match,
        lambda session, version: need_out(
            needs.update_need(session, principal, need_id, {"status": "withdrawn"}, version=version)
        ),
        required=False,
    )


@router.delete(
    "/{need_id}", status_code=204, dependencies=[Depends(rate_limited("write"))], summary="Delete a need"
)
def delete_need(need_id: RecordId, principal: SignedInDep, db: DatabaseDep, if_match: IfMatch = None) -> Response:
    return delete_versioned(
        db, if_match, lambda session, version: needs.delete_need(session, principal, need_id, version=version)
    )


@router.get(
    "/{need_id}/matches",
    response_model=StoredRanking | Ranking,
    dependencies=[Depends(rate_limited("match"))],
    summary="The need's ranked providers: stored suggestions, or re-ranked now",
)
def need_matches(
    need_id: RecordId,
    principal: SignedInDep,
    db: DatabaseDep,
    service: MatchServiceDep,
    filters: Annotated[MatchFilters, Depends(match_filter_params)],
    rerank: Annotated[
        bool, Query(description="Rank again now over the current offers (with `k` and the filters).")
    ] = False,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> StoredRanking | Ranking:
    """The suggestions stored when the need was posted (with their review status) or, with ``rerank=true``, a
    fresh ranking (not stored). For the need's Party and the secretariat."""
    with db.transaction(read_only=True) as session:
        need = needs.owned_need(session, principal, need_id)
        if not rerank:
            stored = stored_suggestions(session, need.id, reader=principal)
            return StoredRanking(matches=[stored_match_out(m) for m in stored][:k], source="stored")
    query = service.stored_need(need_id)
    return ranking_out(service.match(query, k=k, filters=filters))
