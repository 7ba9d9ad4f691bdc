"""Repository of the connectors: provenance of harvested records, runs, conditional-request state, and the
queries behind the public feeds and the duplicate listing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from models.orm import (
    AuditEvent,
    ConnectorPage,
    ConnectorRun,
    DuplicateDecision,
    Need,
    Offer,
    Organisation,
    RecordSource,
)

_IN_CHUNK = 500


class ConnectorRepository:
    """Provenance rows, runs and pages of the connectors."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------------------------------ provenance

    def sources(self, connector: str, entity: str) -> dict[str, RecordSource]:
        """The connector's provenance rows of one entity, by source id."""
        stmt = select(RecordSource).where(RecordSource.connector == connector, RecordSource.entity == entity)
        return {row.source_id: row for row in self.session.scalars(stmt)}

    def sources_of(self, entity: str, record_id: int) -> list[RecordSource]:
        """Where one record comes from (a record may come from several connectors), oldest first."""
        stmt = (
            select(RecordSource)
            .where(RecordSource.entity == entity, RecordSource.record_id == record_id)
            .order_by(RecordSource.id)
        )
        return list(self.session.scalars(stmt))

    def sourced_ids(self, entity: str) -> dict[int, list[str]]:
        """``record id -> connectors`` of every harvested record of ``entity``."""
        out: dict[int, list[str]] = {}
        stmt = select(RecordSource.record_id, RecordSource.connector).where(RecordSource.entity == entity)
        for record_id, connector in self.session.execute(stmt):
            out.setdefault(int(record_id), []).append(connector)
        return out

    def add_source(self, row: RecordSource) -> None:
        self.session.add(row)

    def move_sources(self, entity: str, from_id: int, to_id: int) -> list[RecordSource]:
        """Point every provenance row of one record at another (a merge), and return the rows moved."""
        rows = self.sources_of(entity, from_id)
        for row in rows:
            row.record_id = to_id
        return rows

    def listed_elsewhere(self, entity: str, record_ids: Iterable[int], connector: str) -> set[int]:
        """Which of the records another connector still lists (a merged record has several sources)."""
        wanted = sorted(set(record_ids))
        out: set[int] = set()
        for start in range(0, len(wanted), _IN_CHUNK):
            stmt = select(RecordSource.record_id).where(
                RecordSource.entity == entity,
                RecordSource.record_id.in_(wanted[start : start + _IN_CHUNK]),
                RecordSource.connector != connector,
                RecordSource.withdrawn_at.is_(None),
            )
            out.update(int(i) for i in self.session.scalars(stmt))
        return out

    # ------------------------------------------------------------------------------------------ runs

    def add_run(self, run: ConnectorRun) -> ConnectorRun:
        self.session.add(run)
        self.session.flush()
        return run

    def run(self, run_id: int) -> ConnectorRun | None:
        return self.session.get(ConnectorRun, run_id)

    def runs(self, connector: str | None, *, limit: int, offset: int) -> tuple[list[ConnectorRun], int]:
        """A page of runs, newest first, and how many there are."""
        where = [ConnectorRun.connector == connector] if connector is not None else []
        total = self.session.scalar(select(func.count()).select_from(ConnectorRun).where(*where)) or 0
        stmt = select(ConnectorRun).where(*where).order_by(ConnectorRun.id.desc()).limit(limit).offset(offset)
        return list(self.session.scalars(stmt)), int(total)

    def last_runs(self) -> dict[str, ConnectorRun]:
        """The latest run of every connector that has run."""
        latest = select(func.max(ConnectorRun.id)).group_by(ConnectorRun.connector)
        stmt = select(ConnectorRun).where(ConnectorRun.id.in_(latest))
        return {run.connector: run for run in self.session.scalars(stmt)}

    def add_audit_event(self, event: AuditEvent) -> None:
        """Append a run's report to the audit log (the log is append-only: only inserts)."""
        self.session.add(event)
        self.session.flush()

    # ----------------------------------------------------------------------------------------- pages

    def pages(self, connector: str) -> dict[str, ConnectorPage]:
        """What the connector last fetched, by URL."""
        stmt = select(ConnectorPage).where(ConnectorPage.connector == connector)
        return {page.url: page for page in self.session.scalars(stmt)}

    def add_page(self, page: ConnectorPage) -> None:
        self.session.add(page)

    # ------------------------------------------------------------------------------------ public feeds

    def feed_needs(self, *, since: dt.datetime | None, after: int, limit: int) -> list[Need]:
        """Public needs (every status: a harvester follows a closed or withdrawn need) with an id above
        ``after``, changed at or after ``since`` when given, in id order (keyset paging: a record changed
        between two pages keeps its place)."""
        stmt = select(Need).where(Need.visibility == "public", Need.id > after, *_since(Need, since))
        return list(self.session.scalars(stmt.order_by(Need.id).limit(limit)))

    def feed_offers(self, *, since: dt.datetime | None, after: int, limit: int) -> list[Offer]:
        """Active offers with an id above ``after``, changed at or after ``since`` when given, in id order."""
        stmt = select(Offer).where(Offer.status == "active", Offer.id > after, *_since(Offer, since))
        return list(self.session.scalars(stmt.order_by(Offer.id).limit(limit)))

    def feed_state(self, kind: str) -> tuple[int, dt.datetime | None, int]:
        """``(count, latest update, sum of versions)`` of what a feed lists: its ETag changes whenever any
        listed record is created, changed or deleted."""
        if kind == "needs":
            stmt = select(func.count(), func.max(Need.updated_at), func.sum(Need.version)).where(
                Need.visibility == "public"
            )
        else:
            stmt = select(func.count(), func.max(Offer.updated_at), func.sum(Offer.version)).where(
                Offer.status == "active"
            )
        count, latest, versions = self.session.execute(stmt).one()
        return int(count or 0), latest, int(versions or 0)

    # ------------------------------------------------------------------------------------- duplicates

    def decided_pairs(self, entity: str) -> set[tuple[int, int]]:
        """``(low id, high id)`` of every pair of ``entity`` the secretariat merged or dismissed."""
        stmt = select(DuplicateDecision.low_id, DuplicateDecision.high_id).where(
            DuplicateDecision.entity == entity
        )
        return {(int(low), int(high)) for low, high in self.session.execute(stmt)}

    def decision(self, entity: str, low_id: int, high_id: int) -> DuplicateDecision | None:
        stmt = select(DuplicateDecision).where(
            DuplicateDecision.entity == entity,
            DuplicateDecision.low_id == low_id,
            DuplicateDecision.high_id == high_id,
        )
        return self.session.scalars(stmt).first()

    def add_decision(self, row: DuplicateDecision) -> DuplicateDecision:
        self.session.add(row)
        self.session.flush()
        return row

    def existing_ids(self, model: type[Need] | type[Offer] | type[Organisation], ids: Iterable[int]) -> list[int]:
        stmt = select(model.id).where(model.id.in_(sorted(set(ids))))
        return [int(i) for i in self.session.scalars(stmt)]

    def organisations(self) -> list[Organisation]:
        return list(self.session.scalars(select(Organisation).order_by(Organisation.id)))

    def records(self, model: type[Need] | type[Offer], ids: Iterable[int] | None = None) -> list[Need | Offer]:
        stmt = select(model).order_by(model.id)
        if ids is not None:
            wanted = sorted(set(ids))
            out: list[Need | Offer] = []
            for start in range(0, len(wanted), _IN_CHUNK):
                out.extend(self.session.scalars(stmt.where(model.id.in_(wanted[start : start + _IN_CHUNK]))))
            return out
        return list(self.session.scalars(stmt))


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite stores UTC text without a zone and compares text: bind times in UTC.
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _since(model: type[Need] | type[Offer], since: dt.datetime | None) -> list[ColumnElement[bool]]:
    return [] if since is None else [model.updated_at >= _utc(since)]
