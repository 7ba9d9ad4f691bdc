"""The review queue's conditions and orders on SQLite and PostgreSQL (the region order is a CASE over the
countries, the target order a correlated subquery)."""

from __future__ import annotations

import datetime as dt

import pytest

from models.db import Database
from models.orm import Need, Offer, Organisation, SuggestedMatch
from models.repositories import REVIEW_SORTS, ReviewListing, SuggestedMatchRepository

# party, targets, score of its match (the needs are created in this order, a day apart)
NEEDS = [("KEN", [14, 3], 0.4), ("FJI", [2], 0.9), ("BRA", [8, 21], 0.6), ("KEN", [5], 0.7)]


@pytest.fixture
def matches(db: Database) -> list[int]:
    """One match per need of ``NEEDS``; their ids in the same order."""
    ids = []
    with db.transaction() as session:
        org = Organisation(name="Reef Rescue Network", org_type="network", country="FJI")
        session.add(org)
        session.flush()
        offer = Offer(organisation_id=org.id, title="Coral training", description="Coral gardening training.")
        offer.targets, offer.languages, offer.regions_served = [3], ["en"], ["Global"]
        offer.assistance_types = ["training"]
        session.add(offer)
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for day, (party, targets, score) in enumerate(NEEDS):
            need = Need(
                organisation_id=org.id,
                party=party,
                title=f"Need {day}",
                description="A need of the review queue tests.",
                language="en",
                created_at=start + dt.timedelta(days=day),
            )
            need.targets, need.assistance_types = targets, ["training"]
            session.add(need)
            session.flush()
            match = SuggestedMatch(
                need_id=need.id,
                offer_id=offer.id,
                rank=1,
                score=score,
                components={},
                explanation={},
                model_id="test",
            )
            session.add(match)
            session.flush()
            ids.append(match.id)
    return ids


def queue(db: Database, sort: str, **conditions: object) -> list[int]:
    with db.transaction(read_only=True) as session:
        listing = ReviewListing(**conditions)  # type: ignore[arg-type]
        rows, total = SuggestedMatchRepository(session).review_queue(listing, sort=sort, limit=10, offset=0)
        assert total == len(rows)
        return [r.id for r in rows]


def test_every_order_of_the_queue(db: Database, matches: list[int]) -> None:
    kenya_old, fiji, brazil, kenya_new = matches
    expected = {
        "-score": [fiji, kenya_new, brazil, kenya_old],
        "score": [kenya_old, brazil, kenya_new, fiji],
        "need_age": [kenya_new, brazil, fiji, kenya_old],  # youngest first
        "-need_age": [kenya_old, fiji, brazil, kenya_new],
        # Eastern Africa (Kenya), Melanesia (Fiji), South America (Brazil); ties by score
        "region": [kenya_new, kenya_old, fiji, brazil],
        "-region": [brazil, fiji, kenya_new, kenya_old],
        "target": [fiji, kenya_old, kenya_new, brazil],  # lowest targets 2, 3, 5, 8
        "-target": [brazil, kenya_new, kenya_old, fiji],
    }
    assert set(expected) == set(REVIEW_SORTS)
    for sort, ids in expected.items():
        assert queue(db, sort) == ids, sort


def test_the_queue_conditions(db: Database, matches: list[int]) -> None:
    kenya_old, fiji, brazil, kenya_new = matches
    assert queue(db, "-score", parties=("KEN", "BRA")) == [kenya_new, brazil, kenya_old]
    assert queue(db, "-score", targets=(3, 21)) == [brazil, kenya_old]
    assert queue(db, "-score", statuses=("shortlisted",)) == []
    assert queue(db, "-score", statuses=("suggested",), need_statuses=("open",)) == [
        fiji,
        kenya_new,
        brazil,
        kenya_old,
    ]
    assert queue(db, "-score", need_statuses=("matched",)) == []
