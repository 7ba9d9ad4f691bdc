"""Repositories: every SQL query of Pollinate lives here.

A repository wraps a session it does not own: it adds, loads and queries, and never commits (the request or CLI
boundary does, through ``Database.transaction``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, case, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from models import vocabularies as vocab
from models.orm import (
    OFFER_COUNTER,
    AccountToken,
    ApiKey,
    AuditEvent,
    ContactRequest,
    Counter,
    DuplicateDecision,
    Embedding,
    IdempotencyRecord,
    InstanceSecret,
    Need,
    NeedAssistanceType,
    NeedTarget,
    Offer,
    OfferAssistanceType,
    OfferCountry,
    OfferDeletion,
    OfferLanguage,
    OfferRegion,
    OfferTarget,
    Organisation,
    ShortlistEntry,
    SuggestedMatch,
    User,
    WebSession,
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

    def by_name(self, name: str) -> list[Organisation]:
        """Organisations with this exact name (one per country at most)."""
        return list(self.session.scalars(select(Organisation).where(Organisation.name == name)))

    def find(self, name: str, country: str) -> Organisation | None:
        stmt = select(Organisation).where(Organisation.name == name, Organisation.country == country)
        return self.session.scalars(stmt).one_or_none()

    def add(self, organisation: Organisation) -> Organisation:
        self.session.add(organisation)
        self.session.flush()
        return organisation

    def delete(self, organisation: Organisation) -> None:
        self.session.delete(organisation)
        self.session.flush()

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Organisation)) or 0

    def by_name_order(self, *, limit: int) -> list[Organisation]:
        """Organisations by name (for choosing one in a form)."""
        stmt = select(Organisation).order_by(func.lower(Organisation.name), Organisation.id).limit(limit)
        return list(self.session.scalars(stmt))

    def offer_count(self, organisation_id: int) -> int:
        """Offers of the organisation, whatever their status."""
        stmt = select(func.count()).select_from(Offer).where(Offer.organisation_id == organisation_id)
        return int(self.session.scalar(stmt) or 0)


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

    def present_ids(self, record_ids: Iterable[int]) -> set[int]:
        """Which of ``record_ids`` exist (no lock: see ``OfferRepository.existing_ids`` for one)."""
        ids = sorted(set(record_ids))
        found: set[int] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            stmt = select(self.model.id).where(self.model.id.in_(ids[start : start + _IN_CHUNK]))
            found.update(int(i) for i in self.session.scalars(stmt))
        return found

    def by_ids(self, record_ids: Iterable[int]) -> dict[int, RecordT]:
        """The records with these ids, keyed by id (missing ids are absent; tags loaded in one go)."""
        ids = list(dict.fromkeys(record_ids))
        found: dict[int, RecordT] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            for record in self.session.scalars(select(self.model).where(self.model.id.in_(chunk))):
                found[record.id] = record
        return found

    def add(self, record: RecordT) -> RecordT:
        self.session.add(record)
        return record

    def add_all(self, records: Sequence[RecordT]) -> None:
        self.session.add_all(records)

    def delete(self, record: RecordT) -> None:
        self.session.delete(record)
        self.session.flush()

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(self.model)) or 0

    def iter_all(self, *, batch_size: int = 500) -> Iterator[RecordT]:
        """Every record in id order, loaded ``batch_size`` at a time.

        Memory stays constant (for exports of any size) because each batch is expunged from the session once
        the caller has moved past it: use this on a session of its own.
        """
        last_id = 0
        while True:
            batch = self.page_after(last_id, limit=batch_size)
            if not batch:
                return
            yield from batch
            last_id = batch[-1].id
            self.session.expunge_all()

    def page_after(self, after: int, *, limit: int) -> list[RecordT]:
        """Up to ``limit`` records whose id is above ``after``, in id order (keyset paging)."""
        stmt = select(self.model).where(self.model.id > after).order_by(self.model.id).limit(limit)
        return list(self.session.scalars(stmt))

    def ids_after(self, after: int, *, limit: int) -> list[int]:
        """Up to ``limit`` ids above ``after``, ascending (keyset paging without loading the records)."""
        stmt = select(self.model.id).where(self.model.id > after).order_by(self.model.id).limit(limit)
        return [int(i) for i in self.session.scalars(stmt)]


class NeedRepository(_RecordRepository[Need]):
    """Needs."""

    model = Need

    def ids_in_statuses(self, statuses: Iterable[str]) -> list[int]:
        """Ids of the needs in one of ``statuses``."""
        return [int(i) for i in self.session.scalars(select(Need.id).where(Need.status.in_(tuple(statuses))))]


class OfferCapacity(NamedTuple):
    """An offer's capacity, with what capacity-aware assignment reports and weighs (its provider's country)."""

    id: int
    capacity: int | None
    title: str
    country: str


class OfferRepository(_RecordRepository[Offer]):
    """Offers."""

    model = Offer

    def existing_ids(self, ids: Iterable[int]) -> set[int]:
        """Which of ``ids`` still exist, each kept from deletion until the transaction ends.

        For writes that refer to offers ranked before the transaction began: on PostgreSQL the rows are
        locked ``FOR KEY SHARE`` (a concurrent delete waits for this commit; one committed first is not
        found); SQLite write transactions are serialised (``BEGIN IMMEDIATE``), so what is found stays.
        """
        wanted = sorted(set(ids))
        found: set[int] = set()
        for start in range(0, len(wanted), _IN_CHUNK):
            stmt = (
                select(Offer.id)
                .where(Offer.id.in_(wanted[start : start + _IN_CHUNK]))
                .with_for_update(read=True, key_share=True)
            )
            found.update(int(i) for i in self.session.scalars(stmt))
        return found

    def capacities(self, offer_ids: Iterable[int]) -> list[OfferCapacity]:
        """Capacity, title and provider country of the offers with these ids (missing ids are absent)."""
        ids = list(dict.fromkeys(offer_ids))
        out: list[OfferCapacity] = []
        for start in range(0, len(ids), _IN_CHUNK):
            stmt = (
                select(Offer.id, Offer.capacity, Offer.title, Organisation.country)
                .join(Organisation, Organisation.id == Offer.organisation_id)
                .where(Offer.id.in_(ids[start : start + _IN_CHUNK]))
            )
            out.extend(OfferCapacity(*row) for row in self.session.execute(stmt))
        return out


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
            .where(Offer.id.not_in(_merged_offers()))
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


def _merged_offers() -> Select[int]:
    """Ids of the offers merged into another (the copy of a duplicate pair): never in the catalogue, so that
    matching never ranks two copies of one offer, whatever the ranking's policy for inactive offers."""
    merged = DuplicateDecision.low_id + DuplicateDecision.high_id - DuplicateDecision.survivor_id
    return select(merged).where(DuplicateDecision.entity == "offer", DuplicateDecision.decision == "merged")


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


