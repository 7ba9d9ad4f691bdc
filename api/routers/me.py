"""``GET /v1/me``: who the API key belongs to."""

from __future__ import annotations

from fastapi import APIRouter

from api.routers.common import ERRORS
from api.schemas import Me
from api.security import PrincipalDep

router = APIRouter(prefix="/v1", tags=["me"], responses=ERRORS)


@router.get("/me", response_model=Me, summary="The caller")
def me(principal: PrincipalDep) -> Me:
    """The role, country or organisation the caller acts for (``anonymous`` without a key)."""
    return Me(
        role=principal.role,
        user_id=principal.user_id,
        country=principal.country,
        organisation_id=principal.organisation_id,
        key_id=principal.key_id,
    )
