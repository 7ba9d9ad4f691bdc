"""A connector run: fetch the source, map and validate its records, and write them in one transaction.

What a run guarantees:

- **All or nothing.** Every page is fetched (outside any write transaction, so a slow source holds no lock)
  before anything is written; the records, their provenance, the withdrawals, the pages' validators, the run's
  report and its audit event are then written in *one* transaction. A source that fails on any page, a body
  that cannot be read, or an error while writing leaves the database as it was; the failed run is then
  recorded, with its reason, in a transaction of its own.
- **Identity.** A harvested record's external id is ``<connector>:<source id>``; its provenance row
  (``record_sources``) keeps the connector, source id, source URL, time fetched and a hash of the mapped
  record. A run whose mapped record hashes as before leaves the record alone (even if someone edited it here
  since: the source wins only when the source changes); a changed one updates it through the importer's writer
  (``matcher.records.bulk.RecordWriter``), the same code path as ``pollinate import``.
- **Withdrawal, not deletion.** A record the source no longer lists is withdrawn: a need's status becomes
  ``withdrawn``, an offer's ``expired`` (an organisation keeps its row; its provenance is marked). Its review
  decisions and stored suggestions stay. Listed again, it comes back with the source's status.
- **Invalid records** are skipped with their reason (a run does not fail for one bad record); they are in the
  report.
- **Conditional requests.** A page answered ``304 Not Modified`` is not parsed; its records count as seen and
  unchanged (by the source ids stored with the page), and paging goes on from its stored next link.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from matcher.access.outbound import OutboundPolicy, shown
from matcher.connectors.builtin import BUILTIN
from matcher.connectors.definition import ConnectorDefinition
from matcher.connectors.fetch import HttpSource, Page, Validators, read_file
from matcher.connectors.mapping import (
    FieldTable,
    MappingError,
    Vocabulary,
    content_hash,
    external_id,
    get_path,
    normalise,
)
from matcher.errors import HarvestError
from matcher.records.bulk import ImportReport, RecordWriter, describe_validation_error
from matcher.records.interchange import CountryCode as Country
from matcher.records.interchange import Name, NeedRecord, OfferRecord, OrganisationType, Website
from matcher.settings import ConnectorSettings
from models.connectors import ConnectorRepository
from models.db import Database
from models.orm import (
    AUDIT_ACTOR,
    AuditActor,
    AuditEvent,
    ConnectorPage,
    ConnectorRun,
    RecordSource,
    utcnow,
)
from models.repositories import NeedRepository, OfferRepository, OrganisationRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_ENTITY = {"needs": "need", "offers": "offer", "organisations": "organisation"}
# What a withdrawn record's status becomes (a connector's withdrawal, the copy of a merge).
WITHDRAWN_STATUS = {"needs": "withdrawn", "offers": "expired"}
# Reasons quoted in a report are cut to this length (a source chooses its values).
_REASON_CHARS = 500


class OrganisationRecord(BaseModel):
    """An organisation harvested on its own (provider profiles, partners' rosters)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: Name
    org_type: OrganisationType
    country: Country
    website: Website | None = None


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A source record that was skipped, and why."""

    source_id: str
    reason: str


@dataclass(slots=True)
class RunReport:
    """What a run found and did."""

    connector: str
    status: str = "succeeded"
    run_id: int | None = None
    pages: int = 0
    parsed_pages: int = 0
    not_modified_pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    invalid: list[InvalidRecord] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        """One line for logs and the audit note."""
        if self.status == "failed":
            return f"connector {self.connector}: failed: {self.error}"
        return (
            f"connector {self.connector}: {self.status}, {self.pages} pages ({self.not_modified_pages} not "
            f"modified), {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.withdrawn} withdrawn, {len(self.invalid)} invalid"
        )


@dataclass(slots=True)
class _Fetched:
    pages: list[Page]
    records: list[tuple[str | None, dict[str, Any]]]  # (page URL, record) of the pages that were parsed
    seen_unparsed: set[str]  # source ids of the pages answered 304


def run_connector(
    db: Database,
    definition: ConnectorDefinition,
    settings: ConnectorSettings,
    *,
    trigger: str = "cli",
    policy: OutboundPolicy | None = None,
    client: httpx.Client | None = None,
) -> RunReport:
    """Run one connector (see the module docstring); a failed run is recorded and reported, not raised."""
    started = utcnow()
    try:
        with db.transaction(read_only=True) as session:
            pages = ConnectorRepository(session).pages(definition.name)
            known = {
                url: (Validators(p.etag, p.last_modified), p.next_url, list(p.source_ids))
                for url, p in pages.items()
            }
        fetched = _fetch(definition, settings, known, policy=policy, client=client)
        with db.transaction() as session:
            return _Writer(session, definition, started, trigger).write(fetched)
    except HarvestError as exc:
        return _record_failure(db, definition, started, trigger, str(exc))
    except Exception as exc:  # a bug or a database error: recorded as a failure too, and raised
        _record_failure(db, definition, started, trigger, f"unexpected error: {type(exc).__name__}")
        raise


def _fetch(
    definition: ConnectorDefinition,
    settings: ConnectorSettings,
    known: Mapping[str, tuple[Validators, str | None, list[str]]],
    *,
    policy: OutboundPolicy | None,
    client: httpx.Client | None,
) -> _Fetched:
    if definition.source.file is not None:
        from_file = read_file(definition, settings)
        _check_count(len(from_file), settings)
        return _Fetched(
            [Page(url=definition.source.file, records=from_file)], [(None, r) for r in from_file], set()
        )
    source = HttpSource(definition, settings, policy=policy, client=client)
    pages: list[Page] = []
    records: list[tuple[str | None, dict[str, Any]]] = []
    seen_unparsed: set[str] = set()
    url: str | None = source.first_url()
    visited: set[str] = set()
    while url is not None:
        if url in visited:
            raise HarvestError(f"the source's next links loop back to {shown(url)}")
        if len(pages) >= settings.max_pages:
            raise HarvestError(f"the source has more than {settings.max_pages} pages (connectors.max_pages)")
        visited.add(url)
        stored = known.get(url)
        page = source.fetch(url, stored[0] if stored else None)
        if page.not_modified:
            assert stored is not None  # a 304 only answers a conditional request
            page.validators, page.next_url = stored[0], stored[1]
            seen_unparsed.update(stored[2])
        else:
            assert page.records is not None
            records.extend((url, r) for r in page.records)
            _check_count(len(records), settings)
        pages.append(page)
        url = page.next_url
    return _Fetched(pages, records, seen_unparsed)


def _check_count(count: int, settings: ConnectorSettings) -> None:
    if count > settings.max_records:
        raise HarvestError(f"the source lists more than {settings.max_records} records (connectors.max_records)")


def _record_failure(
    db: Database, definition: ConnectorDefinition, started: dt.datetime, trigger: str, error: str
) -> RunReport:
    report = RunReport(connector=definition.name, status="failed", error=error)
    log.warning("%s", report.summary())
    with db.transaction() as session:
        repo = ConnectorRepository(session)
        run = repo.add_run(
            ConnectorRun(
                connector=definition.name, status="failed", trigger=trigger, started_at=started, error=error
            )
        )
        report.run_id = run.id
        repo.add_audit_event(_audit_event(run, report))
    return report


def _audit_event(run: ConnectorRun, report: RunReport) -> AuditEvent:
    changes: dict[str, list[Any]] = {
        "connector": [None, report.connector],
        "status": [None, report.status],
        "created": [None, report.created],
        "updated": [None, report.updated],
        "unchanged": [None, report.unchanged],
        "withdrawn": [None, report.withdrawn],
        "invalid": [None, [f"{i.source_id}: {i.reason}" for i in report.invalid]],
    }
    if report.error:
        changes["error"] = [None, report.error]
    return AuditEvent(
        actor_role="system",
        actor_label=f"connector {report.connector}"[:200],
        entity="connector_run",
        entity_id=run.id,
        action="harvest",
        changes=changes,
        note=report.summary()[:2000],
    )


class _Writer:
    """The write half of a run, inside its one transaction."""

    def __init__(self, session: Session, definition: ConnectorDefinition, started: dt.datetime, trigger: str):
        self.session = session
        self.definition = definition
        self.kind = definition.kind
        self.entity = _ENTITY[self.kind]
        self.repo = ConnectorRepository(session)
        self.records = RecordWriter(session)
        self.started = started
        self.trigger = trigger
        builtin = BUILTIN.get(definition.mapping)
        self.builtin = builtin
        own: dict[str, str | tuple[str, ...]] = {
            k: (v if isinstance(v, str) else tuple(v)) for k, v in definition.fields.items()
        }
        if builtin is not None:
            table = builtin.tables.get(self.kind)
            if table is None:
                raise HarvestError(f"mapping {definition.mapping!r} has no {self.kind}; choose another kind")
            self.table = FieldTable({**table.fields, **own}, {**table.defaults, **definition.defaults})
            self.vocabulary = Vocabulary.of(definition, builtin=builtin.vocabulary)
        else:
            self.table = FieldTable(own, dict(definition.defaults))
            self.vocabulary = Vocabulary.of(definition)

    def write(self, fetched: _Fetched) -> RunReport:
        report = RunReport(connector=self.definition.name)
        report.pages = len(fetched.pages)
        report.not_modified_pages = sum(1 for p in fetched.pages if p.not_modified)
        report.parsed_pages = report.pages - report.not_modified_pages
        if report.not_modified_pages == report.pages:
            report.status = "not_modified"
        run = self.repo.add_run(
            ConnectorRun(connector=self.definition.name, status=report.status, trigger=self.trigger)
        )
        report.run_id = run.id
        self.session.info[AUDIT_ACTOR] = AuditActor(
            role="system", label=f"connector {self.definition.name}"[:200], note=f"connector run {run.id}"
        )
        now = utcnow()
        sources = self.repo.sources(self.definition.name, self.entity)
        seen: dict[str, str | None] = {}  # source id -> page URL of every record listed this run
        for source_id in fetched.seen_unparsed:
            seen[source_id] = None
            report.unchanged += 1
        page_ids: dict[str | None, list[str]] = {}
        for page_url, raw in fetched.records:
            self._one(raw, page_url, sources, seen, page_ids, report, now)
        report.withdrawn = self._withdraw(sources, seen, now)
        self._store_pages(fetched.pages, page_ids, now)
        self.session.flush()
        run.pages, run.created, run.updated = report.pages, report.created, report.updated
        run.unchanged, run.withdrawn = report.unchanged, report.withdrawn
        run.invalid = [{"source_id": i.source_id, "reason": i.reason} for i in report.invalid]
        run.started_at, run.finished_at = self.started, utcnow()
        self.repo.add_audit_event(_audit_event(run, report))
        log.info("%s", report.summary())
        return report

    def _one(
        self,
        raw: dict[str, Any],
        page_url: str | None,
        sources: dict[str, RecordSource],
        seen: dict[str, str | None],
        page_ids: dict[str | None, list[str]],
        report: RunReport,
        now: dt.datetime,
    ) -> None:
        id_path = self.builtin.id_path if self.builtin is not None else self.table.fields["id"]
        raw_id = get_path(raw, id_path) if isinstance(id_path, str) else None
        if raw_id is None or str(raw_id).strip() == "":
            report.invalid.append(InvalidRecord("?", f"no source id at {id_path!r}"))
            return
        source_id = str(raw_id).strip()[:200]
        if source_id in seen:
            report.invalid.append(InvalidRecord(source_id, "listed twice in this run (the first was kept)"))
            return
        seen[source_id] = page_url
        page_ids.setdefault(page_url, []).append(source_id)
        try:
            record = self._validate(raw, source_id)
        except (MappingError, ValidationError, ValueError) as exc:
            reason = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            report.invalid.append(InvalidRecord(source_id, reason[:_REASON_CHARS]))
            # An invalid record is still listed by the source: it is not withdrawn, and keeps its last version.
            return
        digest = content_hash(record.model_dump(mode="json"))
        source_url = self._source_url(raw, source_id, page_url)
        provenance = sources.get(source_id)
        if provenance is not None and provenance.content_hash == digest and provenance.withdrawn_at is None:
            report.unchanged += 1
            provenance.fetched_at = now
            return
        record_id, outcome = self._upsert(record, provenance)
        setattr(report, outcome, getattr(report, outcome) + 1)
        if provenance is None:
            provenance = RecordSource(
                connector=self.definition.name, entity=self.entity, source_id=source_id, record_id=record_id
            )
            self.repo.add_source(provenance)
            sources[source_id] = provenance
        provenance.record_id = record_id
        provenance.source_url = source_url[:500] if source_url else None
        provenance.content_hash = digest
        provenance.fetched_at = now
        provenance.withdrawn_at = None

    def _validate(self, raw: dict[str, Any], source_id: str) -> NeedRecord | OfferRecord | OrganisationRecord:
        values = self.table.read(raw, self._language(raw))
        values.pop("url", None)
        if self.builtin is not None and self.builtin.finish is not None:
            values = self.builtin.finish(values, raw)
        values = normalise(self.kind, values, self.vocabulary)
        values["id"] = external_id(self.definition.name, source_id)
        if self.kind == "needs":
            values.setdefault("language", self.definition.language)
            values.pop("region", None)
            return NeedRecord.model_validate(values)
        if self.kind == "offers":
            values.setdefault("languages", [self.definition.language])
            return OfferRecord.model_validate(values)
        return OrganisationRecord.model_validate(values)

    def _language(self, raw: dict[str, Any]) -> str:
        """The record's own language when it says one (its language strings are read in it), else the
        definition's."""
        path = self.builtin.language_path if self.builtin is not None else None
        if path is None and isinstance(self.table.fields.get("language"), str):
            path = str(self.table.fields["language"])
        found = get_path(raw, path) if path is not None else None
        return found.lower() if isinstance(found, str) and len(found) == 2 else self.definition.language

    def _source_url(self, raw: dict[str, Any], source_id: str, page_url: str | None) -> str | None:
        if "url" in self.table.fields:
            found = self.table.read(raw, self.definition.language).get("url")
            if isinstance(found, str) and found.startswith(("https://", "http://")):
                return found
        if self.builtin is not None:
            found = self.builtin.source_url(raw, source_id)
            if found:
                return found
        return page_url

    def _upsert(
        self, record: NeedRecord | OfferRecord | OrganisationRecord, provenance: RecordSource | None
    ) -> tuple[int, str]:
        if isinstance(record, OrganisationRecord):
            existing = OrganisationRepository(self.session).find(record.name, record.country)
            before = (existing.org_type, existing.website) if existing is not None else None
            org_id = self.records.organisation_id(
                record.name, record.org_type, record.country, website=record.website
            )
            if before is None:
                return org_id, "created"
            org = OrganisationRepository(self.session).get(org_id)
            assert org is not None
            return org_id, "updated" if (org.org_type, org.website) != before else "unchanged"
        repo: NeedRepository | OfferRepository = (
            NeedRepository(self.session) if self.kind == "needs" else OfferRepository(self.session)
        )
        # The record is found through its provenance first: after a merge, the source's record is the survivor
        # (another external id), which the run updates instead of creating the merged copy again.
        current = repo.get(provenance.record_id) if provenance is not None else None
        if current is not None and current.external_id is not None and current.external_id != record.id:
            record = record.model_copy(update={"id": current.external_id})
        counts = ImportReport(kind=self.kind)  # type: ignore[arg-type]
        self.records.upsert(self.kind, [record], counts)  # type: ignore[arg-type]
        self.session.flush()
        stored = repo.get_by_external_id(record.id)
        assert stored is not None
        outcome = "created" if counts.created else "updated" if counts.updated else "unchanged"
        return stored.id, outcome

    def _withdraw(self, sources: dict[str, RecordSource], seen: Mapping[str, str | None], now: dt.datetime) -> int:
        gone = [row for sid, row in sources.items() if sid not in seen and row.withdrawn_at is None]
        status = WITHDRAWN_STATUS.get(self.kind)
        if status is not None and gone:
            repo: NeedRepository | OfferRepository = (
                NeedRepository(self.session) if self.kind == "needs" else OfferRepository(self.session)
            )
            # A merged record that another connector still lists stays: only this source stopped listing it.
            kept = self.repo.listed_elsewhere(self.entity, (row.record_id for row in gone), self.definition.name)
            for record in repo.by_ids(row.record_id for row in gone if row.record_id not in kept).values():
                record.status = status
        for row in gone:
            row.withdrawn_at = now
        return len(gone)

    def _store_pages(self, pages: list[Page], page_ids: Mapping[str | None, list[str]], now: dt.datetime) -> None:
        if self.definition.source.url is None:
            return
        stored = self.repo.pages(self.definition.name)
        for page in pages:
            row = stored.get(page.url)
            if row is None:
                row = ConnectorPage(connector=self.definition.name, url=page.url, source_ids=[])
                self.repo.add_page(row)
            row.etag, row.last_modified = page.validators.etag, page.validators.last_modified
            row.next_url = page.next_url
            if not page.not_modified:
                row.source_ids = list(page_ids.get(page.url, []))
            row.fetched_at = now
