"""Repositories: every SQL query of Pollinate lives here.

A repository wraps a session it does not own: it adds, loads and queries, and never commits (the request or CLI
boundary does, through ``Database.transaction``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.orm import Need, Offer, Organisation

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