# ------------------------------------------------------------------------------------------ listings


@dataclass(frozen=True, slots=True)
class Page(Generic[RecordT]):
    """One page of a listing and the total number of matching records."""

    items: list[RecordT]
    total: int


def _contains(text: str) -> str:
    """A LIKE pattern for a case-insensitive substring (``%``, ``_`` and ``\\`` taken literally)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class NeedListing:
    """Conditions of a need listing; empty values mean "no condition".

    ``visible_all`` lists every need; otherwise public needs plus the confidential ones of ``visible_country``.
    """

    visible_all: bool = False
    visible_country: str | None = None
    targets: tuple[int, ...] = ()
    parties: tuple[str, ...] = ()
    assistance_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    q: str | None = None


@dataclass(frozen=True, slots=True)
class OfferListing:
    """Conditions of an offer listing; empty values mean "no condition".

    ``visible_all`` lists offers of every status; otherwise active offers plus every offer of
    ``visible_organisation``. Geography: for each ``(areas, countries)`` of ``places``, an offer must list one
    of the areas or one of the countries (the service expands a place into those sets).
    """

    visible_all: bool = False
    visible_organisation: int | None = None
    targets: tuple[int, ...] = ()
    places: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    assistance_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    org_types: tuple[str, ...] = ()
    organisation_id: int | None = None
    q: str | None = None


def need_visible(visible_all: bool, visible_country: str | None) -> ColumnElement[bool] | None:
    """The SQL form of ``matcher.access.can_read_need`` for a scope of ``visible_need_scope`` (``None``: every
    need): public needs, plus the confidential ones of ``visible_country``."""
    if visible_all:
        return None
    public = Need.visibility == "public"
    return or_(public, Need.party == visible_country) if visible_country else public


def _serving(areas: Sequence[str], countries: Sequence[str]) -> ColumnElement[bool]:
    """Offers listing one of ``areas`` or one of ``countries``.

    Written as ``id IN (offers listing them)`` rather than a correlated ``EXISTS``: for a region's sixty
    countries, SQLite probed the (offer, country) key once per country and offer (600,000 probes at 10,000
    offers, 160 ms); the subquery is computed once per statement (a few ms).
    """
    serving = [Offer.id.in_(select(OfferRegion.offer_id).where(OfferRegion.region.in_(areas)))]
    if countries:
        serving.append(Offer.id.in_(select(OfferCountry.offer_id).where(OfferCountry.country.in_(countries))))
    return or_(*serving)


def _need_conditions(f: NeedListing) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if (visible := need_visible(f.visible_all, f.visible_country)) is not None:
        where.append(visible)
    if f.targets:
        where.append(exists().where(NeedTarget.need_id == Need.id, NeedTarget.target.in_(f.targets)))
    if f.parties:
        where.append(Need.party.in_(f.parties))
    if f.assistance_types:
        where.append(
            exists().where(
                NeedAssistanceType.need_id == Need.id, NeedAssistanceType.assistance_type.in_(f.assistance_types)
            )
        )
    if f.statuses:
        where.append(Need.status.in_(f.statuses))
    if f.languages:
        where.append(Need.language.in_(f.languages))
    if f.q:
        pattern = _contains(f.q)
        where.append(
            or_(
                func.lower(Need.title).like(pattern, escape="\\"),
                func.lower(Need.description).like(pattern, escape="\\"),
            )
        )
    return where


def _offer_conditions(f: OfferListing) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if not f.visible_all:
        active = Offer.status == "active"
        if f.visible_organisation is not None:
            where.append(or_(active, Offer.organisation_id == f.visible_organisation))
        else:
            where.append(active)
    if f.targets:
        where.append(exists().where(OfferTarget.offer_id == Offer.id, OfferTarget.target.in_(f.targets)))
    for areas, countries in f.places:
        where.append(_serving(areas, countries))
    if f.assistance_types:
        where.append(
            exists().where(
                OfferAssistanceType.offer_id == Offer.id,
                OfferAssistanceType.assistance_type.in_(f.assistance_types),
            )
        )
    if f.statuses:
        where.append(Offer.status.in_(f.statuses))
    if f.languages:
        where.append(exists().where(OfferLanguage.offer_id == Offer.id, OfferLanguage.language.in_(f.languages)))
    if f.org_types:
        where.append(
            exists().where(Organisation.id == Offer.organisation_id, Organisation.org_type.in_(f.org_types))
        )
    if f.organisation_id is not None:
        where.append(Offer.organisation_id == f.organisation_id)
    if f.q:
        pattern = _contains(f.q)
        where.append(
            or_(
                func.lower(Offer.title).like(pattern, escape="\\"),
                func.lower(Offer.description).like(pattern, escape="\\"),
            )
        )
    return where


def list_needs(
    session: Session, listing: NeedListing, *, limit: int, offset: int, newest_first: bool = False
) -> Page[Need]:
    """A page of needs (id order; ``newest_first``: the reverse, ids grow with creation) and the number of
    needs matching ``listing``."""
    where = _need_conditions(listing)
    total = session.scalar(select(func.count()).select_from(Need).where(*where)) or 0
    order = Need.id.desc() if newest_first else Need.id
    items = list(session.scalars(select(Need).where(*where).order_by(order).limit(limit).offset(offset)))
    return Page(items, int(total))


def list_offers(
    session: Session, listing: OfferListing, *, limit: int, offset: int, newest_first: bool = False
) -> Page[Offer]:
    """A page of offers (id order; ``newest_first``: the reverse, ids grow with creation) and the number of
    offers matching ``listing``."""
    where = _offer_conditions(listing)
    total = session.scalar(select(func.count()).select_from(Offer).where(*where)) or 0
    order = Offer.id.desc() if newest_first else Offer.id
    items = list(session.scalars(select(Offer).where(*where).order_by(order).limit(limit).offset(offset)))
    return Page(items, int(total))


def list_organisations(
    session: Session,
    *,
    q: str | None,
    org_types: tuple[str, ...],
    countries: tuple[str, ...],
    limit: int,
    offset: int,
) -> tuple[list[Organisation], int]:
    """A page of organisations (id order) and the number matching."""
    where: list[ColumnElement[bool]] = []
    if q:
        where.append(func.lower(Organisation.name).like(_contains(q), escape="\\"))
    if org_types:
        where.append(Organisation.org_type.in_(org_types))
    if countries:
        where.append(Organisation.country.in_(countries))
    total = session.scalar(select(func.count()).select_from(Organisation).where(*where)) or 0
    stmt = select(Organisation).where(*where).order_by(Organisation.id).limit(limit).offset(offset)
    return list(session.scalars(stmt)), int(total)


def organisation_in_use(session: Session, organisation_id: int) -> bool:
    """Whether needs, offers or users refer to the organisation."""
    for model in (Need, Offer, User):
        column = model.organisation_id
        if session.scalar(select(exists().where(column == organisation_id))):
            return True
    return False


@dataclass(frozen=True, slots=True)
class RecordText:
    """The text of a need or an offer, without its relationships (for comparing texts by the thousand)."""

    id: int
    external_id: str | None
    owner: str  # a need's party, an offer's organisation id
    title: str
    description: str
    status: str
    version: int


def need_texts(
    session: Session, listing: NeedListing, *, exclude_statuses: tuple[str, ...] = ()
) -> list[RecordText]:
    """The texts of every need matching ``listing`` (one query, no relationships loaded)."""
    where = _need_conditions(listing)
    if exclude_statuses:
        where.append(Need.status.not_in(exclude_statuses))
    stmt = select(
        Need.id, Need.external_id, Need.party, Need.title, Need.description, Need.status, Need.version
    ).where(*where)
    return [RecordText(*row) for row in session.execute(stmt.order_by(Need.id))]


def offer_texts(session: Session, listing: OfferListing) -> list[RecordText]:
    """The texts of every offer matching ``listing`` (one query, no relationships loaded)."""
    stmt = select(
        Offer.id,
        Offer.external_id,
        Offer.organisation_id,
        Offer.title,
        Offer.description,
        Offer.status,
        Offer.version,
    ).where(*_offer_conditions(listing))
    rows = session.execute(stmt.order_by(Offer.id))
    return [RecordText(i, ext, str(org), title, text, status, v) for i, ext, org, title, text, status, v in rows]


def open_needs(session: Session, listing: NeedListing) -> list[Need]:
    """Every need matching ``listing`` (for reverse matching; the caller bounds the statuses)."""
    return list(session.scalars(select(Need).where(*_need_conditions(listing)).order_by(Need.id)))


# ------------------------------------------------------------------------------------ facets and counts
# Counts per value of a facet, for the filters of the web pages. The caller passes the listing *without* the
# facet's own condition (a value's count is then what choosing it would show), so each count is one GROUP BY.

OfferFacet = Literal["targets", "assistance_types", "languages", "org_types"]
NeedFacet = Literal["targets", "assistance_types", "languages", "parties"]

_OFFER_FACETS: dict[str, tuple[Any, Any]] = {
    "targets": (OfferTarget.target, OfferTarget.offer_id),
    "assistance_types": (OfferAssistanceType.assistance_type, OfferAssistanceType.offer_id),
    "languages": (OfferLanguage.language, OfferLanguage.offer_id),
}


def count_offers_by(session: Session, listing: OfferListing, facet: OfferFacet) -> dict[Any, int]:
    """``value -> offers matching listing that have it`` for one facet (values with no offer are absent)."""
    where = _offer_conditions(listing)
    if facet == "org_types":
        stmt = (
            select(Organisation.org_type, func.count())
            .select_from(Offer)
            .join(Organisation, Organisation.id == Offer.organisation_id)
            .where(*where)
            .group_by(Organisation.org_type)
        )
    else:
        value, owner = _OFFER_FACETS[facet]
        stmt = select(value, func.count()).join(Offer, Offer.id == owner).where(*where).group_by(value)
    return {v: int(n) for v, n in session.execute(stmt)}


def count_offers_by_place(
    session: Session, listing: OfferListing, places: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
) -> dict[str, int]:
    """``place -> offers matching listing that serve it``, each place given as (areas, countries) an offer may
    list to serve it (one query for every place)."""
    if not places:
        return {}
    columns = [
        func.coalesce(func.sum(case((_serving(areas, countries), 1), else_=0)), 0)
        for areas, countries in places.values()
    ]
    row = session.execute(select(*columns).select_from(Offer).where(*_offer_conditions(listing))).one()
    return {name: int(n) for name, n in zip(places, row, strict=True)}


def count_needs_by(session: Session, listing: NeedListing, facet: NeedFacet) -> dict[Any, int]:
    """``value -> needs matching listing that have it`` for one facet (values with no need are absent)."""
    where = _need_conditions(listing)
    stmt: Any
    if facet == "targets":
        stmt = select(NeedTarget.target, func.count()).join(Need, Need.id == NeedTarget.need_id)
        stmt = stmt.where(*where).group_by(NeedTarget.target)
    elif facet == "assistance_types":
        column = NeedAssistanceType.assistance_type
        stmt = select(column, func.count()).join(Need, Need.id == NeedAssistanceType.need_id)
        stmt = stmt.where(*where).group_by(column)
    else:
        column = Need.language if facet == "languages" else Need.party
        stmt = select(column, func.count()).select_from(Need).where(*where).group_by(column)
    return {v: int(n) for v, n in session.execute(stmt)}


@dataclass(frozen=True, slots=True)
class ProviderListing:
    """Conditions of the provider directory: organisations with at least one active offer."""

    q: str | None = None
    org_types: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


def _active_offers() -> Any:
    return (
        select(Offer.organisation_id.label("organisation_id"), func.count().label("offers"))
        .where(Offer.status == "active")
        .group_by(Offer.organisation_id)
        .subquery()
    )


def list_providers(
    session: Session, listing: ProviderListing, *, limit: int, offset: int
) -> tuple[list[tuple[Organisation, int]], int]:
    """A page of providers (by name) with their number of active offers, and the number of providers."""
    active = _active_offers()
    where: list[ColumnElement[bool]] = []
    if listing.q:
        where.append(func.lower(Organisation.name).like(_contains(listing.q), escape="\\"))
    if listing.org_types:
        where.append(Organisation.org_type.in_(listing.org_types))
    if listing.countries:
        where.append(Organisation.country.in_(listing.countries))
    base = select(Organisation, active.c.offers).join(active, active.c.organisation_id == Organisation.id)
    total = session.scalar(select(func.count()).select_from(base.where(*where).subquery())) or 0
    stmt = base.where(*where).order_by(func.lower(Organisation.name), Organisation.id).limit(limit).offset(offset)
    return [(org, int(n)) for org, n in session.execute(stmt)], int(total)


def count_providers_by_type(session: Session) -> dict[str, int]:
    """``organisation type -> providers`` (organisations with an active offer)."""
    active = _active_offers()
    stmt = (
        select(Organisation.org_type, func.count())
        .join(active, active.c.organisation_id == Organisation.id)
        .group_by(Organisation.org_type)
    )
    return {t: int(n) for t, n in session.execute(stmt)}


def active_offer_count(session: Session, organisation_id: int) -> int:
    """Active offers of one organisation."""
    stmt = (
        select(func.count())
        .select_from(Offer)
        .where(Offer.organisation_id == organisation_id, Offer.status == "active")
    )
    return int(session.scalar(stmt) or 0)


@dataclass(frozen=True, slots=True)
class CatalogueCounts:
    """What the public catalogue holds: public needs, active offers, providers (organisations with an active
    offer) and countries (of a public need or a provider)."""

    public_needs: int
    active_offers: int
    providers: int
    countries: int


def catalogue_counts(session: Session) -> CatalogueCounts:
    """The counts of :class:`CatalogueCounts`."""
    active = _active_offers()
    parties = set(session.scalars(select(Need.party).where(Need.visibility == "public").distinct()))
    homes = set(
        session.scalars(select(Organisation.country).join(active, active.c.organisation_id == Organisation.id))
    )
    return CatalogueCounts(
        public_needs=int(
            session.scalar(select(func.count()).select_from(Need).where(Need.visibility == "public")) or 0
        ),
        active_offers=int(
            session.scalar(select(func.count()).select_from(Offer).where(Offer.status == "active")) or 0
        ),
        providers=int(session.scalar(select(func.count()).select_from(active)) or 0),
        countries=len(parties | homes),
    )


# ----------------------------------------------------------------------------------- suggested matches


class ScoredPair(NamedTuple):
    """A suggested (need, offer) pair and its score."""

    need_id: int
    offer_id: int
    score: float


class SuggestedMatchRepository:
    """The providers suggested for each need."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def for_need(self, need_id: int) -> list[SuggestedMatch]:
        stmt = select(SuggestedMatch).where(SuggestedMatch.need_id == need_id).order_by(SuggestedMatch.rank)
        return list(self.session.scalars(stmt))

    def replace_suggestions(self, need_id: int, rows: Sequence[SuggestedMatch]) -> None:
        """Store a new ranking: suggestions never reviewed are replaced; reviewed ones are kept (their rank and
        score are refreshed when the offer is ranked again), reopened ones too, so that their history stays
        attached to a match that exists."""
        current = {m.offer_id: m for m in self.for_need(need_id)}
        incoming = {m.offer_id for m in rows}
        for offer_id, match in current.items():
            if offer_id not in incoming and match.status == "suggested" and match.decided_at is None:
                self.session.delete(match)
        for row in rows:
            existing = current.get(row.offer_id)
            if existing is None:
                row.need_id = need_id
                self.session.add(row)
            else:
                existing.rank, existing.score = row.rank, row.score
                existing.components, existing.explanation, existing.model_id = (
                    row.components,
                    row.explanation,
                    row.model_id,
                )
        self.session.flush()

    def get(self, match_id: int) -> SuggestedMatch | None:
        return self.session.get(SuggestedMatch, match_id)

    def scored_pairs(self, *, need_statuses: Iterable[str], statuses: Iterable[str]) -> list[ScoredPair]:
        """``(need id, offer id, score)`` of the matches in ``statuses`` whose need is in ``need_statuses``."""
        stmt = (
            select(SuggestedMatch.need_id, SuggestedMatch.offer_id, SuggestedMatch.score)
            .join(Need, Need.id == SuggestedMatch.need_id)
            .where(Need.status.in_(tuple(need_statuses)), SuggestedMatch.status.in_(tuple(statuses)))
        )
        return [ScoredPair(*row) for row in self.session.execute(stmt)]

    def count_for_need(self, need_id: int, statuses: Iterable[str], *, excluding: int) -> int:
        """How many of the need's matches, other than ``excluding``, are in one of ``statuses``."""
        stmt = select(func.count()).where(
            SuggestedMatch.need_id == need_id,
            SuggestedMatch.status.in_(tuple(statuses)),
            SuggestedMatch.id != excluding,
        )
        return int(self.session.scalar(stmt) or 0)

    def review_queue(
        self, listing: ReviewListing, *, sort: str, limit: int, offset: int
    ) -> tuple[list[SuggestedMatch], int]:
        """A page of matches (with their needs) in ``sort`` order, and how many match ``listing``.

        ``sort``: one of ``REVIEW_SORTS``; ties go to the higher score, then to the older match.
        """
        where = _review_conditions(listing)
        joined = select(func.count()).select_from(SuggestedMatch).join(Need, SuggestedMatch.need_id == Need.id)
        total = self.session.scalar(joined.where(*where)) or 0
        stmt = (
            select(SuggestedMatch)
            .join(Need, SuggestedMatch.need_id == Need.id)
            .where(*where)
            .order_by(_review_order(sort), SuggestedMatch.score.desc(), SuggestedMatch.id)
            .limit(limit)
            .offset(offset)
            .options(selectinload(SuggestedMatch.need))
        )
        return list(self.session.scalars(stmt)), int(total)

    def in_statuses(self, statuses: Iterable[str]) -> list[SuggestedMatch]:
        """Every match in one of ``statuses`` (with its need), by need then offer."""
        stmt = (
            select(SuggestedMatch)
            .where(SuggestedMatch.status.in_(tuple(statuses)))
            .order_by(SuggestedMatch.need_id, SuggestedMatch.offer_id)
            .options(selectinload(SuggestedMatch.need))
        )
        return list(self.session.scalars(stmt))


