"""The FastAPI application factory and its lifespan.

The lifespan opens the database, loads the embedding model and starts the matching service (the in-memory
index catches up with the database) once per process, before the first request is accepted. Every route that
embeds or searches is a plain ``def`` (run in the thread pool), never CPU work inside ``async def``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI

from api.errors import install_error_handlers
from api.logs import configure_logging, install_request_logging
from api.openapi import install_openapi
from api.routers import (
    assist,
    audit,
    connectors,
    contacts,
    health,
    jobs,
    matching,
    me,
    needs,
    notifications,
    offers,
    organisations,
    review,
    subscriptions,
    vocabularies,
)
from api.security import BodySizeLimit, RateLimits, every_request
from api.web import install_web
from embeddings import Embedder
from embeddings.batching import MicroBatcher
from embeddings.composite import CompositeEmbedder
from matcher.access.accounts import KeyVerifier
from matcher.alerts.reverse import AlertMatcher
from matcher.assist.service import AssistService, saved_models_path
from matcher.engine.service import MatchService, create_embedder
from matcher.engine.store import EmbeddingStore
from matcher.settings import Settings
from models import migrate
from models.db import Database

log = logging.getLogger("pollinate.api")


def serving_embedder(settings: Settings) -> Embedder:
    """The configured embedder, micro-batched: concurrent requests share model calls, and a full queue
    answers 503 with Retry-After instead of growing (``embeddings/batching.py``).

    Each encoder of a composite is micro-batched on its own and the composite rebuilt around them: the engine
    reads a composite's ``parts`` (its own cache entries, centring and fusion per encoder), and one batcher
    around the whole composite hid them, so the service ranked with one 896-d encoder it had no cache for."""
    model = create_embedder(settings)
    wait = settings.embedding.micro_batch_wait_ms
    if wait <= 0:
        return model

    def batched(inner: Embedder) -> Embedder:
        return MicroBatcher(inner, max_batch=32, max_wait_ms=wait, max_queue=settings.embedding.max_queue)

    if isinstance(model, CompositeEmbedder):
        return CompositeEmbedder([batched(part) for part in model.parts])
    return batched(model)


class ServiceHolder:
    """The process's matching service, started once the database schema is current (thread-safe)."""

    def __init__(self, settings: Settings, db: Database, embedder: Embedder | None) -> None:
        self.settings = settings
        self.db = db
        self.embedder = embedder
        self.service: MatchService | None = None
        self.alerts: AlertMatcher | None = None
        self.assist: AssistService | None = None
        self._lock = threading.Lock()

    def start_if_ready(self) -> MatchService | None:
        """The started service, or ``None`` while the schema is not at this version's head."""
        if self.service is not None:
            return self.service
        with self._lock:
            if self.service is None:
                if not migrate.is_current(self.db):
                    log.warning("database schema is not current; run `pollinate db upgrade`")
                    return None
                model = self.embedder if self.embedder is not None else serving_embedder(self.settings)
                service = MatchService.from_settings(self.settings, self.db, model)
                service.start()
                self.alerts = AlertMatcher(service)
                # The assistant reads every encoder (MiniLM and USE-m3 side by side), as `pollinate assist`
                # does: its models are fitted on, and saved for, that model id (docs/assistant.md).
                store = EmbeddingStore(self.db, model)
                self.assist = AssistService(store, model_path=saved_models_path(self.settings))
                self.service = service
        return self.service

    def close(self) -> None:
        if self.service is not None:
            self.service.close()


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    """Build the service for ``settings`` (``embedder``: the configured model unless given, e.g. by tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = settings.open_database()
        app.state.db = db
        holder = ServiceHolder(settings, db, embedder)
        app.state.services = holder
        try:
            # Load the model and the index now if the schema allows it; otherwise on the first request after
            # `pollinate db upgrade` (readiness says which).
            await anyio.to_thread.run_sync(holder.start_if_ready)
            yield
            holder.close()
        finally:
            db.dispose()

    configure_logging(settings.api.log_format)
    app = FastAPI(
        title="Pollinate",
        summary="Needs-offers matchmaking for technical and scientific cooperation on biodiversity.",
        version="0.1.0",
        lifespan=lifespan,
        # Served by api/web/docs.py from local assets (FastAPI's own pages load them from a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.key_verifier = KeyVerifier()
    app.state.rate_limits = RateLimits(settings.api)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    install_request_logging(app)
    app.include_router(health.router)
    for router in (
        me.router,
        vocabularies.router,
        organisations.router,
        needs.router,
        contacts.router,
        offers.router,
        matching.router,
        assist.router,
        subscriptions.router,
        notifications.router,
        jobs.router,
        review.router,
        audit.router,
        connectors.router,
    ):
        app.include_router(router, dependencies=[Depends(every_request)])
    install_openapi(app)
    install_web(app)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the ``POLLINATE_*`` environment."""
    return create_app(Settings())
