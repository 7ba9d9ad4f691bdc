"""The service skeleton: liveness, readiness and the error shape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from matcher.settings import Settings
from models import migrate


def test_health_and_ready_after_migration(settings: Settings) -> None:
    db = settings.open_database()
    migrate.upgrade(db)
    db.dispose()
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


def test_not_ready_until_the_schema_is_migrated(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "pollinate db upgrade" in ready.json()["checks"]["schema"]


def test_unknown_routes_are_404(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/nope").status_code == 404
