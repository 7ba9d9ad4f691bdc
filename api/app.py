"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routers import health
from matcher.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """Build the service for ``settings``; the database is opened by the lifespan, once per process."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = settings.open_database()
        app.state.db = db
        try:
            yield
        finally:
            db.dispose()

    app = FastAPI(
        title="Pollinate",
        summary="Needs-offers matchmaking for technical and scientific cooperation on biodiversity.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the ``POLLINATE_*`` environment."""
    return create_app(Settings())
