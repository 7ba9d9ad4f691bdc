"""``POST /v1/match``: ad-hoc matching (text and filters in, ranked providers out; nothing is stored)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import MatchServiceDep
from api.routers.common import ERRORS, filters_from
from api.schemas import MatchRequest, Ranking, ranking_out
from api.security import SignedInDep, rate_limited
from matcher.engine.query import NeedQuery
from matcher.engine.texts import detect_language

router = APIRouter(prefix="/v1", tags=["matching"], responses=ERRORS)


@router.post(
    "/match",
    response_model=Ranking,
    dependencies=[Depends(rate_limited("match"))],
    summary="Rank providers for a text (nothing stored)",
)
def match(body: MatchRequest, principal: SignedInDep, service: MatchServiceDep) -> Ranking:
    """The need's fields (targets, country, assistance types, language) are ranking signals; ``filters`` are
    hard filters. The language is detected from the text when not given."""
    need = NeedQuery(
        title="",
        description=body.text,
        targets=tuple(body.targets),
        assistance_types=tuple(body.assistance_types),
        language=body.language or detect_language(body.text),
        party=body.country,
        organisation_id=principal.organisation_id,
    )
    return ranking_out(service.match(need, k=body.k, filters=filters_from(body.filters)))
