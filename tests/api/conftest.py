"""Fixtures of the API tests: an app over the demo corpus, one API key per role, and a few known records.

The app is module-scoped: starting it seeds 172 offers and 42 needs and issues six argon2-hashed keys, which is
worth doing once per test module. Tests that change records create their own (``Api.new_need`` and friends), so
that they can run in any order and on their own.

Roles, as the authorization matrix names them:

- ``anonymous``: no ``Authorization`` header;
- ``party_ken`` / ``party_bra``: Parties acting for Kenya / Brazil (the fixture needs are Kenya's);
- ``provider_a`` / ``provider_b``: providers of organisation A (owner of the fixture offers) and of another one;
- ``secretariat`` / ``admin``: staff.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from api.app import create_app
from embeddings import FakeEmbedder
from matcher.access import accounts
from matcher.access.rules import Principal
from matcher.records import needs, offers, organisations
from matcher.records.seed import seed_demo
from matcher.settings import Settings
from models import migrate
from models.db import Database, sqlite_url
from models.repositories import OfferRepository

ROLES = ("anonymous", "party_ken", "party_bra", "provider_a", "provider_b", "secretariat", "admin")
STAFF = ("secretariat", "admin")
# The default limits would refuse a test module's worth of requests from one key.
GENEROUS_RATES = {"write_rate": "100000/minute", "match_rate": "100000/minute", "anonymous_rate": "100000/minute"}
# Seeded demo offers whose organisations play organisation A and organisation B.
ORG_A_OFFER, ORG_B_OFFER = "demo-o001", "demo-o002"

NEED_BODY: dict[str, Any] = {
    "title": "Mapping wetlands for a protected area network",
    "description": (
        "We need help mapping wetlands and peatlands in the lake basin and designing a network of protected "
        "areas and corridors, with training for county GIS officers."
    ),
    "targets": [1, 3],
    "assistance_types": ["technical_advice", "training"],
}
OFFER_BODY: dict[str, Any] = {
    "title": "Wetland inventory and protected area design",
    "description": (
        "We map wetlands with satellite imagery and field surveys, then design protected area networks with "
        "national agencies, and train their GIS staff to keep the maps current."
    ),
    "targets": [1, 3],
    "assistance_types": ["technical_advice", "training"],
    "languages": ["en", "fr"],
    "regions_served": ["Africa"],
}
STAFF_PRINCIPAL = Principal(role="secretariat")


def unique(prefix: str = "") -> str:
    """A marker no other record contains (to find the records a test made)."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


# Loopback webhook receivers started by tests are private http targets: allowed only by this explicit setting.
TEST_NOTIFICATIONS: dict[str, Any] = {"webhook_allow_http": True, "webhook_allow_private": True}


def api_settings(
    data_dir: Path,
    *,
    database_url: str | None = None,
    notifications: dict[str, Any] | None = None,
    **rates: str,
) -> Settings:
    """Settings on their own data directory and database, with generous rate limits unless given."""
    return Settings(
        data_dir=data_dir,
        database={"url": database_url or sqlite_url(data_dir / "pollinate.db")},
        api={**GENEROUS_RATES, **rates, "log_format": "console"},
        notifications=notifications or {},
    )


@contextmanager
def running_app(settings: Settings) -> Iterator[TestClient]:
    """The app with the fake embedder, its lifespan running (errors become responses, as in production)."""
    app = create_app(settings, embedder=FakeEmbedder(dim=64))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def issue(db: Database, name: str, role: str, **scope: Any) -> str:
    """A new user with one API key; returns the key."""
    with db.transaction() as session:
        user = accounts.create_user(session, name=name, role=role, **scope)
        return accounts.issue_key(session, user).secret


