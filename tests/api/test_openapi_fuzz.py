"""Property-based API tests (schemathesis): generated requests for every operation of the OpenAPI document,
sent with every role's key, never get a server error, an undocumented status code, or a response that violates
the documented schema.

The app runs in-process (schemathesis starts its lifespan) over the demo corpus with the hashing embedder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api.app import create_app
from embeddings import FakeEmbedder
from matcher.access import accounts
from matcher.access.rules import Principal
from matcher.records import needs
from matcher.records.seed import seed_demo
from matcher.settings import Settings
from models import migrate
from models.repositories import OfferRepository

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
KEYS: dict[str, str] = {}


def _prepare(settings: Settings) -> dict[str, str]:
    """Demo corpus, one key per role, and a confidential need (so object-level rules are exercised)."""
    db = settings.open_database()
    try:
        migrate.upgrade(db)
        seed_demo(db)
        keys = {}
        with db.transaction() as session:
            org_id = OfferRepository(session).get(1).organisation_id  # type: ignore[union-attr]
            scopes: dict[str, dict[str, Any]] = {
                "party": {"country": "KEN"},
                "provider": {"organisation_id": org_id},
                "secretariat": {},
                "admin": {},
            }
            for role, scope in scopes.items():
                user = accounts.create_user(session, name=f"fuzz-{role}", role=role, **scope)
                keys[role] = accounts.issue_key(session, user).secret
            plan = needs.plan_need(
                session,
                Principal(role="party", user_id=1, country="KEN"),
                {
                    "title": "Confidential survey of pangolin trafficking routes",
                    "description": "We need discreet help to map trafficking routes for pangolin scales.",
                    "targets": [5],
                    "assistance_types": ["technical_advice"],
                    "visibility": "confidential",
                },
            )
            needs.create_need(session, plan)
        return keys
    finally:
        db.dispose()


def _settings(data: Path) -> Settings:
    base = Settings(data_dir=data)
    unlimited = "1000000/minute"
    api = base.api.model_copy(
        update={"write_rate": unlimited, "match_rate": unlimited, "anonymous_rate": unlimited}
    )
    return base.model_copy(update={"api": api})


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = _settings(Path(tmp_path_factory.mktemp("fuzz")))
    KEYS.update(_prepare(settings))
    return create_app(settings, embedder=FakeEmbedder(dim=64))  # schemathesis runs its lifespan


# The document does not depend on the data: build it from an app that is never started.
schema = schemathesis.openapi.from_dict(create_app(Settings(data_dir=Path("/nonexistent"))).openapi())


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
def test_no_server_error_and_every_response_matches_the_schema(case: Any, app: Any) -> None:
    for role in (None, "party", "provider", "secretariat", "admin"):
        headers = {"Authorization": f"Bearer {KEYS[role]}"} if role else {}
        case.call_and_validate(app=app, base_url="http://testserver", headers=headers, checks=CHECKS)
