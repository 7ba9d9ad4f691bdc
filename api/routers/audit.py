"""``/v1/audit``: the append-only audit log, as JSON pages or as a CSV export (the secretariat and admins).

There is no route that changes the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.deps import DatabaseDep
from api.routers.common import ERRORS, JSON_ERRORS, LIMIT, MAX_ID, OFFSET, AuditAction, AuditEntity, Timestamp
from api.schemas import AuditEventOut, PageOut, audit_event_out
from api.security import SignedInDep
from matcher.access import audit
from models.repositories import AuditListing

router = APIRouter(prefix="/v1", tags=["audit"], responses=ERRORS)


def audit_filters(
    entity: Annotated[
        AuditEntity | None, Query(description="need, offer, match, organisation or connector_run.")
    ] = None,
    entity_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="The record's id.")] = None,
    actor_user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Changes by this user.")] = None,
    action: Annotated[
        AuditAction | None, Query(description="create, update, delete, decision, harvest, merge or dismiss.")
    ] = None,
    since: Annotated[
        Timestamp | None, Query(description="At or after this time (RFC 3339, e.g. 2026-01-31T09:00:00Z).")
    ] = None,
    until: Annotated[Timestamp | None, Query(description="Before this time (RFC 3339).")] = None,
) -> AuditListing:
    """Conditions on audit events given as query parameters (vocabulary values checked, 422 naming the field)."""
    return AuditListing(
        entity=entity,
        entity_id=entity_id,
        actor_user_id=actor_user_id,
        action=action,
        since=since,
        until=until,
    )


Filters = Annotated[AuditListing, Depends(audit_filters)]


@router.get("/audit", response_model=PageOut[AuditEventOut], summary="The audit log, newest first")
def list_audit(
    principal: SignedInDep, db: DatabaseDep, filters: Filters, limit: LIMIT = 50, offset: OFFSET = 0
) -> PageOut[AuditEventOut]:
    """Every change to needs, offers and organisations and every review decision: who, when, what, and each
    changed field before and after."""
    with db.transaction(read_only=True) as session:
        rows, total = audit.list_events(session, principal, filters, limit=limit, offset=offset)
        return PageOut[AuditEventOut](
            items=[audit_event_out(e) for e in rows], total=total, limit=limit, offset=offset
        )


@router.get(
    "/audit.csv",
    response_class=StreamingResponse,
    responses={
        **JSON_ERRORS,
        200: {
            "description": "The matching events, newest first; `changes` is a JSON object per row.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
    summary="The audit log as CSV",
)
def audit_csv(principal: SignedInDep, db: DatabaseDep, filters: Filters) -> StreamingResponse:
    """The same filters as ``/v1/audit``, every matching event (no paging), streamed."""
    audit.check_reader(principal)  # refused before the response starts, so that the refusal is a status code

    def lines() -> Iterator[str]:
        with db.transaction(read_only=True) as session:
            yield from audit.csv_lines(audit.iter_events(session, principal, filters))

    return StreamingResponse(
        lines(), media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="audit.csv"'}
    )
