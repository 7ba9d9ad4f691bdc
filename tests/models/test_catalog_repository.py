"""The offer change sequence, deletions log, bulk snapshots and the embedding cache, on both backends."""

from __future__ import annotations

from models.db import Database
from models.orm import Offer, Organisation
from models.repositories import CatalogRepository, EmbeddingRepository


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
