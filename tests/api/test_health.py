"""The service skeleton: liveness, readiness and the error shape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from embeddings import FakeEmbedder
from matcher.settings import Settings
from models import migrate


def test_health_and_ready_after_migration(settings: Settings) -> None:
    db = settings.open_database()
    migrate.upgrade(db)
    db.dispose()
    with TestClient(create_app(settings, embedder=FakeEmbedder(dim=32))) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200
        checks = {
            "database": "ok",
            "schema": "ok",
            "index": "ok",
            "offers_indexed": "0",
            "index_graph": "exact only",  # informational: a catalogue this small never needs the HNSW graph
        }
        assert ready.json() == {"status": "ready", "checks": checks}


def test_not_ready_until_the_schema_is_migrated(settings: Settings) -> None:
    with TestClient(create_app(settings, embedder=FakeEmbedder(dim=32))) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "pollinate db upgrade" in ready.json()["checks"]["schema"]
        match = client.post("/v1/match", json={"text": "anything at all"})
        assert match.status_code in (401, 503)
        db = settings.open_database()
        migrate.upgrade(db)
        db.dispose()
        # Once migrated, the same process loads its index on demand and becomes ready.
        assert client.get("/ready").status_code == 200


def test_unknown_routes_are_404(settings: Settings) -> None:
    with TestClient(create_app(settings, embedder=FakeEmbedder(dim=32))) as client:
        assert client.get("/nope").status_code == 404