# The orders of the review queue: a key, ascending, or descending with a leading "-". A need's age ascends from
# the newest need; a need's region is its Party's sub-region; its target is the lowest KMGBF target it names.
REVIEW_SORTS = ("score", "-score", "need_age", "-need_age", "region", "-region", "target", "-target")


class FollowUpCounts(NamedTuple):
    """How many providers a need's Party has shortlisted and asked to be put in contact with."""

    shortlisted: int
    contacted: int


_FollowUpRow = TypeVar("_FollowUpRow", ShortlistEntry, ContactRequest)


class _FollowUpRepository(Generic[_FollowUpRow]):
    """Rows kept once per (need, offer): a need's shortlist, its contact requests."""

    model: type[_FollowUpRow]

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, need_id: int, offer_id: int) -> _FollowUpRow | None:
        stmt = select(self.model).where(self.model.need_id == need_id, self.model.offer_id == offer_id)
        return self.session.scalars(stmt).first()

    def for_need(self, need_id: int) -> list[_FollowUpRow]:
        """The need's rows, oldest first."""
        stmt = select(self.model).where(self.model.need_id == need_id).order_by(self.model.id)
        return list(self.session.scalars(stmt))

    def add_once(self, row: _FollowUpRow) -> tuple[_FollowUpRow, bool]:
        """Insert ``row`` unless its (need, offer) has one already; ``(the row that is stored, inserted?)``.

        A concurrent insert of the same pair loses to the unique constraint inside a savepoint, so the
        transaction goes on and the other row is returned (the unique key, not a read first, is the guard).
        """
        existing = self.get(row.need_id, row.offer_id)
        if existing is not None:
            return existing, False
        try:
            with self.session.begin_nested():
                self.session.add(row)
                self.session.flush()
        except IntegrityError:
            found = self.get(row.need_id, row.offer_id)
            if found is None:
                raise
            return found, False
        return row, True

    def delete(self, row: _FollowUpRow) -> None:
        self.session.delete(row)
        self.session.flush()

    def counts_by_need(self, need_ids: Iterable[int]) -> dict[int, int]:
        """``need id -> rows`` for the given needs (needs without rows are absent)."""
        ids = list(need_ids)
        out: dict[int, int] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            stmt = (
                select(self.model.need_id, func.count())
                .where(self.model.need_id.in_(chunk))
                .group_by(self.model.need_id)
            )
            out.update({int(n): int(c) for n, c in self.session.execute(stmt)})
        return out


