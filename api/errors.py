"""One error shape for every error: ``{"error": code, "detail": message, "field"?: name}``.

The mapping table from Pollinate's error tree (``matcher/errors.py``) to HTTP status codes lives here, with one
handler for all of them, plus handlers that put FastAPI's own errors (request validation, unknown routes,
wrong methods) into the same shape. Two of FastAPI's answers are corrected on the way: a missing required
``If-Match`` (the schema says required) is 428 Precondition Required, as RFC 6585 has it, not a validation
error; and a 405 lists in ``Allow`` every method of the path, not only the first route's.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.security import IF_MATCH_REQUIRED
from matcher.errors import (
    AuthenticationError,
    ConflictError,
    HarvestError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    PollinateError,
    PreconditionRequiredError,
    RateLimitedError,
    ServiceBusyError,
    StaleVersionError,
    UnknownTermError,
)

log = logging.getLogger("pollinate.api.errors")

# Most specific first: the first matching entry wins.
STATUS_BY_ERROR: dict[type[PollinateError], tuple[int, str]] = {
    StaleVersionError: (412, "stale_version"),
    InvalidInputError: (422, "invalid_input"),
    NotFoundError: (404, "not_found"),
    ConflictError: (409, "conflict"),
    PreconditionRequiredError: (428, "precondition_required"),
    AuthenticationError: (401, "unauthenticated"),
    PermissionDeniedError: (403, "forbidden"),
    RateLimitedError: (429, "rate_limited"),
    ServiceBusyError: (503, "busy"),
    NotReadyError: (503, "not_ready"),
    HarvestError: (502, "harvest_failed"),
}
_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def error_body(code: str, detail: str, field: str | None = None) -> dict[str, str]:
    """The body of every error response."""
    body = {"error": code, "detail": detail}
    if field is not None:
        body["field"] = field
    return body


async def _pollinate_error(_request: Request, exc: Exception) -> JSONResponse:
    for error_type, (status, code) in STATUS_BY_ERROR.items():
        if isinstance(exc, error_type):
            headers: dict[str, str] = {}
            if isinstance(exc, RateLimitedError | ServiceBusyError):
                headers["Retry-After"] = str(exc.retry_after)
            if isinstance(exc, AuthenticationError):
                headers["WWW-Authenticate"] = "Bearer"
            field = exc.field if isinstance(exc, InvalidInputError) else None
            return JSONResponse(error_body(code, str(exc), field), status_code=status, headers=headers)
    log.error("unmapped error %s", type(exc).__name__)
    return JSONResponse(error_body("internal_error", "unexpected error"), status_code=500)


def _location(loc: tuple[Any, ...]) -> str:
    if len(loc) == 2 and loc[0] == "header":  # FastAPI names headers in lower case
        return "-".join(word.capitalize() for word in str(loc[1]).split("-"))
    # Only the first item says where (a body field may be called "query").
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else loc
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _missing_if_match(err: Any) -> bool:
    return err.get("type") == "missing" and tuple(err.get("loc", ())) == ("header", "if-match")


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if errors and all(_missing_if_match(err) for err in errors):
        return JSONResponse(error_body("precondition_required", IF_MATCH_REQUIRED), status_code=428)
    problems = []
    first_field: str | None = None
    for err in errors:
        where = _location(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            message = "unknown field (not part of this API)"
        if err.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        if _missing_if_match(err):
            message = IF_MATCH_REQUIRED
        problems.append(f"{where}: {message}" if where else message)
        first_field = first_field or where or None
    # The field at fault, without list positions: "targets", "filters.serves", "If-Match".
    field = re.sub(r"\[\d+\]", "", first_field) if first_field else None
    return JSONResponse(error_body("invalid_input", "; ".join(problems), field), status_code=422)


def _allowed_methods(request: Request) -> str:
    """Every method the app serves at the request's path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if context.methods and context.route.matches(request.scope)[0] != Match.NONE:
            methods |= context.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=headers)


async def _unknown_term(_request: Request, exc: Exception) -> JSONResponse:
    """A vocabulary value that reached a service unchecked is still the caller's input error."""
    assert isinstance(exc, UnknownTermError)
    return JSONResponse(error_body("invalid_input", str(exc), exc.field), status_code=422)


async def _stale(_request: Request, _exc: Exception) -> JSONResponse:
    """Another request changed the record between our read and our write (optimistic locking)."""
    detail = "the record changed while this request was updating it; read it again and reapply your change"
    return JSONResponse(error_body("stale_version", detail), status_code=412)


async def _integrity(_request: Request, _exc: Exception) -> JSONResponse:
    """A uniqueness or reference rule of the database refused the write (e.g. a concurrent duplicate)."""
    detail = "the database refused the write: a record with these values exists, or one it refers to is gone"
    return JSONResponse(error_body("conflict", detail), status_code=409)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "unexpected error; it has been logged"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: Pollinate's error tree, request validation, HTTP errors, anything else."""
    app.add_exception_handler(PollinateError, _pollinate_error)
    app.add_exception_handler(UnknownTermError, _unknown_term)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
