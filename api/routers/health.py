"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import DatabaseDep
from matcher.engine.service import MatchService
from models import migrate

router = APIRouter(tags=["health"])

# Checks that describe the service rather than gate its readiness.
_INFORMATIONAL = frozenset({"offers_indexed", "index_graph"})


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
def ready(request: Request, db: DatabaseDep) -> JSONResponse:
    """Readiness: the database answers, its schema is at this version's head, the model and index are loaded
    and the index has caught up with the database's offer changes (503 with the failing check otherwise)."""
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
    if checks.get("schema") == "ok":
        try:
            holder = request.app.state.services
            service = holder.start_if_ready()
            if not isinstance(service, MatchService):
                raise RuntimeError("not started")
            service.refresh()
            checks["index"] = "ok"
            checks["offers_indexed"] = str(len(service.index))
            # Informational: searches are correct (exact) while the HNSW graph of a large catalogue builds.
            checks["index_graph"] = str(getattr(service.index, "graph_state", "exact only"))
        except Exception as exc:  # a failed load or catch-up means "not ready", with the reason
            checks["index"] = f"not loaded: {type(exc).__name__}"
    ok = all(v == "ok" for k, v in checks.items() if k not in _INFORMATIONAL) and "schema" in checks
    body = Readiness(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
