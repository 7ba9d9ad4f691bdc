"""Alert thresholds by fit verdict: an ``offers`` subscription fires only when its organisation's offer reaches
the subscription's least verdict, calibrated like the need's ranking of providers (one scoring path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from embeddings import FakeEmbedder
from matcher.access.rules import Principal
from matcher.alerts import subscriptions
from matcher.alerts.reverse import AlertMatcher
from matcher.engine.fusion import Weights
from matcher.engine.query import NeedQuery
from matcher.engine.scoring import SIGNALS
from matcher.engine.service import MatchService
from matcher.engine.verdicts import Calibration
from matcher.errors import InvalidInputError
from matcher.settings import NotificationSettings, RankingSettings
from models import migrate
from models.db import Database
from models.orm import Organisation, Subscription
from tests.factories import load_offers, offer

# A calibration that reads the target signal only, so that a need's targets set its verdict: all four of the
# offer's targets -> signal 1.0 -> 0.92 (strong); one of them among three -> 0.306 -> 0.34 (possible); none ->
# 0.12 (weak). The topical threshold is out of reach, so no strong match is capped at good.
CALIBRATION = Calibration(
    method="logistic",
    weights={name: Weights().signed(name) for name in SIGNALS},
    topical_threshold=-10.0,
    intercept=-2.0,
    coefficients={"targets": 4.4},
)
SUBSCRIBED = "Provider 1"
NEEDS = {
    "strong": (6, 4, 7, 8),
    "possible": (6, 1, 2),
    "weak": (1,),
}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, MatchService]]:
    tmp = tmp_path_factory.mktemp("verdicts")
    db = Database(f"sqlite:///{tmp / 'alerts.db'}")
    migrate.upgrade(db)
    rows = [offer(1, targets=[6, 4, 7, 8])] + [offer(i, targets=[10 + i]) for i in range(2, 6)]
    load_offers(db, tmp, rows)
    svc = MatchService(db, FakeEmbedder(dim=64), ranking=RankingSettings(), calibration=CALIBRATION)
    svc.start()
    yield db, svc
    db.dispose()


def _need(targets: tuple[int, ...]) -> NeedQuery:
    return NeedQuery(
        title="Rodent eradication on islets",
        description="We need a plan to remove rats from two seabird islets for good.",
        targets=targets,
        assistance_types=("technical_advice",),
        language="en",
        party="FJI",
    )


def _subscribe(db: Database, least: str, rule: dict[str, Any]) -> int:
    with db.transaction() as session:
        org = session.scalars(select(Organisation).where(Organisation.name == SUBSCRIBED)).one()
        who = Principal(role="provider", user_id=None, organisation_id=org.id)
        values = {"kind": "offers", "min_verdict": least, **rule}
        return subscriptions.create_subscription(session, who, values, NotificationSettings()).subscription.id


@pytest.mark.parametrize(
    "rule", [{"rule": "top_n", "top_n": 5}, {"rule": "min_score", "min_score": -3.0}], ids=["top_n", "min_score"]
)
def test_a_strong_threshold_fires_on_a_strong_fit_only_and_a_possible_one_on_both(
    catalogue: tuple[Database, MatchService], rule: dict[str, Any]
) -> None:
    db, svc = catalogue
    with db.transaction() as session:  # one pair of subscriptions per rule
        for row in session.scalars(select(Subscription)):
            session.delete(row)
    strong = _subscribe(db, "strong", rule)
    possible = _subscribe(db, "possible", rule)
    matcher = AlertMatcher(svc)
    fired = {
        name: {a.subscription_id: a for a in matcher.alerts(_need(t), visibility="public", status="open")}
        for name, t in NEEDS.items()
    }
    assert set(fired["strong"]) == {strong, possible}
    assert set(fired["possible"]) == {possible}
    assert fired["weak"] == {}
    for name in ("strong", "possible"):
        alert = fired[name][possible]
        assert alert.verdict == name
        # The alert's verdict and probability are the offer's in the need's ranking of providers.
        ranked = next(m for m in svc.match(_need(NEEDS[name]), k=5).matches if m.offer_id == alert.offer_id)
        assert (alert.verdict, alert.probability) == (ranked.verdict, ranked.probability)
        assert alert.score == pytest.approx(ranked.score, abs=1e-5)


def test_min_verdict_defaults_to_possible_for_offers_and_is_refused_for_saved_queries(
    catalogue: tuple[Database, MatchService],
) -> None:
    db, _ = catalogue
    with db.transaction() as session:
        org = session.scalars(select(Organisation).where(Organisation.name == SUBSCRIBED)).one()
        who = Principal(role="provider", user_id=None, organisation_id=org.id)
        settings = NotificationSettings()
        made = subscriptions.create_subscription(session, who, {}, settings).subscription
        assert made.min_verdict == "possible"
        changed = subscriptions.update_subscription(
            session, who, made.id, {"min_verdict": "good"}, settings, version=None
        ).subscription
        assert changed.min_verdict == "good"
        # Becoming a saved query drops the verdict (a query has no offer to judge) ...
        query = subscriptions.update_subscription(
            session, who, made.id, {"kind": "query", "query": "rat eradication"}, settings, version=None
        ).subscription
        assert query.min_verdict is None
        # ... and a saved query that names one is refused, naming the field.
        with pytest.raises(InvalidInputError) as raised:
            subscriptions.create_subscription(
                session, who, {"kind": "query", "query": "rats", "min_verdict": "strong"}, settings
            )
        assert raised.value.field == "min_verdict"


def test_an_offers_subscription_written_without_a_verdict_gets_the_default(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'default.db'}")
    migrate.upgrade(db)
    try:
        with db.transaction() as session:
            org = Organisation(name="Provider", org_type="ngo", country="FRA")
            session.add(org)
            session.flush()
            common = {"organisation_id": org.id, "delivery": "instant", "channels": ["feed"], "filters": {}}
            offers = Subscription(kind="offers", rule="top_n", top_n=3, unsubscribe_token="a" * 32, **common)
            query = Subscription(
                kind="query", query_text="x", rule="min_score", min_score=0.4, unsubscribe_token="b" * 32, **common
            )
            session.add_all([offers, query])
            session.flush()
            assert (offers.min_verdict, query.min_verdict) == ("possible", None)
    finally:
        db.dispose()