class ShortlistRepository(_FollowUpRepository[ShortlistEntry]):
    """The providers each need's Party has shortlisted."""

    model = ShortlistEntry


class ContactRequestRepository(_FollowUpRepository[ContactRequest]):
    """The contact requests of each need's Party."""

    model = ContactRequest


def follow_up_counts(session: Session, need_ids: Iterable[int]) -> dict[int, FollowUpCounts]:
    """Shortlisted and contacted providers of each need (every given need, zeros included)."""
    ids = list(dict.fromkeys(need_ids))
    shortlisted = ShortlistRepository(session).counts_by_need(ids)
    contacted = ContactRequestRepository(session).counts_by_need(ids)
    return {n: FollowUpCounts(shortlisted.get(n, 0), contacted.get(n, 0)) for n in ids}


@dataclass(frozen=True, slots=True)
class ReviewListing:
    """Conditions of the review queue; empty values mean "no condition"."""

    statuses: tuple[str, ...] = ()
    need_statuses: tuple[str, ...] = ()
    parties: tuple[str, ...] = ()
    targets: tuple[int, ...] = ()
    need_id: int | None = None
    offer_id: int | None = None


def _review_conditions(f: ReviewListing) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.statuses:
        where.append(SuggestedMatch.status.in_(f.statuses))
    if f.need_statuses:
        where.append(Need.status.in_(f.need_statuses))
    if f.parties:
        where.append(Need.party.in_(f.parties))
    if f.targets:
        where.append(exists().where(NeedTarget.need_id == Need.id, NeedTarget.target.in_(f.targets)))
    if f.need_id is not None:
        where.append(SuggestedMatch.need_id == f.need_id)
    if f.offer_id is not None:
        where.append(SuggestedMatch.offer_id == f.offer_id)
    return where


