"""Posting and changing a need through the use case the HTTP routes and the web pages share, without HTTP."""

from __future__ import annotations

from sqlalchemy import select

from matcher.access.rules import Principal
from matcher.alerts import subscriptions
from matcher.alerts.reverse import AlertMatcher
from matcher.records.seed import seed_demo
from matcher.settings import NotificationSettings
from matcher.usecases.needs import NeedService
from models.db import Database
from models.orm import Notification, Offer, Organisation, SuggestedMatch
from tests.factories import service

KENYA = Principal(role="party", country="KEN")
NEED = {
    "title": "Restoring our mangroves",
    "description": "We need help restoring mangroves and monitoring coastal wetlands with fishing communities.",
    "targets": [2, 11],
    "assistance_types": ["technical_advice"],
}


def desk(db: Database) -> NeedService:
    matching = service(db)
    return NeedService(matching, AlertMatcher(matching), NotificationSettings())


def subscribe_everything(db: Database) -> int:
    """A provider organisation subscribed to every public need about mangroves (a saved search, minimum 0)."""
    with db.transaction() as session:
        org = Organisation(name="Mangrove Watch", org_type="ngo", country="KEN")
        session.add(org)
        session.flush()
        who = Principal(role="provider", organisation_id=org.id)
        values = {"kind": "query", "query": "mangrove restoration", "rule": "min_score", "min_score": 0.0}
        subscriptions.create_subscription(session, who, values, NotificationSettings())
        return org.id


def test_posting_stores_the_need_its_ranking_as_suggestions_and_its_alerts(sqlite_db: Database) -> None:
    seed_demo(sqlite_db)
    organisation_id = subscribe_everything(sqlite_db)
    needs = desk(sqlite_db)
    with sqlite_db.transaction(read_only=True) as session:
        prepared = needs.prepare_post(session, KENYA, NEED, k=5)
    assert len(prepared.ranking.matches) == 5
    assert [a.organisation_id for a in prepared.alerts] == [organisation_id]
    with sqlite_db.transaction() as session:
        posted = needs.post(session, prepared)
        need_id = posted.need.id
    assert posted.need.party == "KEN"
    with sqlite_db.transaction(read_only=True) as session:
        stored = session.scalars(select(SuggestedMatch).where(SuggestedMatch.need_id == need_id)).all()
        assert sorted((s.rank, s.offer_id) for s in stored) == [
            (i + 1, m.offer_id) for i, m in enumerate(prepared.ranking.matches)
        ]
        notes = session.scalars(select(Notification).where(Notification.need_id == need_id)).all()
        assert [n.organisation_id for n in notes] == [organisation_id]


def test_an_offer_deleted_between_the_two_steps_is_left_out_and_the_need_kept(sqlite_db: Database) -> None:
    seed_demo(sqlite_db)
    needs = desk(sqlite_db)
    with sqlite_db.transaction(read_only=True) as session:
        prepared = needs.prepare_post(session, KENYA, NEED, k=5)
    gone = prepared.ranking.matches[0].offer_id
    with sqlite_db.transaction() as session:
        session.delete(session.get(Offer, gone))
    with sqlite_db.transaction() as session:
        posted = needs.post(session, prepared)
    assert [m.offer_id for m in posted.ranking.matches] == [m.offer_id for m in prepared.ranking.matches[1:]]
    with sqlite_db.transaction(read_only=True) as session:
        stored = session.scalars(select(SuggestedMatch).where(SuggestedMatch.need_id == posted.need.id)).all()
        assert sorted(s.rank for s in stored) == [1, 2, 3, 4]


def test_a_change_that_makes_a_need_public_alerts_and_one_that_changes_nothing_does_not(
    sqlite_db: Database,
) -> None:
    seed_demo(sqlite_db)
    organisation_id = subscribe_everything(sqlite_db)
    needs = desk(sqlite_db)
    with sqlite_db.transaction(read_only=True) as session:
        prepared = needs.prepare_post(session, KENYA, {**NEED, "visibility": "confidential"}, k=3)
    assert prepared.alerts == []  # confidential needs alert nobody
    with sqlite_db.transaction() as session:
        need_id = needs.post(session, prepared).need.id
    with sqlite_db.transaction(read_only=True) as session:
        same = needs.prepare_change(session, KENYA, need_id, {"title": NEED["title"]}, version=None)
        public = needs.prepare_change(session, KENYA, need_id, {"visibility": "public"}, version=None)
    assert same.alerts == []
    assert [a.organisation_id for a in public.alerts] == [organisation_id]
    with sqlite_db.transaction() as session:
        need = needs.change(session, KENYA, public)
        assert need.visibility == "public"
