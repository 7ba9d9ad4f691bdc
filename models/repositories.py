"""Repositories: every SQL query of Pollinate lives here.

A repository wraps a session it does not own: it adds, loads and queries, and never commits (the request or CLI
boundary does, through ``Database.transaction``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.orm import (
    OFFER_COUNTER,
    Counter,
    Embedding,
    Need,
    Offer,
    OfferAssistanceType,
    OfferCountry,
    OfferDeletion,
    OfferLanguage,
    OfferRegion,
    OfferTarget,
    Organisation,
)

RecordT = TypeVar("RecordT", Need, Offer)

# Keep IN lists well under SQLite's bound-parameter limit and PostgreSQL's comfortable plan sizes.
_IN_CHUNK = 500


class OrganisationRepository:
    """Organisations, identified on import by (name, country)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organisation_id: int) -> Organisation | None:
        return self.session.get(Organisation, organisation_id)

    def find(self, name: str, country: str) -> Organisation | None:
        stmt = select(Organisation).where(Organisation.name == name, Organisation.country == country)
        return self.session.scalars(stmt).one_or_none()

    def add(self, organisation: Organisation) -> Organisation:
        self.session.add(organisation)
        self.session.flush()
        return organisation

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Organisation)) or 0


class _RecordRepository(Generic[RecordT]):
    model: type[RecordT]

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, record_id: int) -> RecordT | None:
        return self.session.get(self.model, record_id)

    def get_by_external_id(self, external_id: str) -> RecordT | None:
        stmt = select(self.model).where(self.model.external_id == external_id)
        return self.session.scalars(stmt).one_or_none()

    def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, RecordT]:
        """The records with these external ids, keyed by external id (missing ids are absent)."""
        ids = list(dict.fromkeys(external_ids))
        found: dict[str, RecordT] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            for record in self.session.scalars(select(self.model).where(self.model.external_id.in_(chunk))):
                assert record.external_id is not None
                found[record.external_id] = record
        return found

    def add(self, record: RecordT) -> RecordT:
        self.session.add(record)
        return record

    def add_all(self, records: Sequence[RecordT]) -> None:
        self.session.add_all(records)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(self.model)) or 0

    def iter_all(self, *, batch_size: int = 500) -> Iterator[RecordT]:
        """Every record in id order, loaded ``batch_size`` at a time.

        Memory stays constant (for exports of any size) because each batch is expunged from the session once
        the caller has moved past it: use this on a session of its own.
        """
        last_id = 0
        while True:
            stmt = select(self.model).where(self.model.id > last_id).order_by(self.model.id).limit(batch_size)
            batch = list(self.session.scalars(stmt))
            if not batch:
                return
            yield from batch
            last_id = batch[-1].id
            self.session.expunge_all()


class NeedRepository(_RecordRepository[Need]):
    """Needs."""

    model = Need


class OfferRepository(_RecordRepository[Offer]):
    """Offers."""

    model = Offer


# ------------------------------------------------------------------------------------ offer catalogue


@dataclass(frozen=True, slots=True)
class OfferSnapshot:
    """Everything the matching engine needs about one offer, loaded in bulk without ORM objects."""

    id: int
    external_id: str | None
    title: str
    description: str
    cost: str
    capacity: int | None
    status: str
    expires_on: dt.date | None
    change_seq: int
    organisation_id: int
    organisation: str
    org_type: str
    org_country: str
    targets: tuple[int, ...] = ()
    assistance_types: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    regions_served: tuple[str, ...] = ()
    countries_served: tuple[str, ...] = ()


_TAG_TABLES: tuple[tuple[str, Any, Any], ...] = (
    ("targets", OfferTarget.offer_id, OfferTarget.target),
    ("assistance_types", OfferAssistanceType.offer_id, OfferAssistanceType.assistance_type),
    ("languages", OfferLanguage.offer_id, OfferLanguage.language),
    ("regions_served", OfferRegion.offer_id, OfferRegion.region),
    ("countries_served", OfferCountry.offer_id, OfferCountry.country),
)