def _review_order(sort: str) -> ColumnElement[Any]:
    key = sort.removeprefix("-")
    descending = sort.startswith("-")
    column: ColumnElement[Any]
    if key == "score":
        column = SuggestedMatch.score.expression
    elif key == "need_age":
        column = Need.created_at.expression
        descending = not descending  # the youngest need has the smallest age and the latest creation time
    elif key == "region":
        regions = {code: country.sub_region for code, country in vocab.countries().items()}
        column = case(regions, value=Need.party, else_="")
    elif key == "target":
        column = select(func.min(NeedTarget.target)).where(NeedTarget.need_id == Need.id).scalar_subquery()
    else:
        raise ValueError(f"unknown review order {sort!r}; one of {', '.join(REVIEW_SORTS)}")
    return column.desc() if descending else column.asc()


# ------------------------------------------------------------------------------------------ audit log


@dataclass(frozen=True, slots=True)
class AuditListing:
    """Conditions on audit events; ``None`` means "no condition". ``since`` is inclusive, ``until`` exclusive
    (naive times are UTC)."""

    entity: str | None = None
    entity_id: int | None = None
    actor_user_id: int | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _utc(value: dt.datetime) -> dt.datetime:
    """A time in UTC (naive: taken as UTC). SQLite stores times as UTC text without a zone and compares text,
    so a bound time in another zone would compare wrongly."""
    try:
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except OverflowError:  # within hours of year 1 or 9999: before or after every event
        return (dt.datetime.min if value.year == 1 else dt.datetime.max).replace(tzinfo=dt.UTC)


