"""The record repositories' id lookups, keyset pages and the reads of capacity-aware assignment, on both backends.

``_IN_CHUNK`` is made tiny so that every IN list is split, as it is beyond 500 ids in production.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matcher.records.bulk import import_file
from models import repositories
from models.db import Database
from models.orm import Subscription, SuggestedMatch
from models.outbox import SubscriptionRepository
from models.repositories import NeedRepository, OfferRepository, SuggestedMatchRepository
from tests.factories import load_offers, need_row, offer


def load_needs(db: Database, tmp_path: Path, rows: list[dict[str, object]]) -> None:
    path = tmp_path / "needs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert import_file(db, path, "needs").written


@pytest.fixture
def records(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setattr(repositories, "_IN_CHUNK", 2)
    load_offers(db, tmp_path, [offer(i, capacity=i, country="KEN" if i % 2 else "FJI") for i in range(1, 6)])
    statuses = ["open", "closed", "under_review", "open", "withdrawn"]
    load_needs(db, tmp_path, [need_row(id=f"Y{i}", status=s) for i, s in enumerate(statuses)])
    return db


def test_ids_present_and_keyset_pages(records: Database) -> None:
    with records.transaction(read_only=True) as session:
        offers, needs = OfferRepository(session), NeedRepository(session)
        ids = offers.ids_after(0, limit=100)
        assert len(ids) == 5 and ids == sorted(ids)
        assert offers.ids_after(ids[1], limit=2) == ids[2:4]
        assert offers.present_ids([ids[4], 10**6, ids[0], ids[2]]) == {ids[0], ids[2], ids[4]}
        need_ids = needs.ids_after(0, limit=100)
        assert [n.id for n in needs.page_after(need_ids[0], limit=3)] == need_ids[1:4]
        assert [n.external_id for n in needs.page_after(need_ids[-1], limit=3)] == []
        assert sorted(needs.ids_in_statuses(["open", "under_review"])) == [need_ids[0], need_ids[2], need_ids[3]]


def test_capacities_and_scored_pairs_for_assignment(records: Database) -> None:
    with records.transaction() as session:
        offer_ids = OfferRepository(session).ids_after(0, limit=100)
        need_ids = NeedRepository(session).ids_after(0, limit=100)
        # Needs 0 and 3 are open, 2 under review, 1 closed; an accepted match is no candidate.
        chosen = [(need_ids[0], "suggested"), (need_ids[1], "suggested"), (need_ids[2], "accepted")]
        for rank, (need_id, status) in enumerate([*chosen, (need_ids[3], "shortlisted")]):
            session.add(
                SuggestedMatch(
                    need_id=need_id, offer_id=offer_ids[rank], rank=1, score=0.5 + rank, status=status,
                    components={}, explanation={}, model_id="m",
                )
            )  # fmt: skip
    with records.transaction(read_only=True) as session:
        capacities = OfferRepository(session).capacities([*reversed(offer_ids), 10**6])
        assert sorted((c.id, c.capacity, c.country) for c in capacities) == [
            (offer_id, i + 1, "KEN" if (i + 1) % 2 else "FJI") for i, offer_id in enumerate(offer_ids)
        ]
        pairs = SuggestedMatchRepository(session).scored_pairs(
            need_statuses=("open", "under_review"), statuses=("suggested", "shortlisted")
        )
        assert sorted(pairs) == [(need_ids[0], offer_ids[0], 0.5), (need_ids[3], offer_ids[3], 3.5)]


def test_saved_queries_are_counted_and_paged(records: Database) -> None:
    with records.transaction() as session:
        organisation_id = OfferRepository(session).by_ids(OfferRepository(session).ids_after(0, limit=1))
        org = next(iter(organisation_id.values())).organisation_id
        for i, text in enumerate(["mangroves", None, "coral reefs", "seed banks"]):
            session.add(
                Subscription(
                    organisation_id=org, kind="query" if text else "offers", query_text=text, rule="min_score",
                    min_score=0.5, delivery="daily", channels=["feed"], filters={}, active=i != 2,
                    unsubscribe_token=f"token-{i}".ljust(24, "x"),
                )
            )  # fmt: skip
    with records.transaction(read_only=True) as session:
        repo = SubscriptionRepository(session)
        assert repo.count_queries() == 3  # inactive ones too: their texts are embedded by a re-embed
        first = repo.queries_after(0, limit=2)
        assert [s.query_text for s in first] == ["mangroves", "coral reefs"]
        assert [s.query_text for s in repo.queries_after(first[-1].id, limit=2)] == ["seed banks"]
