"""Property-based API tests (schemathesis, every check of ``st run --checks all``): generated requests for every
operation of the OpenAPI document, valid and invalid, sent with every role's key, never get a server error, an
undocumented status code or a response that violates the documented schema; a request the schema allows is not
refused for its shape, and one it forbids is not accepted. The schema is the contract clients generate code from.

Findings accepted on purpose are in ``schemathesis.toml`` (state-dependent statuses) and ``EXPLAINED_REFUSALS``
below (422s for rules a schema cannot state: between fields, by role, or by the records' state), each with why.

The app runs in-process (schemathesis starts its lifespan) over the demo corpus with the hashing embedder. The
default suite sends a bounded number of cases per operation; the ``slow`` one many more, with the admin too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi.checks import RejectedPositiveData

from api.app import create_app
from embeddings import FakeEmbedder
from matcher.access import accounts
from matcher.access.rules import Principal
from matcher.records import needs
from matcher.records.seed import seed_demo
from matcher.settings import Settings
from models import migrate
from models.repositories import OfferRepository
from tests.postgres import PostgresServer

# 422s for a schema-valid request that are right: the rule depends on more than the request's shape (a pattern of
# the error's detail, and why no schema can state it).
EXPLAINED_REFUSALS: dict[str, str] = {
    r"^Idempotency-Key '.*' was already used for a different request": "state: the key came before with another "
    "request (the IETF Idempotency-Key draft answers 422), and generated keys repeat",
    r"^say which (Party the need is for|organisation offers this)": "role: a Party's need defaults to its country "
    "and a provider's offer to its organisation; staff have neither, so they must say",
    r"^only the secretariat may change an organisation's": "role: a provider edits its organisation's name and "
    "website, not its country or type",
    r"^'query' is for kind 'query'|^a saved-query subscription needs the query text|^rule '\w+'.* needs|"
    r"^the (webhook|email) channel needs|^'(webhook_url|email)' is set but|^'min_verdict' is for kind 'offers'": (
        "between fields of a subscription: which of query, top_n, min_score, min_verdict, webhook_url and email "
        "go with its kind, rule and channels"
    ),
    r"^webhook (URLs?|targets?) ": "settings and network: a webhook target must be https and resolve to public "
    "addresses (POLLINATE_NOTIFICATIONS__WEBHOOK_ALLOW_HTTP / _PRIVATE)",
    r"^this server has no mail server configured": "settings: the email channel needs an SMTP server",
    r"subscriptions, the most allowed": "state: an organisation's number of subscriptions is bounded",
    r"^need \d+ is \w+: the matches of|^match \d+ is \w+: it cannot be|^a need that is \w+ cannot be set to": (
        "state: a decision or status change that the record's current status does not allow"
    ),
    r"^a rejection needs a reason|^only a rejection has a reason": "between fields of a decision: a reason to "
    "reject, none otherwise",
    r"^a rerank_needs job needs 'need_ids'|^'need_ids' is for rerank_needs|^assignment runs after a re-rank": (
        "between fields of a job: which of need_ids and assignment go with its kind"
    ),
    r"^no needs with ids": "state: a job's need ids must exist",
    r"^an offer must serve somewhere": "state: a PATCH that would leave the stored offer serving nowhere",
    r"^a record cannot be merged into itself|^a pair needs two different records": "between fields of a "
    "duplicate decision: the two ids must differ",
    r"^organisations are not merged here": "between fields: organisations are dismissed, never merged (their "
    "needs, offers, users and subscriptions would have to move)",
}
_EXPLAINED = re.compile("|".join(f"(?:{pattern})" for pattern in EXPLAINED_REFUSALS))
CONFIG = SchemathesisConfig.from_path(Path(__file__).with_name("schemathesis.toml"))
ROLES = (None, "party", "provider", "secretariat")


def positive_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, but for the refusals in EXPLAINED_REFUSALS."""
    try:
        return checks.positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]
    except RejectedPositiveData:
        if response.status_code == 422 and _EXPLAINED.search(response.json().get("detail", "")):
            return None
        raise


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


def _settings(data: Path, database_url: str | None = None) -> Settings:
    base = Settings(data_dir=data)
    unlimited = "1000000/minute"
    api = base.api.model_copy(
        update={"write_rate": unlimited, "match_rate": unlimited, "anonymous_rate": unlimited}
    )
    database = base.database.model_copy(update={"url": database_url})
    return base.model_copy(update={"api": api, "database": database})


def _serve(data: Path, database_url: str | None = None) -> Any:
    """The app over the demo corpus, with its keys by role in ``app.state.fuzz_keys``."""
    settings = _settings(data, database_url)
    keys = _prepare(settings)
    app = create_app(settings, embedder=FakeEmbedder(dim=64))  # schemathesis runs its lifespan
    app.state.fuzz_keys = keys
    return app


# The document does not depend on the data: build it from an app that is never started.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(data_dir=Path("/nonexistent"))).openapi(), config=CONFIG
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _serve(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def postgres_app(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app on PostgreSQL, which refuses some text SQLite stores (NUL answered 500 there)."""
    with postgres_server.database() as url:
        yield _serve(tmp_path_factory.mktemp("fuzz-pg"), url)


HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture]


def call_as_every_role(case: Any, app: Any, roles: tuple[str | None, ...]) -> None:
    case.operation.schema.app = app  # where the checks that send requests of their own (ignored_auth) send them
    for role in roles:
        headers = {"Authorization": f"Bearer {app.state.fuzz_keys[role]}"} if role else {}
        case.call_and_validate(
            app=app,
            base_url="http://testserver",
            headers=headers,
            excluded_checks=[checks.positive_data_acceptance],
            additional_checks=[positive_data_accepted],
        )


_TAKE_TURNS = itertools.cycle(ROLES)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=HEALTH, derandomize=True)
def test_the_api_does_what_its_schema_says(case: Any, app: Any) -> None:
    """Generated cases go out with every role's key; the coverage phase's many deterministic cases (each boundary
    and each violation of each parameter) with one role each, in turn, to bound the time."""
    coverage = case.meta is not None and case.meta.phase.name.value == "coverage"
    call_as_every_role(case, app, (next(_TAKE_TURNS),) if coverage else ROLES)


@pytest.mark.slow
@pytest.mark.postgres
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=HEALTH, derandomize=True)
def test_the_api_does_what_its_schema_says_at_length_on_postgresql(case: Any, postgres_app: Any) -> None:
    """Three times the cases, every one with every role's key (the admin's too), on PostgreSQL (about 8 min)."""
    call_as_every_role(case, postgres_app, (*ROLES, "admin"))