def _audit_conditions(f: AuditListing) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.entity is not None:
        where.append(AuditEvent.entity == f.entity)
    if f.entity_id is not None:
        where.append(AuditEvent.entity_id == f.entity_id)
    if f.actor_user_id is not None:
        where.append(AuditEvent.actor_user_id == f.actor_user_id)
    if f.action is not None:
        where.append(AuditEvent.action == f.action)
    if f.since is not None:
        where.append(AuditEvent.at >= _utc(f.since))
    if f.until is not None:
        where.append(AuditEvent.at < _utc(f.until))
    return where


class AuditRepository:
    """The append-only audit log (written by the ORM's flush hook; read here)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def listing(self, listing: AuditListing, *, limit: int, offset: int) -> tuple[list[AuditEvent], int]:
        """A page of events, newest first (ids grow with time), and how many match."""
        where = _audit_conditions(listing)
        total = self.session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
        stmt = select(AuditEvent).where(*where).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
        return list(self.session.scalars(stmt)), int(total)

    def iter_newest_first(self, listing: AuditListing, *, batch_size: int = 500) -> Iterator[AuditEvent]:
        """Every matching event, newest first, ``batch_size`` at a time (for exports of any size)."""
        where = _audit_conditions(listing)
        last_id: int | None = None
        while True:
            keyset = [AuditEvent.id < last_id] if last_id is not None else []
            stmt = select(AuditEvent).where(*where, *keyset).order_by(AuditEvent.id.desc()).limit(batch_size)
            batch = list(self.session.scalars(stmt))
            if not batch:
                return
            yield from batch
            last_id = batch[-1].id
            self.session.expunge_all()

    def for_entity(self, entity: str, entity_id: int) -> list[AuditEvent]:
        """The history of one record, oldest first."""
        stmt = (
            select(AuditEvent)
            .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        )
        return list(self.session.scalars(stmt))


# ------------------------------------------------------------------------------------ users and keys


class UserRepository:
    """Users and their API keys."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user: User) -> User:
        self.session.add(user)
        self.session.flush()
        return user

    def get(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def by_name(self, name: str) -> User | None:
        return self.session.scalars(select(User).where(User.name == name)).one_or_none()

    def by_email(self, email: str) -> User | None:
        """The user with this (normalised) address."""
        return self.session.scalars(select(User).where(User.email == email)).one_or_none()

    def all(self) -> list[User]:
        return list(self.session.scalars(select(User).order_by(User.id)))

    def add_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key

    def key(self, key_id: str) -> ApiKey | None:
        """The key row (with its user) by its public id, revoked or not."""
        return self.session.scalars(select(ApiKey).where(ApiKey.key_id == key_id)).one_or_none()

    def keys(self, user_id: int) -> list[ApiKey]:
        return list(self.session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)))

    def pending(self) -> list[User]:
        """Users awaiting the secretariat's approval (self-registered providers), oldest first."""
        stmt = select(User).where(User.status == "pending").order_by(User.created_at, User.id)
        return list(self.session.scalars(stmt))

    def count_in_organisation(self, organisation_id: int) -> int:
        stmt = select(func.count()).select_from(User).where(User.organisation_id == organisation_id)
        return int(self.session.scalar(stmt) or 0)

    def delete(self, user: User) -> None:
        """Delete a user (their keys, sessions and e-mailed links go with them)."""
        for owned in (ApiKey, WebSession, AccountToken):
            self.session.execute(delete(owned).where(owned.user_id == user.id))
        self.session.delete(user)
        self.session.flush()


