"""Structured request logs (structlog): one event per request with a request id, never a key or a body.

Each request gets an id (the caller's ``X-Request-ID`` when it is a short token, else a new one), echoed in the
response and bound to every log line of the request. The access line records method, path, status, duration,
and the caller's role and public key id; headers, query strings and bodies are never logged, so neither API keys
nor personal data reach the logs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request
from starlette.responses import Response

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

log = structlog.get_logger("pollinate.api")


def configure_logging(fmt: str) -> None:
    """JSON lines (production) or a readable console format; standard-library logs go through the same chain."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # tracebacks as one "exception" field
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    logger = logging.getLogger("pollinate")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def install_request_logging(app: FastAPI) -> None:
    """Request ids and one access log line per request."""

    @app.middleware("http")
    async def request_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            principal = getattr(request.state, "principal", None)
            log.info(
                "request",
                method=request.method,
                path=request.url.path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                role=getattr(principal, "role", "anonymous"),
                key_id=getattr(principal, "key_id", None),
            )
            # The request id stays bound: an unexpected error is logged after this, by the outermost handler.
            # Each request starts by clearing it (and runs in a context of its own).
