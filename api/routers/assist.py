"""``POST /v1/assist/need``: the need-writing assistant (draft in; suggestions, missing information and similar
needs out; nothing is stored)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import AssistServiceDep, DatabaseDep
from api.routers.common import ERRORS
from api.schemas import AssistNeedOut, AssistNeedRequest, assist_need_out
from api.security import SignedInDep, rate_limited
from matcher.assist.service import Draft

router = APIRouter(prefix="/v1/assist", tags=["assistant"], responses=ERRORS)


@router.post(
    "/need",
    response_model=AssistNeedOut,
    dependencies=[Depends(rate_limited("match"))],
    summary="Suggestions, missing information and similar needs for a draft need (nothing stored)",
)
def assist_need(
    body: AssistNeedRequest, principal: SignedInDep, db: DatabaseDep, assist: AssistServiceDep
) -> AssistNeedOut:
    """For Parties (drafting for their own country) and the secretariat. Similar needs are those of the
    Party and its sub-region that the caller may read; prompts are in the draft's language."""
    draft = Draft(
        title=body.title,
        description=body.description,
        party=body.party,
        targets=tuple(body.targets),
        assistance_types=tuple(body.assistance_types),
        language=body.language,
    )
    with db.transaction(read_only=True) as session:
        assistance = assist.assist_need(session, principal, draft)
    return assist_need_out(assistance)