class CatalogRepository:
    """Bulk reads of the offer catalogue and its change sequence (for the in-memory index)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def change_seq(self) -> int:
        """The latest committed offer change sequence (0 before any change)."""
        value = self.session.scalar(select(Counter.value).where(Counter.name == OFFER_COUNTER))
        return int(value or 0)

    def versions(self) -> dict[int, int]:
        """``offer id -> change_seq`` for every offer (the index's start-up consistency check)."""
        return {int(i): int(s) for i, s in self.session.execute(select(Offer.id, Offer.change_seq))}

    def changed_since(self, seq: int) -> list[int]:
        """Ids of offers created or changed after ``seq``."""
        return [int(i) for i in self.session.scalars(select(Offer.id).where(Offer.change_seq > seq))]

    def deleted_since(self, seq: int) -> list[int]:
        """Ids of offers deleted after ``seq``."""
        stmt = select(OfferDeletion.offer_id).where(OfferDeletion.change_seq > seq)
        return [int(i) for i in self.session.scalars(stmt)]

    def snapshots(self, ids: Sequence[int] | None = None) -> list[OfferSnapshot]:
        """Snapshots of the given offers (all offers when ``ids`` is None), in id order."""
        stmt = (
            select(
                Offer.id,
                Offer.external_id,
                Offer.title,
                Offer.description,
                Offer.cost,
                Offer.capacity,
                Offer.status,
                Offer.expires_on,
                Offer.change_seq,
                Organisation.id,
                Organisation.name,
                Organisation.org_type,
                Organisation.country,
            )
            .join(Organisation, Offer.organisation_id == Organisation.id)
            .order_by(Offer.id)
        )
        chunks: list[Sequence[int] | None] = (
            [None] if ids is None else [ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]
        )
        rows: dict[int, dict[str, Any]] = {}
        tags: dict[str, dict[int, list[Any]]] = {name: {} for name, _, _ in _TAG_TABLES}
        for chunk in chunks:
            offer_stmt = stmt if chunk is None else stmt.where(Offer.id.in_(chunk))
            for r in self.session.execute(offer_stmt):
                rows[r[0]] = dict(
                    id=r[0], external_id=r[1], title=r[2], description=r[3], cost=r[4], capacity=r[5],
                    status=r[6], expires_on=r[7], change_seq=r[8], organisation_id=r[9], organisation=r[10],
                    org_type=r[11], org_country=r[12],
                )  # fmt: skip
            for name, owner, value in _TAG_TABLES:
                tag_stmt = select(owner, value) if chunk is None else select(owner, value).where(owner.in_(chunk))
                for offer_id, tag in self.session.execute(tag_stmt):
                    tags[name].setdefault(offer_id, []).append(tag)
        snapshots = []
        for offer_id, row in rows.items():
            for name, _, _ in _TAG_TABLES:
                row[name] = tuple(sorted(tags[name].get(offer_id, ())))
            snapshots.append(OfferSnapshot(**row))
        return snapshots


class EmbeddingRepository:
    """The embedding cache: vectors by (model id, text hash)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, model_id: str, text_hashes: Iterable[str]) -> dict[str, tuple[bytes, str]]:
        """``text hash -> (vector bytes, language)`` for the cached texts among ``text_hashes``."""
        hashes = list(dict.fromkeys(text_hashes))
        found: dict[str, tuple[bytes, str]] = {}
        for start in range(0, len(hashes), _IN_CHUNK):
            stmt = select(Embedding.text_hash, Embedding.vector, Embedding.language).where(
                Embedding.model_id == model_id, Embedding.text_hash.in_(hashes[start : start + _IN_CHUNK])
            )
            for text_hash, vector, language in self.session.execute(stmt):
                found[text_hash] = (vector, language)
        return found

    def put_many(self, model_id: str, dim: int, items: Iterable[tuple[str, bytes, str]]) -> None:
        """Store ``(text hash, vector bytes, language)`` triples; already cached hashes are left alone
        (two workers embedding the same text concurrently both succeed)."""
        values = [
            {"model_id": model_id, "text_hash": h, "dim": dim, "vector": v, "language": lang}
            for h, v, lang in items
        ]
        if not values:
            return
        dialect = self.session.get_bind().dialect.name
        insert_fn = postgresql_insert if dialect == "postgresql" else sqlite_insert
        for start in range(0, len(values), _IN_CHUNK):
            stmt = insert_fn(Embedding).values(values[start : start + _IN_CHUNK])
            self.session.execute(stmt.on_conflict_do_nothing(index_elements=["model_id", "text_hash"]))

    def models(self) -> dict[str, int]:
        """Cached embeddings per model id."""
        stmt = select(Embedding.model_id, func.count()).group_by(Embedding.model_id)
        return {m: int(c) for m, c in self.session.execute(stmt)}
