"""``/v1/review/queue`` and ``/v1/matches``: the secretariat reviews suggested matches and decides on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import DatabaseDep
from api.routers.common import (
    ERRORS,
    LIMIT,
    MAX_ID,
    OFFSET,
    IfMatchRequired,
    MatchStatus,
    NeedStatusOfMatch,
    RecordId,
    ReviewSort,
)
from api.schemas import AuditEventOut, DecisionIn, PageOut, ReviewMatchOut, audit_event_out, review_match_out
from api.security import SignedInDep, etag, if_match_version, rate_limited
from matcher.access import audit
from matcher.records.interchange import Area, TargetNumber
from matcher.records.needs import OPEN_STATUSES
from matcher.review import workflow as review

router = APIRouter(prefix="/v1", tags=["review"], responses=ERRORS)


@router.get("/review/queue", response_model=PageOut[ReviewMatchOut], summary="Suggested matches awaiting review")
def review_queue(
    principal: SignedInDep,
    db: DatabaseDep,
    status: Annotated[
        list[MatchStatus], Query(max_length=6, description="Match statuses (default: suggested and shortlisted).")
    ] = [],  # noqa: B006
    need_status: Annotated[
        list[NeedStatusOfMatch], Query(max_length=5, description="Need statuses (default: open and under_review).")
    ] = [],  # noqa: B006
    sort: Annotated[
        ReviewSort,
        Query(
            description="score, need_age (newest need first), region (the Party's sub-region) or target (the "
            "need's lowest KMGBF target); a leading '-' reverses (-need_age: oldest need first).",
        ),
    ] = "-score",
    region: Annotated[Area | None, Query(description="Needs of Parties inside this area.")] = None,
    target: Annotated[list[TargetNumber], Query(max_length=23, description="Needs on any of these targets.")] = [],  # noqa: B006
    need_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[ReviewMatchOut]:
    """Each match with its need, its provider, the score, its components and the explanation, and the
    decisions its status allows. The secretariat and admins only."""
    with db.transaction(read_only=True) as session:
        rows, total = review.review_queue(
            session,
            principal,
            statuses=tuple(status) or review.QUEUE_STATUSES,
            need_statuses=tuple(need_status) or OPEN_STATUSES,
            sort=sort,
            region=region,
            targets=tuple(target),
            need_id=need_id,
            offer_id=offer_id,
            limit=limit,
            offset=offset,
        )
        return PageOut[ReviewMatchOut](
            items=[review_match_out(r) for r in rows], total=total, limit=limit, offset=offset
        )


@router.get("/matches/{match_id}", response_model=ReviewMatchOut, summary="Read a suggested match")
def get_match(match_id: RecordId, principal: SignedInDep, db: DatabaseDep, response: Response) -> ReviewMatchOut:
    """The secretariat and admins only; the ETag is the version a decision must name in If-Match."""
    with db.transaction(read_only=True) as session:
        out = review_match_out(review.get_match(session, principal, match_id))
    response.headers.update(etag(out.version))
    return out


@router.post(
    "/matches/{match_id}/decision",
    response_model=ReviewMatchOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Decide on a suggested match (If-Match required)",
)
def decide(
    match_id: RecordId,
    body: DecisionIn,
    principal: SignedInDep,
    db: DatabaseDep,
    response: Response,
    if_match: IfMatchRequired,
) -> ReviewMatchOut:
    """Shortlist, accept, reject (with a reason), contact, complete or reopen. A decision the match's status
    does not allow is refused (422) naming the allowed ones; the need moves along with it (under review when a
    provider is shortlisted, matched when one is accepted). The secretariat and admins only."""
    version = if_match_version(if_match, required=True)
    decision = review.Decision(action=body.action, reason=body.reason, note=body.note)
    with db.transaction() as session:
        out = review_match_out(review.decide(session, principal, match_id, decision, version=version))
    response.headers.update(etag(out.version))
    return out


@router.get(
    "/matches/{match_id}/history", response_model=list[AuditEventOut], summary="A suggested match's decisions"
)
def match_history(match_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> list[AuditEventOut]:
    """Every decision on the match, oldest first, from the audit log. The secretariat and admins only."""
    with db.transaction(read_only=True) as session:
        review.get_match(session, principal, match_id)
        return [audit_event_out(e) for e in audit.history(session, principal, "match", match_id)]
