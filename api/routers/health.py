"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import DatabaseDep
from models import migrate

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/health", response_model=Health)
def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(db: DatabaseDep) -> JSONResponse:
    """Readiness: the database answers and its schema is at this version's head (503 otherwise)."""
    checks: dict[str, str] = {}
    try:
        db.ping()
        checks["database"] = "ok"
        current, head = migrate.current_revision(db), migrate.head_revision()
        checks["schema"] = (
            "ok" if current == head else f"at {current}, expected {head}: run `pollinate db upgrade`"
        )
    except Exception as exc:  # any failure to reach the database means "not ready"
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values()) and "schema" in checks
    body = Readiness(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
