"""``/v1/organisations``: the directory of providers and requesting institutions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from api.deps import DatabaseDep, SettingsDep
from api.routers.common import (
    ERRORS,
    LIMIT,
    OFFSET,
    IfMatch,
    IfMatchRequired,
    Q,
    RecordId,
    delete_versioned,
    write_versioned,
)
from api.schemas import OrganisationCreate, OrganisationOut, OrganisationUpdate, PageOut, organisation_out
from api.security import (
    IdempotencyDep,
    SignedInDep,
    etag,
    idempotent,
    rate_limited,
)
from matcher.records import organisations
from matcher.records.interchange import CountryCode, OrganisationType

router = APIRouter(prefix="/v1/organisations", tags=["organisations"], responses=ERRORS)


@router.post(
    "",
    status_code=201,
    response_model=OrganisationOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Create an organisation (secretariat)",
)
def post_organisation(
    body: OrganisationCreate, principal: SignedInDep, db: DatabaseDep, settings: SettingsDep, idem: IdempotencyDep
) -> JSONResponse:

    def work(session):  # type: ignore[no-untyped-def]
        org = organisations.create_organisation(session, principal, body.model_dump(exclude_none=True))
        payload = organisation_out(org).model_dump(mode="json")
        return 201, payload, {**etag(org.version), "Location": f"/v1/organisations/{org.id}"}

    return idempotent(db, settings.api.idempotency_hours, principal, idem, work)


@router.get("", response_model=PageOut[OrganisationOut], summary="List organisations")
def list_organisations(
    principal: SignedInDep,
    db: DatabaseDep,
    org_type: Annotated[list[OrganisationType], Query(max_length=8)] = [],  # noqa: B006
    country: Annotated[list[CountryCode], Query(max_length=50)] = [],  # noqa: B006
    q: Q = None,
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[OrganisationOut]:
    with db.transaction(read_only=True) as session:
        items, total = organisations.search_organisations(
            session,
            principal,
            q=q,
            org_types=tuple(org_type),
            countries=tuple(country),
            limit=limit,
            offset=offset,
        )
        return PageOut[OrganisationOut](
            items=[organisation_out(o) for o in items], total=total, limit=limit, offset=offset
        )


@router.get("/{organisation_id}", response_model=OrganisationOut, summary="Read an organisation")
def get_organisation(
    organisation_id: RecordId, principal: SignedInDep, db: DatabaseDep, response: Response
) -> OrganisationOut:
    with db.transaction(read_only=True) as session:
        org = organisations.get_organisation(session, principal, organisation_id)
        response.headers.update(etag(org.version))
        return organisation_out(org)


@router.patch(
    "/{organisation_id}",
    response_model=OrganisationOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Change an organisation (If-Match required)",
)
def patch_organisation(
    organisation_id: RecordId,
    body: OrganisationUpdate,
    principal: SignedInDep,
    db: DatabaseDep,
    response: Response,
    if_match: IfMatchRequired,
) -> OrganisationOut:
    changes = body.model_dump(exclude_unset=True)
    return write_versioned(
        db,
        response,
        if_match,
        lambda session, version: organisation_out(
            organisations.update_organisation(session, principal, organisation_id, changes, version=version)
        ),
        required=True,
    )


@router.delete(
    "/{organisation_id}",
    status_code=204,
    dependencies=[Depends(rate_limited("write"))],
    summary="Delete an organisation (secretariat; only when unused)",
)
def delete_organisation(
    organisation_id: RecordId, principal: SignedInDep, db: DatabaseDep, if_match: IfMatch = None
) -> Response:
    return delete_versioned(
        db,
        if_match,
        lambda session, version: organisations.delete_organisation(
            session, principal, organisation_id, version=version
        ),
    )
