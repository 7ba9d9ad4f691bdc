"""Bulk import and export of needs and offers (JSONL or CSV, in the gold-set format).

Import runs in two streaming passes so that a file of any size is never held in memory:

1. **validate** every row (JSON/CSV syntax, the record model, duplicate ids within the file) and collect every
   error with its line number;
2. **write** — only if no row was bad, or with ``skip_invalid`` the good rows — in *one* transaction, flushing
   and releasing ORM objects every ``chunk_size`` rows. A failure in pass 2 rolls everything back.

External ids are the identity: re-importing a file updates changed records and leaves unchanged ones alone,
so importing twice creates nothing new. Every stored record has one (records made through the API get theirs
when they are made), so an export imports back as the same records: nothing created, nothing changed.
Organisations are found by (name, country); a need keeps its requesting organisation while the record names
it (the secretariat may post a need on behalf of an institution of another country than the need's Party).

CSV files use the same column names; list fields are ``;``-separated (``3;21``) or JSON arrays.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from pydantic import BaseModel, ValidationError

from matcher.errors import InvalidInputError
from matcher.records.interchange import NeedRecord, OfferRecord
from models import vocabularies as vocab
from models.db import Database
from models.orm import Need, Offer, Organisation
from models.repositories import NeedRepository, OfferRepository, OrganisationRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Kind = Literal["needs", "offers"]
Format = Literal["jsonl", "csv"]
ProgressCallback = Callable[[int], None]

LIST_FIELDS = frozenset({"targets", "assistance_types", "languages", "regions_served", "countries_served"})
_RECORD_MODELS: dict[Kind, type[NeedRecord] | type[OfferRecord]] = {
    "needs": NeedRecord,
    "offers": OfferRecord,
}
# Organisations behind needs are the requesting government units of the Party.
_NEED_ORG_TYPE = "government_agency"


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row: its 1-based line number in the file and what is wrong with it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class ImportReport:
    """What an import found and did."""

    kind: Kind
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    written: bool = False

    @property
    def valid(self) -> int:
        return self.rows - len(self.errors)


def detect_format(path: Path) -> Format:
    """File format from the suffix (``.jsonl``/``.ndjson``/``.json`` or ``.csv``)."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise InvalidInputError(
        f"cannot tell the format of {path.name!r} from its suffix; use .jsonl or .csv, or pass --format"
    )


def iter_rows(path: Path, fmt: Format) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Stream ``(line number, raw row)`` pairs; a row that cannot even be parsed comes as a RowError."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if fmt == "jsonl":
            yield from _iter_jsonl(handle)
        else:
            yield from _iter_csv(handle)


