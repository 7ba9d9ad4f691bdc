"""The offer change sequence, deletions log, bulk snapshots and the embedding cache, on both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from models import migrate
from models.db import Database
from models.orm import Need, Offer, Organisation, SuggestedMatch
from models.repositories import CatalogRepository, EmbeddingRepository, OfferRepository
from tests.postgres import PostgresServer


def add_offer(db: Database, title: str) -> int:
    def work(session) -> int:  # type: ignore[no-untyped-def]
        org = session.query(Organisation).filter_by(name="Reef Network").one_or_none()
        if org is None:
            org = Organisation(name="Reef Network", org_type="network", country="FJI")
            session.add(org)
            session.flush()
        offer = Offer(organisation_id=org.id, title=title, description="Coral gardening courses.")
        offer.targets = [2, 8]
        offer.regions_served = ["Oceania"]
        offer.countries_served = ["FJI"]
        offer.languages = ["en", "fr"]
        offer.assistance_types = ["training"]
        session.add(offer)
        session.flush()
        return int(offer.id)

    return db.run(work)


def seq(db: Database) -> int:
    with db.transaction(read_only=True) as session:
        return CatalogRepository(session).change_seq()


def test_every_offer_change_advances_the_sequence_once_per_transaction(db: Database) -> None:
    assert seq(db) == 1  # the migration starts the sequence
    first = add_offer(db, "Coral nursery training")
    second = add_offer(db, "Reef monitoring")
    assert seq(db) == 3
    with db.transaction(read_only=True) as session:
        repo = CatalogRepository(session)
        assert repo.changed_since(1) == [first, second]
        assert repo.changed_since(2) == [second]
        assert repo.versions() == {first: 2, second: 3}

    with db.transaction() as session:
        offer = session.get(Offer, first)
        offer.targets = [2, 8, 21]  # a tag-only change still counts
    assert seq(db) == 4
    with db.transaction() as session:
        session.get(Organisation, session.get(Offer, second).organisation_id).org_type = "ngo"
    assert seq(db) == 5  # an organisation change re-stamps its offers
    with db.transaction(read_only=True) as session:
        assert sorted(CatalogRepository(session).changed_since(4)) == [first, second]

    with db.transaction() as session:
        session.delete(session.get(Offer, second))
    with db.transaction(read_only=True) as session:
        repo = CatalogRepository(session)
        assert repo.change_seq() == 6
        assert repo.deleted_since(5) == [second]
        assert repo.deleted_since(6) == []

    with db.transaction() as session:
        session.get(Offer, first)  # reading changes nothing
    assert seq(db) == 6


def test_snapshots_carry_every_tag(db: Database) -> None:
    offer_id = add_offer(db, "Coral nursery training")
    with db.transaction(read_only=True) as session:
        (snapshot,) = CatalogRepository(session).snapshots([offer_id])
        assert CatalogRepository(session).snapshots() == [snapshot]
    assert snapshot.title == "Coral nursery training"
    assert snapshot.targets == (2, 8)
    assert snapshot.languages == ("en", "fr")
    assert snapshot.regions_served == ("Oceania",)
    assert snapshot.countries_served == ("FJI",)
    assert snapshot.organisation == "Reef Network"
    assert snapshot.org_type == "network"


def test_embedding_cache_round_trip_and_concurrent_inserts(db: Database) -> None:
    vector = bytes(range(16))
    db.run(lambda s: EmbeddingRepository(s).put_many("m1", 4, [("h1", vector, "en")]))
    db.run(lambda s: EmbeddingRepository(s).put_many("m1", 4, [("h1", b"other", "fr"), ("h2", vector, "fr")]))
    with db.transaction(read_only=True) as session:
        repo = EmbeddingRepository(session)
        found = repo.get_many("m1", ["h1", "h2", "h3"])
        assert found == {"h1": (vector, "en"), "h2": (vector, "fr")}  # the first write wins, no error
        assert repo.get_many("m2", ["h1"]) == {}
        assert repo.models() == {"m1": 2}


def test_existing_ids_finds_the_offers_that_were_not_deleted(db: Database) -> None:
    kept, gone = add_offer(db, "Coral nursery training"), add_offer(db, "Reef monitoring")
    with db.transaction() as session:
        session.delete(session.get(Offer, gone))
    with db.transaction() as session:
        assert OfferRepository(session).existing_ids([kept, gone, kept]) == {kept}


def _lock_waiters(db: Database) -> int:
    with db.engine.connect() as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(conn.execute(text(query)).scalar_one())


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> Iterator[Database]:
    with postgres_server.database() as url:
        database = Database(url)
        migrate.upgrade(database)
        yield database
        database.dispose()


@pytest.mark.postgres
def test_an_offer_found_by_a_write_is_deleted_only_after_that_write_commits(postgres_db: Database) -> None:
    """The write that found the offer can still refer to it: a concurrent delete waits for its commit (and then
    deletes what the write stored with it) instead of making it fail on the foreign key. (SQLite serialises
    write transactions: no delete can run between the check and the write there.)"""
    db = postgres_db
    offer_id = add_offer(db, "Coral nursery training")
    with db.transaction() as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None
        need = Need(
            party="FJI",
            organisation_id=offer.organisation_id,
            title="Reefs",
            description="Coral reefs.",
            language="en",
        )
        session.add(need)
    failures: list[BaseException] = []

    def delete_offer() -> None:
        try:
            with db.transaction() as other:
                other.delete(other.get(Offer, offer_id))
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    deleter = threading.Thread(target=delete_offer)
    with db.transaction() as session:
        assert OfferRepository(session).existing_ids([offer_id]) == {offer_id}
        deleter.start()
        for _ in range(600):  # the delete must come to wait on this transaction's lock
            if _lock_waiters(db):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the concurrent delete did not wait for the transaction that found the offer")
        match = SuggestedMatch(
            need_id=need.id, offer_id=offer_id, rank=1, score=0.5, components={}, explanation={}, model_id="test"
        )
        session.add(match)
    deleter.join(timeout=30)
    assert not failures, failures[:1]
    with db.transaction(read_only=True) as session:
        assert session.get(Offer, offer_id) is None
        assert session.scalars(select(SuggestedMatch)).all() == []  # deleted with its offer
