"""The FastAPI application factory and its lifespan.

The lifespan opens the database, loads the embedding model and starts the matching service (the in-memory
index catches up with the database) once per process, before the first request is accepted. Every route that
embeds or searches is a plain ``def`` (run in the thread pool), never CPU work inside ``async def``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from api.errors import install_error_handlers
from api.logs import configure_logging, install_request_logging
from api.routers import health, matching, me, needs, offers, organisations, vocabularies
from api.security import RateLimits
from embeddings import Embedder
from matcher.accounts import KeyVerifier
from matcher.service import MatchService, create_embedder
from matcher.settings import Settings


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    """Build the service for ``settings`` (``embedder``: the configured model unless given, e.g. by tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = settings.open_database()
        app.state.db = db
        try:
            model = embedder if embedder is not None else await anyio.to_thread.run_sync(create_embedder, settings)
            service = MatchService.from_settings(settings, db, model)
            await anyio.to_thread.run_sync(service.start)
            app.state.match_service = service
            yield
            service.close()
        finally:
            db.dispose()

    configure_logging(settings.api.log_format)
    app = FastAPI(
        title="Pollinate",
        summary="Needs-offers matchmaking for technical and scientific cooperation on biodiversity.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.key_verifier = KeyVerifier()
    app.state.rate_limits = RateLimits(settings.api)
    install_error_handlers(app)
    install_request_logging(app)
    for router in (
        health.router,
        me.router,
        vocabularies.router,
        organisations.router,
        needs.router,
        offers.router,
        matching.router,
    ):
        app.include_router(router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the ``POLLINATE_*`` environment."""
    return create_app(Settings())