@dataclass
class Api:
    """A running app over the demo corpus, a key per role and the fixture records (ids)."""

    client: TestClient
    db: Database
    keys: dict[str, str]
    settings: Settings
    org_a: int
    org_b: int
    public_need: int = 0
    confidential_need: int = 0
    confidential_title: str = ""
    offer_a: int = 0
    paused_offer_a: int = 0

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role in self.keys else {}

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request as ``role`` (``anonymous``: without a key)."""
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(role, "GET", path, **kwargs)

    def post(self, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(role, "POST", path, **kwargs)

    def etag(self, path: str) -> str:
        """The current ETag of a record, as the secretariat reads it."""
        response = self.get("secretariat", path)
        assert response.status_code == 200, response.text
        return response.headers["ETag"]

    # Records made through the services (not the API under test), for tests that change or delete them.

    def new_need(self, *, party: str = "KEN", visibility: str = "public", **values: Any) -> int:
        body = {**NEED_BODY, "party": party, "visibility": visibility, **values}
        with self.db.transaction() as session:
            plan = needs.plan_need(session, STAFF_PRINCIPAL, body)
            return needs.create_need(session, plan).id

    def new_offer(self, *, organisation_id: int | None = None, status: str = "active", **values: Any) -> int:
        body = {**OFFER_BODY, "organisation_id": organisation_id or self.org_a, "status": status, **values}
        with self.db.transaction() as session:
            return offers.create_offer(session, STAFF_PRINCIPAL, body).id

    def new_organisation(self, **values: Any) -> int:
        body = {"name": unique("Unused organisation "), "org_type": "ngo", "country": "KEN", **values}
        with self.db.transaction() as session:
            org = organisations.create_organisation(session, STAFF_PRINCIPAL, body)
            session.flush()
            return org.id

    # Alert records are written through the ORM: the fixture app only accepts https webhook targets on public
    # addresses, which the service checks by resolving them (and there is no DNS in the test sandbox).

    def new_subscription(self, *, organisation_id: int | None = None, webhook: bool = False, **values: Any) -> int:
        """An active ``offers`` subscription (top 10, instant) of organisation A unless given; ``webhook`` adds
        the webhook channel, its target and its signing secret to the in-app feed."""
        import secrets  # imported here: the alert helpers leave the module's imports as they were

        from matcher.alerts.webhooks import new_secret
        from models.orm import Subscription

        columns: dict[str, Any] = {
            "organisation_id": organisation_id or self.org_a,
            "label": unique("Fixture subscription "),
            "kind": "offers",
            "rule": "top_n",
            "top_n": 10,
            "delivery": "instant",
            "channels": ["feed", "webhook"] if webhook else ["feed"],
            "filters": {},
            "webhook_url": "https://hooks.example.org/x" if webhook else None,
            "webhook_secret": new_secret() if webhook else None,
            "unsubscribe_token": secrets.token_urlsafe(32),
            **values,
        }
        with self.db.transaction() as session:
            subscription = Subscription(**columns)
            session.add(subscription)
            session.flush()
            return subscription.id

    def subscription_secrets(self, subscription_id: int) -> tuple[str, str | None] | None:
        """(unsubscribe token, webhook signing secret) of a subscription, ``None`` once it is deleted."""
        from models.orm import Subscription

        with self.db.transaction(read_only=True) as session:
            row = session.get(Subscription, subscription_id)
            return None if row is None else (row.unsubscribe_token, row.webhook_secret)

    def new_notification(self, subscription_id: int, *, need_id: int | None = None) -> int:
        """An unread feed notification of the subscription about a need (a new public need unless given)."""
        from models.orm import Notification, Subscription

        need_id = need_id or self.new_need(title=unique("Notified need "))
        with self.db.transaction() as session:
            subscription = session.get(Subscription, subscription_id)
            assert subscription is not None
            notification = Notification(
                subscription_id=subscription_id,
                organisation_id=subscription.organisation_id,
                need_id=need_id,
                offer_id=None,
                score=0.5,
                components={"semantic": 0.4, "targets": 0.1},
                explanation={
                    "summary": "Fixture notification",
                    "reasons": ["made by the test fixtures"],
                    "evidence": [],
                    "text": "Fixture notification: made by the test fixtures.",
                },
                in_feed=True,
            )
            session.add(notification)
            session.flush()
            return notification.id

    def notification_read_at(self, notification_id: int) -> Any:
        """When a notification was marked read (``None``: unread)."""
        from models.orm import Notification

        with self.db.transaction(read_only=True) as session:
            row = session.get(Notification, notification_id)
            assert row is not None
            return row.read_at

    def new_delivery(self, subscription_id: int, *, status: str = "dead", attempts: int = 8) -> int:
        """A webhook delivery of the subscription (by default dead-lettered after 8 attempts)."""
        from matcher.alerts.outbox import new_uid
        from models.orm import Delivery, utcnow

        with self.db.transaction() as session:
            delivery = Delivery(
                uid=new_uid(),
                subscription_id=subscription_id,
                channel="webhook",
                period="instant",
                status=status,
                due_at=utcnow(),
                attempts=attempts,
                last_error="fixture: receiver answered 500" if status == "dead" else None,
            )
            session.add(delivery)
            session.flush()
            return delivery.id

    # Suggested matches are written through the ORM, as the ranker stores them (without ranking anything).

    def new_job(self, *, status: str = "queued") -> int:
        """A re-rank job of the fixture need, queued (or already cancelled)."""
        from models.orm import Job

        with self.db.transaction() as session:
            job = Job(kind="rerank_needs", params={"need_ids": [self.public_need]}, status=status)
            session.add(job)
            session.flush()
            return job.id

    def new_match(self, *, need_id: int | None = None, offer_id: int | None = None, score: float = 0.5) -> int:
        """A suggested match of a new public need of Kenya (unless given) with offer A (unless given)."""
        from models.orm import SuggestedMatch

        need_id = need_id or self.new_need(title=unique("Reviewed need "))
        with self.db.transaction() as session:
            match = SuggestedMatch(
                need_id=need_id,
                offer_id=offer_id or self.offer_a,
                rank=1,
                score=score,
                components={"semantic": score},
                explanation={
                    "summary": "Fixture match",
                    "reasons": ["made by the test fixtures"],
                    "evidence": [],
                    "text": "Fixture match: made by the test fixtures.",
                },
                model_id="fixture",
            )
            session.add(match)
            session.flush()
            return match.id


def app_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves under /v1."""
    found = set()
    for route in routing.iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        if route.path and route.path.startswith("/v1/"):
            found |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    return found