def _iter_jsonl(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(row, dict):
            yield number, RowError(number, f"expected a JSON object, got {type(row).__name__}")
            continue
        yield number, row


def _iter_csv(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    reader = csv.DictReader(handle)
    start = reader.line_num + 1
    for row in reader:
        number = start if start > 1 else 2  # the header is line 1
        start = reader.line_num + 1
        if None in row:
            yield number, RowError(number, "more cells than header columns")
            continue
        # An empty cell means "not given": optional fields take their default, required ones are reported.
        yield number, {k: v for k, v in row.items() if v is not None and v.strip() != ""}


def validate_row(kind: Kind, row: dict[str, Any]) -> NeedRecord | OfferRecord:
    """Validate one raw row into its record model (raises ValidationError)."""
    return _RECORD_MODELS[kind].model_validate(row)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``field[index]: message`` with pydantic's prefixes removed."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not part of the format)"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _validated(path: Path, kind: Kind, fmt: Format) -> Iterator[tuple[int, NeedRecord | OfferRecord | RowError]]:
    seen: dict[str, int] = {}
    for number, row in iter_rows(path, fmt):
        if isinstance(row, RowError):
            yield number, row
            continue
        try:
            record = validate_row(kind, row)
        except ValidationError as exc:
            yield number, RowError(number, describe_validation_error(exc))
            continue
        first = seen.setdefault(record.id, number)
        if first != number:
            yield number, RowError(number, f"duplicate id {record.id!r} (first used on line {first})")
            continue
        yield number, record


def import_file(
    db: Database,
    path: Path,
    kind: Kind,
    *,
    fmt: Format | None = None,
    skip_invalid: bool = False,
    chunk_size: int = 500,
    on_validated: Callable[[ImportReport], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Validate then import a whole file; see the module docstring for the guarantees.

    Args:
        db: the database to write to.
        path: a ``.jsonl`` or ``.csv`` file in the gold-set format.
        kind: ``"needs"`` or ``"offers"``.
        fmt: force a format instead of detecting it from the suffix.
        skip_invalid: import the good rows even when some rows are bad.
        chunk_size: rows per flush (memory bound).
        on_validated: called once after pass 1 with the report so far (to size a progress bar).
        on_progress: called with the number of rows written after each chunk.
    """
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}")
    fmt = fmt or detect_format(path)
    report = ImportReport(kind=kind)
    for _, item in _validated(path, kind, fmt):
        report.rows += 1
        if isinstance(item, RowError):
            report.errors.append(item)
    if on_validated:
        on_validated(report)
    if report.errors and not skip_invalid:
        return report

    def good_records() -> Iterator[NeedRecord | OfferRecord]:
        for _, item in _validated(path, kind, fmt):
            if not isinstance(item, RowError):
                yield item

    with db.transaction() as session:
        writer = RecordWriter(session)
        for chunk in _batched(good_records(), chunk_size):
            writer.upsert(kind, chunk, report)
            session.flush()
            session.expunge_all()
            if on_progress:
                on_progress(len(chunk))
    report.written = True
    return report


class RecordWriter:
    """Creates or updates needs and offers from records, resolving organisations by (name, country)."""

    def __init__(self, session: Session) -> None:
        self.organisations = OrganisationRepository(session)
        self.needs = NeedRepository(session)
        self.offers = OfferRepository(session)
        self._org_ids: dict[tuple[str, str], int] = {}

    def upsert(self, kind: Kind, records: Iterable[NeedRecord | OfferRecord], report: ImportReport) -> None:
        """Create new records, update changed ones and count both (and the unchanged) in ``report``."""
        records = list(records)
        repo: NeedRepository | OfferRepository = self.needs if kind == "needs" else self.offers
        existing = repo.by_external_ids(r.id for r in records)
        for record in records:
            current = existing.get(record.id)
            if isinstance(record, OfferRecord):
                target: Offer = current if isinstance(current, Offer) else Offer(external_id=record.id)
                changed = self._apply_offer(target, record)
                if current is None:
                    self.offers.add(target)
            else:
                need: Need = current if isinstance(current, Need) else Need(external_id=record.id)
                changed = self._apply_need(need, record)
                if current is None:
                    self.needs.add(need)
            if current is None:
                report.created += 1
            elif changed:
                report.updated += 1
            else:
                report.unchanged += 1

    def organisation_id(self, name: str, org_type: str, country: str, *, website: str | None = None) -> int:
        """Id of the organisation (name, country), created if new; its type and website (when given) follow
        the latest record."""
        key = (name, country)
        if key in self._org_ids:
            return self._org_ids[key]
        org = self.organisations.find(name, country)
        if org is None:
            org = self.organisations.add(
                Organisation(name=name, org_type=org_type, country=country, website=website)
            )
        else:
            if org.org_type != org_type and org_type != _NEED_ORG_TYPE:
                org.org_type = org_type
            if website is not None and org.website != website:
                org.website = website
        self._org_ids[key] = org.id
        return org.id

    def _apply_offer(self, offer: Offer, record: OfferRecord) -> bool:
        org_id = self.organisation_id(record.organisation, record.org_type, record.country, website=record.website)
        return _assign(
            offer,
            organisation_id=org_id,
            title=record.title,
            description=record.description,
            targets=sorted(record.targets),
            assistance_types=sorted(record.assistance_types),
            languages=sorted(record.languages),
            regions_served=sorted(record.regions_served),
            countries_served=sorted(record.countries_served),
            cost=record.cost,
            capacity=record.capacity,
            status=record.status,
            expires_on=record.expires_on,
        )

    def _apply_need(self, need: Need, record: NeedRecord) -> bool:
        if need.organisation_id is not None and need.organisation.name == record.requesting_organisation:
            org_id = need.organisation_id  # the record names the need's institution, of whatever country
        else:
            org_id = self.organisation_id(record.requesting_organisation, _NEED_ORG_TYPE, record.party)
        return _assign(
            need,
            party=record.party,
            organisation_id=org_id,
            title=record.title,
            description=record.description,
            targets=sorted(record.targets),
            assistance_types=sorted(record.assistance_types),
            language=record.language,
            status=record.status,
            visibility=record.visibility,
        )


def _batched(items: Iterable[Any], size: int) -> Iterator[tuple[Any, ...]]:
    # itertools.batched arrived in Python 3.12; Pollinate supports 3.11.
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


def _assign(obj: object, **values: Any) -> bool:
    """Set only the attributes whose value differs (so unchanged records emit no UPDATE)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name, None) != value:
            setattr(obj, name, value)
            changed = True
    return changed


# -------------------------------------------------------------------------------------------- export


def offer_to_record(offer: Offer) -> OfferRecord:
    """The interchange record of a stored offer."""
    org = offer.organisation
    return OfferRecord.model_validate(
        dict(
            id=offer.external_id or f"offer-{offer.id}",
            organisation=org.name,
            org_type=org.org_type,
            country=org.country,
            regions_served=offer.regions_served,
            countries_served=offer.countries_served,
            title=offer.title,
            description=offer.description,
            targets=offer.targets,
            assistance_types=offer.assistance_types,
            languages=offer.languages,
            cost=offer.cost,
            capacity=offer.capacity,
            status=offer.status,
            expires_on=offer.expires_on,
            website=org.website,
        )
    )


def need_to_record(need: Need) -> NeedRecord:
    """The interchange record of a stored need (``region`` derived from the party)."""
    return NeedRecord.model_validate(
        dict(
            id=need.external_id or f"need-{need.id}",
            party=need.party,
            requesting_organisation=need.organisation.name,
            title=need.title,
            description=need.description,
            targets=need.targets,
            assistance_types=need.assistance_types,
            language=need.language,
            region=vocab.countries()[need.party].sub_region,
            status=need.status,
            visibility=need.visibility,
        )
    )


def export_records(db: Database, kind: Kind, out: TextIO, *, fmt: Format = "jsonl") -> int:
    """Write every stored need or offer to ``out``; returns the number written."""
    model: type[BaseModel] = NeedRecord if kind == "needs" else OfferRecord
    columns = list(model.model_fields)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    count = 0
    with db.transaction(read_only=True) as session:
        repo: NeedRepository | OfferRepository = (
            NeedRepository(session) if kind == "needs" else OfferRepository(session)
        )
        for stored in repo.iter_all():
            record = need_to_record(stored) if isinstance(stored, Need) else offer_to_record(stored)
            data = record.model_dump(mode="json", exclude_none=True)
            if writer:
                writer.writerow({k: ";".join(map(str, v)) if k in LIST_FIELDS else v for k, v in data.items()})
            else:
                out.write(json.dumps(data, ensure_ascii=False) + "\n")
            count += 1
    return count
