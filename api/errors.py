"""One error shape for every error: ``{"error": code, "detail": message, "field"?: name}``.

The mapping table from Pollinate's error tree (``matcher/errors.py``) to HTTP status codes lives here, with one
handler for all of them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from matcher.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    PollinateError,
)

STATUS_BY_ERROR: dict[type[PollinateError], tuple[int, str]] = {
    InvalidInputError: (422, "invalid_input"),
    NotFoundError: (404, "not_found"),
    ConflictError: (409, "conflict"),
    NotReadyError: (503, "not_ready"),
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
            return JSONResponse(error_body(code, str(exc)), status_code=status)
    return JSONResponse(error_body("internal_error", "unexpected error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handler for Pollinate's error tree."""
    app.add_exception_handler(PollinateError, _pollinate_error)