class WebSessionRepository:
    """Signed-in browsers, by the digest of their cookie's token."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, web_session: WebSession) -> WebSession:
        self.session.add(web_session)
        self.session.flush()
        return web_session

    def get(self, digest: str) -> WebSession | None:
        return self.session.get(WebSession, digest)

    def delete(self, digest: str) -> None:
        self.session.execute(delete(WebSession).where(WebSession.id == digest))

    def delete_for_user(self, user_id: int) -> int:
        """Sign a user out of every browser (after a password change or when the account is disabled)."""
        stmt = delete(WebSession).where(WebSession.user_id == user_id)
        return int(self.session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]

    def purge_expired(self, now: dt.datetime) -> int:
        stmt = delete(WebSession).where(WebSession.expires_at <= now)
        return int(self.session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


class AccountTokenRepository:
    """Single-use e-mailed links, by the digest of their token."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, token: AccountToken) -> AccountToken:
        self.session.add(token)
        self.session.flush()
        return token

    def get(self, digest: str) -> AccountToken | None:
        return self.session.get(AccountToken, digest)

    def unused(self, user_id: int, purpose: str) -> list[AccountToken]:
        stmt = select(AccountToken).where(
            AccountToken.user_id == user_id, AccountToken.purpose == purpose, AccountToken.used_at.is_(None)
        )
        return list(self.session.scalars(stmt))


class InstanceSecretRepository:
    """The installation's random keys (made by migrations)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> str | None:
        row = self.session.get(InstanceSecret, name)
        return row.value if row is not None else None


class IdempotencyRepository:
    """First responses to POSTs carrying an ``Idempotency-Key``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: int, key: str) -> IdempotencyRecord | None:
        return self.session.get(IdempotencyRecord, (user_id, key))

    def add(self, record: IdempotencyRecord) -> None:
        self.session.add(record)
        self.session.flush()

    def purge_before(self, user_id: int, cutoff: dt.datetime) -> int:
        """Forget the user's records older than ``cutoff``; returns how many."""
        stmt = delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.created_at < cutoff
        )
        return int(self.session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]

    def purge_all_before(self, cutoff: dt.datetime) -> int:
        """Forget every user's records older than ``cutoff`` (the worker's housekeeping); returns how many."""
        stmt = delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
        return int(self.session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]