def start_api(
    tmp: Path, *, notifications: dict[str, Any] | None = None, database_url: str | None = None
) -> Iterator[Api]:
    """Seed the demo corpus, issue a key per role, start the app and post the fixture records through it
    (on SQLite in ``tmp`` unless ``database_url`` is given)."""
    settings = api_settings(tmp, notifications=notifications, database_url=database_url)
    db = settings.open_database()
    migrate.upgrade(db)
    seed_demo(db)
    with db.transaction(read_only=True) as session:
        repo = OfferRepository(session)
        org_a, org_b = (repo.get_by_external_id(x).organisation_id for x in (ORG_A_OFFER, ORG_B_OFFER))  # type: ignore[union-attr]
    assert org_a != org_b
    keys = {
        "party_ken": issue(db, "party-ken", "party", country="KEN"),
        "party_bra": issue(db, "party-bra", "party", country="BRA"),
        "provider_a": issue(db, "provider-a", "provider", organisation_id=org_a),
        "provider_b": issue(db, "provider-b", "provider", organisation_id=org_b),
        "secretariat": issue(db, "secretariat", "secretariat"),
        "admin": issue(db, "admin", "admin"),
    }
    try:
        with running_app(settings) as client:
            api = Api(client=client, db=db, keys=keys, org_a=org_a, org_b=org_b, settings=settings)
            posted = api.post("party_ken", "/v1/needs", json=NEED_BODY)
            assert posted.status_code == 201, posted.text
            api.public_need = posted.json()["need"]["id"]
            api.confidential_title = unique("Confidential drylands seed banks ")
            body = {**NEED_BODY, "title": api.confidential_title, "visibility": "confidential"}
            posted = api.post("party_ken", "/v1/needs", json=body)
            assert posted.status_code == 201, posted.text
            api.confidential_need = posted.json()["need"]["id"]
            posted = api.post("provider_a", "/v1/offers", json=OFFER_BODY)
            assert posted.status_code == 201, posted.text
            api.offer_a = posted.json()["id"]
            posted = api.post("provider_a", "/v1/offers", json={**OFFER_BODY, "title": "Paused wetland mapping"})
            assert posted.status_code == 201, posted.text
            api.paused_offer_a = posted.json()["id"]
            paused = api.post("provider_a", f"/v1/offers/{api.paused_offer_a}/pause")
            assert paused.status_code == 200, paused.text
            yield api
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app over the demo corpus with a key per role and the fixture records (shared by a test module)."""
    yield from start_api(tmp_path_factory.mktemp("api"))
