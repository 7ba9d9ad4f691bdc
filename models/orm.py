"""SQLAlchemy 2.0 typed ORM: organisations, needs, offers and their tags.

Tags (targets, assistance types, languages, regions and countries served) are rows of narrow association
tables with a composite primary key ``(owner_id, value)`` and a reverse index ``(value, owner_id)``: filtering
is an indexed ``EXISTS`` on SQLite and PostgreSQL alike, without JSON functions or array operators that only
one of them has. On the mapped classes they read and write as plain sorted lists (``offer.targets = [3, 21]``).

``version`` is SQLAlchemy's ``version_id_col``: every UPDATE is ``... WHERE version = :seen`` and raises
``StaleDataError`` when another transaction got there first, so read-modify-write never loses an update on
either database (it is also the ETag of a record).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    insert,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    relationship,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Storage limits; input models enforce the same or tighter limits with friendlier messages.
NAME_LEN = 200
TITLE_LEN = 300
EXTERNAL_ID_LEN = 64
URL_LEN = 500
EMAIL_LEN = 254  # RFC 5321 path limit


def utcnow() -> dt.datetime:
    """Timezone-aware current time (stored as UTC)."""
    return dt.datetime.now(dt.UTC)


def new_external_id(kind: str) -> str:
    """The external id of a need or offer made without one (through the API): ``need-``/``offer-`` and 32
    random hex digits.

    Every record has one from its creation, so an export names each record by an id that import finds it by
    again (a round trip makes no copies). Random rather than the database id: an export from another
    installation names its records ``need-<its id>``, which must not collide with records made here.
    """
    return f"{kind}-{uuid.uuid4().hex}"


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for Alembic on both backends)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


T = TypeVar("T", int, str)


class TagList(Generic[T]):
    """A list-of-values view over a one-to-many tag relationship.

    Assigning keeps the tag rows whose value stays, deletes the others and inserts the new ones (replacing every
    row would insert ``(owner, value)`` before deleting the old identical key and violate the primary key).
    A change also bumps ``updated_at`` so that the owner's row is updated and its version increases.
    """

    def __init__(self, relationship_name: str, value_attr: str, factory: Callable[[T], Any]) -> None:
        self.relationship_name = relationship_name
        self.value_attr = value_attr
        self.factory: Callable[[T], Any] = factory

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> TagList[T]: ...
    @overload
    def __get__(self, obj: object, owner: type[Any]) -> list[T]: ...
    def __get__(self, obj: object | None, owner: type[Any]) -> TagList[T] | list[T]:
        if obj is None:
            return self
        rows = getattr(obj, self.relationship_name)
        return sorted(getattr(row, self.value_attr) for row in rows)

    def __set__(self, obj: object, values: Iterable[T]) -> None:
        wanted = sorted(set(values))
        rows = list(getattr(obj, self.relationship_name))
        current = {getattr(row, self.value_attr): row for row in rows}
        if sorted(current) == wanted:
            return
        setattr(
            obj,
            self.relationship_name,
            [current[v] if v in current else self.factory(v) for v in wanted],
        )
        if getattr(obj, "id", None) is not None:
            obj.updated_at = utcnow()  # type: ignore[attr-defined]


class Timestamped:
    """Creation and update times plus the optimistic-locking version counter."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - declared_attr receives the class
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ entities


class Organisation(Timestamped, Base):
    """A provider or requesting organisation; (name, country) identifies it on import."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("name", "country", name="uq_organisations_name_country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    org_type: Mapped[str] = mapped_column(String(32), index=True)
    country: Mapped[str] = mapped_column(String(3), index=True)
    website: Mapped[str | None] = mapped_column(String(URL_LEN))

    def __repr__(self) -> str:
        return f"Organisation(id={self.id!r}, name={self.name!r}, country={self.country!r})"


class NeedTarget(Base):
    __tablename__ = "need_targets"
    __table_args__ = (
        CheckConstraint("target BETWEEN 1 AND 23", name="target_range"),
        Index("ix_need_targets_target_need", "target", "need_id"),
    )
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class NeedAssistanceType(Base):
    __tablename__ = "need_assistance_types"
    __table_args__ = (Index("ix_need_assistance_types_value_need", "assistance_type", "need_id"),)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True)
    assistance_type: Mapped[str] = mapped_column(String(32), primary_key=True)


class Need(Timestamped, Base):
    """A Party's request for technical or scientific cooperation."""

    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'under_review', 'matched', 'closed', 'withdrawn')", name="status"),
        CheckConstraint("visibility IN ('public', 'confidential')", name="visibility"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Set on every record (see new_external_id; migration 0008 filled older rows); NULL only in older schemas.
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LEN), unique=True, default=lambda: new_external_id("need")
    )
    party: Mapped[str] = mapped_column(String(3), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_LEN))
    description: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open", index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="public", server_default="public")

    organisation: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)
    target_rows: Mapped[list[NeedTarget]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )
    assistance_type_rows: Mapped[list[NeedAssistanceType]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )

    targets = TagList[int]("target_rows", "target", lambda v: NeedTarget(target=v))
    assistance_types = TagList[str](
        "assistance_type_rows", "assistance_type", lambda v: NeedAssistanceType(assistance_type=v)
    )

    def __repr__(self) -> str:
        return f"Need(id={self.id!r}, external_id={self.external_id!r}, party={self.party!r})"


class OfferTarget(Base):
    __tablename__ = "offer_targets"
    __table_args__ = (
        CheckConstraint("target BETWEEN 1 AND 23", name="target_range"),
        Index("ix_offer_targets_target_offer", "target", "offer_id"),
    )
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class OfferAssistanceType(Base):
    __tablename__ = "offer_assistance_types"
    __table_args__ = (Index("ix_offer_assistance_types_value_offer", "assistance_type", "offer_id"),)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    assistance_type: Mapped[str] = mapped_column(String(32), primary_key=True)


class OfferLanguage(Base):
    __tablename__ = "offer_languages"
    __table_args__ = (Index("ix_offer_languages_language_offer", "language", "offer_id"),)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True)


class OfferRegion(Base):
    """An area an offer serves: "Global", an M49 region or a sub-region."""

    __tablename__ = "offer_regions"
    __table_args__ = (Index("ix_offer_regions_region_offer", "region", "offer_id"),)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    region: Mapped[str] = mapped_column(String(40), primary_key=True)


class OfferCountry(Base):
    __tablename__ = "offer_countries"
    __table_args__ = (Index("ix_offer_countries_country_offer", "country", "offer_id"),)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    country: Mapped[str] = mapped_column(String(3), primary_key=True)


class Offer(Timestamped, Base):
    """An organisation's offer of expertise or support."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused', 'expired')", name="status"),
        CheckConstraint("cost IN ('free', 'cost', 'negotiable')", name="cost"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Set on every record, as for needs.
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LEN), unique=True, default=lambda: new_external_id("offer")
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_LEN))
    description: Mapped[str] = mapped_column(Text)
    cost: Mapped[str] = mapped_column(String(16), default="negotiable", server_default="negotiable")
    # Concurrent engagements the provider can take on; NULL = not stated (treated as unlimited).
    capacity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active", index=True)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    # Value of the "offers" counter when this offer last changed (see Counter).
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)

    organisation: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)
    target_rows: Mapped[list[OfferTarget]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )
    assistance_type_rows: Mapped[list[OfferAssistanceType]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )
    language_rows: Mapped[list[OfferLanguage]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )
    region_rows: Mapped[list[OfferRegion]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )
    country_rows: Mapped[list[OfferCountry]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )

    targets = TagList[int]("target_rows", "target", lambda v: OfferTarget(target=v))
    assistance_types = TagList[str](
        "assistance_type_rows", "assistance_type", lambda v: OfferAssistanceType(assistance_type=v)
    )
    languages = TagList[str]("language_rows", "language", lambda v: OfferLanguage(language=v))
    regions_served = TagList[str]("region_rows", "region", lambda v: OfferRegion(region=v))
    countries_served = TagList[str]("country_rows", "country", lambda v: OfferCountry(country=v))

    def __repr__(self) -> str:
        return f"Offer(id={self.id!r}, external_id={self.external_id!r})"


# -------------------------------------------------------------------------------- suggested matches


MATCH_STATUSES = ("suggested", "shortlisted", "accepted", "rejected", "contacted", "completed")
# Why the secretariat rejected a suggested provider (``SuggestedMatch.reason``; see ``matcher/review/``).
REJECTION_REASONS = (
    "out_of_scope",
    "geography",
    "capacity",
    "conflict_of_interest",
    "quality",
    "duplicate",
    "other",
)
NOTE_LEN = 2000


class SuggestedMatch(Timestamped, Base):
    """A provider suggested for a need by the ranker, with the score components and explanation it had then.

    One row per (need, offer): re-ranking updates the suggestion in place; review decisions (``status``,
    ``reason``, ``note``, ``decided_*``) belong to the secretariat's workflow (``matcher/review/``) and are
    never touched by a re-rank. A rejected match has a reason (CHECK constraints, written by hand in migration
    0006: Alembic's autogenerate does not compare them).
    """

    __tablename__ = "suggested_matches"
    __table_args__ = (
        UniqueConstraint("need_id", "offer_id", name="uq_suggested_matches_need_offer"),
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in MATCH_STATUSES) + ")", name="status"),
        CheckConstraint(
            "reason IS NULL OR reason IN (" + ", ".join(f"'{r}'" for r in REJECTION_REASONS) + ")", name="reason"
        ),
        CheckConstraint("status <> 'rejected' OR reason IS NOT NULL", name="rejected_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    components: Mapped[dict[str, float]] = mapped_column(JSON)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="suggested", server_default="suggested", index=True)
    # The latest review decision (``matcher/review/workflow.py``); the audit log keeps every earlier one.
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(NOTE_LEN))

    offer: Mapped[Offer] = relationship(lazy="joined", innerjoin=True)
    need: Mapped[Need] = relationship()


# ------------------------------------------------------------------------ the Party's follow-up of a need

CONTACT_MESSAGE_LEN = 2000
CONTACT_STATUSES = ("sent",)


class ShortlistEntry(Base):
    """A provider (one of its offers) that a need's Party keeps in view for the need.

    One row per (need, offer): shortlisting again changes nothing. Removing it deletes the row (the audit log
    keeps both events). Deleted with the need or the offer.
    """

    __tablename__ = "shortlist_entries"
    __table_args__ = (UniqueConstraint("need_id", "offer_id", name="uq_shortlist_entries_need_offer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    offer: Mapped[Offer] = relationship(lazy="joined", innerjoin=True)


class ContactRequest(Base):
    """A need's Party asks to be put in contact with the provider of an offer, with a short message.

    One row per (need, offer): asking again returns the first request. ``status`` is ``sent``; the provider's
    answers (a later piece of work) will add their own statuses and columns. Deleted with the need or offer.
    """

    __tablename__ = "contact_requests"
    __table_args__ = (
        UniqueConstraint("need_id", "offer_id", name="uq_contact_requests_need_offer"),
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in CONTACT_STATUSES) + ")", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(String(CONTACT_MESSAGE_LEN))
    status: Mapped[str] = mapped_column(String(16), default="sent", server_default="sent")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    offer: Mapped[Offer] = relationship(lazy="joined", innerjoin=True)


# -------------------------------------------------------------------------------- users and API keys


ROLES = ("party", "provider", "secretariat", "admin")


class User(Timestamped, Base):
    """Someone who uses Pollinate: a Party (acts for one country), a provider (acts for one organisation), the
    secretariat or an administrator; through the pages (e-mail and password) or the API (keys).

    ``status``: ``active``; ``pending`` (registered or invited, not yet allowed to sign in); ``disabled``.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="role"),
        CheckConstraint("role <> 'party' OR country IS NOT NULL", name="party_has_country"),
        CheckConstraint("role <> 'provider' OR organisation_id IS NOT NULL", name="provider_has_organisation"),
        CheckConstraint("status IN ('active', 'pending', 'disabled')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(3))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    # People sign in to the pages with an e-mail address and a password; machines use API keys and need neither.
    # Addresses are stored normalised (``matcher.access.people.normalise_email``), so uniqueness is exact.
    email: Mapped[str | None] = mapped_column(String(EMAIL_LEN), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 digest is stored (``id``), so a
    copy of the database cannot be replayed as a session. Deleting the row signs the browser out everywhere."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class AccountToken(Base):
    """A single-use, expiring link sent by e-mail (password reset, invitation). Only the SHA-256 digest of the
    token in the link is stored (``id``); ``used_at`` makes it single-use."""

    __tablename__ = "account_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('reset', 'invitation')", name="purpose"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column()

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class InstanceSecret(Base):
    """Random keys of this installation, made by the migration that introduced them and shared by every process
    (e.g. ``csrf``: the key the pages' anti-forgery tokens are signed with)."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class ApiKey(Base):
    """An API key: ``pk_<key_id>_<secret>``. The key id finds the row; only an argon2 hash of the secret is
    stored, so the key is shown once, at creation, and can never be read back."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(String(NAME_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column()

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class IdempotencyRecord(Base):
    """The first response to a POST carrying an ``Idempotency-Key`` (replayed for the same key and body)."""

    __tablename__ = "idempotency_records"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now(), index=True)


# ------------------------------------------------------------------------- subscriptions and alerts


SUBSCRIPTION_KINDS = ("offers", "query")
SUBSCRIPTION_RULES = ("min_score", "top_n")
# The least fit verdict that fires an ``offers`` subscription (matcher/engine/verdicts.py: ``weak`` never fires).
MIN_VERDICTS = ("strong", "good", "possible")
# ``possible`` leaves out only ``weak`` matches, of which fewer than one in four is a provider a person would
# judge relevant; migration 0013 gives it to the ``offers`` subscriptions that existed before.
DEFAULT_MIN_VERDICT = "possible"


def _default_min_verdict(context: Any) -> str | None:
    """``offers`` subscriptions written without a least verdict get the default; saved queries have none."""
    return DEFAULT_MIN_VERDICT if context.get_current_parameters().get("kind") == "offers" else None


DELIVERY_PERIODS = ("instant", "daily", "weekly")
DELIVERY_CHANNELS = ("webhook", "email")
DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")
QUERY_LEN = 2000
EMAIL_LEN = 320


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Subscription(Timestamped, Base):
    """A provider organisation's standing request to hear about new needs.

    ``kind`` ``offers`` follows the organisation's active offers ("needs my offers fit"); ``query`` follows a
    saved free-text query. ``filters`` holds conditions on the need (``targets``, ``areas`` — countries or M49
    areas the need's Party must be in —, ``assistance_types``, ``languages``). The rule is a minimum score or,
    for ``offers``, "one of our offers would be among the top N providers for the need"; an ``offers``
    subscription also names the least fit verdict (``min_verdict``) the offer's match must reach to fire it.

    ``webhook_secret`` signs webhook deliveries (it must be readable to sign, so it is stored as is; it is
    shown to the subscriber once). ``unsubscribe_token`` is the capability behind the e-mails' one-click
    unsubscribe link: it can only deactivate this subscription.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_in("kind", SUBSCRIPTION_KINDS), name="kind"),
        CheckConstraint(_in("rule", SUBSCRIPTION_RULES), name="rule"),
        CheckConstraint(_in("delivery", DELIVERY_PERIODS), name="delivery"),
        CheckConstraint("kind <> 'query' OR query_text IS NOT NULL", name="query_has_text"),
        CheckConstraint("rule <> 'min_score' OR min_score IS NOT NULL", name="min_score_set"),
        CheckConstraint("rule <> 'top_n' OR top_n IS NOT NULL", name="top_n_set"),
        CheckConstraint(_in("min_verdict", MIN_VERDICTS), name="min_verdict"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    label: Mapped[str | None] = mapped_column(String(NAME_LEN))
    kind: Mapped[str] = mapped_column(String(8))
    query_text: Mapped[str | None] = mapped_column(Text)
    filters: Mapped[dict[str, list[Any]]] = mapped_column(JSON, default=dict)
    rule: Mapped[str] = mapped_column(String(16))
    min_score: Mapped[float | None] = mapped_column(Float)
    top_n: Mapped[int | None] = mapped_column(Integer)
    min_verdict: Mapped[str | None] = mapped_column(String(8), default=_default_min_verdict)
    delivery: Mapped[str] = mapped_column(String(8))
    channels: Mapped[list[str]] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(String(URL_LEN))
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LEN))
    active: Mapped[bool] = mapped_column(default=True, server_default="1")
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)

    organisation: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)


class Notification(Base):
    """One need that satisfied one subscription: the in-app feed entry and the unit every delivery carries.

    Written in the same transaction as the need (or its change), so an alert can never be lost between the
    two; ``(subscription_id, need_id)`` is unique, so a need alerts a subscription at most once.
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("subscription_id", "need_id", name="uq_notifications_subscription_need"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    score: Mapped[float] = mapped_column(Float)
    components: Mapped[dict[str, float]] = mapped_column(JSON)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    in_feed: Mapped[bool] = mapped_column(default=True, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now(), index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column()

    need: Mapped[Need] = relationship(lazy="joined", innerjoin=True)


class Delivery(Base):
    """One message to send through one channel: a webhook call or an e-mail carrying one or more notifications.

    The outbox. ``uid`` is the message's identity (the webhook-id, the e-mail's Message-ID): a retry or a
    resend after a crash carries the same uid, so receivers can drop duplicates. A worker *claims* a due
    delivery by setting ``leased_until`` and counting the attempt in one committed transaction, then sends;
    a worker that dies mid-send leaves a lease that expires, and the delivery is sent again (at least once).
    ``body`` is a webhook's JSON text, rendered at its first claim and sent as it is on every later attempt
    (the same uid carries the same bytes); its items are then exactly the notifications it shows.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(_in("channel", DELIVERY_CHANNELS), name="channel"),
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index("ix_deliveries_status_due_at", "status", "due_at"),
        Index("ix_deliveries_subscription_id_channel", "subscription_id", "channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(40), unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    period: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="pending", server_default="pending")
    due_at: Mapped[dt.datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    leased_until: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    body: Mapped[str | None] = mapped_column(Text)


class DeliveryItem(Base):
    """A notification carried by a delivery (a digest carries several)."""

    __tablename__ = "delivery_items"

    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# ------------------------------------------------------------------------------------------ batch jobs


JOB_KINDS = ("rerank_all", "rerank_needs", "reembed")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Job(Base):
    """A batch job run by ``pollinate worker``: re-rank open needs, re-rank given needs, or re-embed texts.

    Work is done in chunks; each chunk's results, ``done`` and ``cursor`` (where to resume) are committed
    together, so a worker killed mid-job leaves the job at a chunk boundary and another worker resumes it from
    there once ``leased_until`` has passed: nothing is done twice or lost. ``attempt`` counts the claims; a
    worker only writes while the job is still at the attempt it claimed.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("kind", JOB_KINDS), name="kind"),
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        Index("ix_jobs_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="queued", server_default="queued")
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column()
    resumed_at: Mapped[dt.datetime | None] = mapped_column()
    done_at_resume: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progressed_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    leased_until: Mapped[dt.datetime | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default="0")


class JobNeedDiff(Base):
    """What a re-rank changed in one need's suggestions: offers that appeared, disappeared or moved."""

    __tablename__ = "job_need_diffs"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True, index=True)
    appeared: Mapped[list[int]] = mapped_column(JSON, default=list)
    disappeared: Mapped[list[int]] = mapped_column(JSON, default=list)
    moved: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    changed: Mapped[bool] = mapped_column(default=False, server_default="0")


# ------------------------------------------------------------------------------ embeddings and changes


class Embedding(Base):
    """Cached embedding of one text under one model: unchanged texts are never embedded twice.

    ``vector`` holds ``dim`` little-endian float32 values; ``language`` is the language detected in the text
    (the ranking removes each language's mean direction, see ``matcher/engine/centering.py``).
    """

    __tablename__ = "embeddings"

    model_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


class Counter(Base):
    """Named monotonic counters; ``offers`` is the change sequence of the offer catalogue.

    Every transaction that changes offers increments the counter by one and stamps the changed offers with the
    new value. The increment takes the counter row's write lock until commit, so sequence numbers become
    visible in commit order: an index that reflects sequence ``n`` has seen every change ``<= n``.
    """

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class OfferDeletion(Base):
    """A deleted offer and the change sequence that deleted it (so indexes can catch up on deletions)."""

    __tablename__ = "offer_deletions"

    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


OFFER_COUNTER = "offers"
SUBSCRIPTION_COUNTER = "subscriptions"


def _touches_offers(session: Session) -> tuple[list[Offer], list[Offer], list[int]]:
    changed = [o for o in session.new if isinstance(o, Offer)]
    changed += [o for o in session.dirty if isinstance(o, Offer) and session.is_modified(o)]
    deleted = [o for o in session.deleted if isinstance(o, Offer)]
    orgs = [g.id for g in session.dirty if isinstance(g, Organisation) and session.is_modified(g)]
    return changed, deleted, orgs


@event.listens_for(Session, "before_flush")
def _stamp_offer_changes(session: Session, _context: Any, _instances: Any) -> None:
    """Advance the offer change sequence for every flush that creates, changes or deletes offers.

    Organisation edits count too: an offer's organisation type and country are part of what it is filtered on.
    """
    changed, deleted, orgs = _touches_offers(session)
    if not (changed or deleted or orgs):
        return
    seq = session.execute(
        update(Counter)
        .where(Counter.name == OFFER_COUNTER)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar_one_or_none()
    if seq is None:  # first change ever (the migration seeds the row; this covers metadata.create_all)
        session.execute(insert(Counter).values(name=OFFER_COUNTER, value=1))
        seq = 1
    for offer in changed:
        offer.change_seq = seq
    for offer in deleted:
        session.add(OfferDeletion(offer_id=offer.id, change_seq=seq))
    if orgs:
        session.execute(
            update(Offer)
            .where(Offer.organisation_id.in_(orgs))
            .values(change_seq=seq)
            .execution_options(synchronize_session=False)
        )


def bump_counter(session: Session, name: str) -> int:
    """Increment a named counter (creating it at 1) and return its new value."""
    value = session.execute(
        update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    ).scalar_one_or_none()
    if value is None:
        session.execute(insert(Counter).values(name=name, value=1))
        value = 1
    return int(value)


@event.listens_for(Session, "before_flush")
def _stamp_subscription_changes(session: Session, _context: Any, _instances: Any) -> None:
    """Advance the subscriptions counter when subscriptions change (in-memory alert indexes reload on it)."""
    touched = any(isinstance(o, Subscription) for o in session.new) or any(
        isinstance(o, Subscription) for o in session.deleted
    )
    touched = touched or any(isinstance(o, Subscription) and session.is_modified(o) for o in session.dirty)
    if touched:
        bump_counter(session, SUBSCRIPTION_COUNTER)


# --------------------------------------------------------------------------------------- connectors


SOURCE_ENTITIES = ("need", "offer", "organisation")
RUN_STATUSES = ("succeeded", "failed", "not_modified")
CONNECTOR_NAME_LEN = 64
SOURCE_ID_LEN = 200


class RecordSource(Base):
    """Where a harvested need, offer or organisation comes from: its provenance.

    One row per (connector, entity, source id). ``record_id`` is the Pollinate record's id (not a foreign key:
    it names a row of one of three tables; deleting a record by hand leaves its provenance, which says where it
    came from). ``content_hash`` is the hash of the mapped record at the last run that changed it, so a run
    tells "unchanged" without comparing field by field; ``withdrawn_at`` is set when the source stops listing
    the record and cleared when it lists it again (the record is withdrawn, never deleted).
    """

    __tablename__ = "record_sources"
    __table_args__ = (
        UniqueConstraint("connector", "entity", "source_id", name="uq_record_sources_connector_entity_source_id"),
        CheckConstraint(_in("entity", SOURCE_ENTITIES), name="entity"),
        Index("ix_record_sources_entity_record_id", "entity", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(CONNECTOR_NAME_LEN))
    entity: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[str] = mapped_column(String(SOURCE_ID_LEN))
    source_url: Mapped[str | None] = mapped_column(String(URL_LEN))
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column()


class ConnectorRun(Base):
    """One run of a connector and its report.

    A run that succeeded or found its source unchanged (``not_modified``) is committed with the records it
    wrote; a failed run is recorded afterwards, in a transaction of its own, with nothing else.
    """

    __tablename__ = "connector_runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(CONNECTOR_NAME_LEN), index=True)
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    pages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    withdrawn: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    invalid: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)


class ConnectorPage(Base):
    """What a connector last fetched at one URL: the validators of a conditional request (``ETag``,
    ``Last-Modified``), the next page's URL and the source ids the page listed.

    A page answered ``304 Not Modified`` is not parsed: its records count as seen and unchanged through
    ``source_ids``, and paging goes on through ``next_url``. Written in the run's transaction, so a failed run
    leaves the previous validators in place.
    """

    __tablename__ = "connector_pages"
    __table_args__ = (UniqueConstraint("connector", "url", name="uq_connector_pages_connector_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(CONNECTOR_NAME_LEN))
    url: Mapped[str] = mapped_column(String(2000))
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    next_url: Mapped[str | None] = mapped_column(String(2000))
    source_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


DUPLICATE_ENTITIES = ("need", "offer", "organisation")
DUPLICATE_DECISIONS = ("merged", "dismissed")


class DuplicateDecision(Base):
    """The secretariat's decision on a suggested duplicate pair: ``merged`` or ``dismissed`` (not the same).

    One row per unordered pair (``low_id < high_id``), so that a decided pair is never suggested again, whatever
    its records become. ``survivor_id`` is the record kept by a merge (null for a dismissal). ``decided_by`` is
    not a foreign key, like the audit log's actor: deleting a user must not rewrite the decision.
    """

    __tablename__ = "duplicate_decisions"
    __table_args__ = (
        UniqueConstraint("entity", "low_id", "high_id", name="uq_duplicate_decisions_entity_low_id_high_id"),
        CheckConstraint(_in("entity", DUPLICATE_ENTITIES), name="entity"),
        CheckConstraint(_in("decision", DUPLICATE_DECISIONS), name="decision"),
        CheckConstraint("low_id < high_id", name="ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    low_id: Mapped[int] = mapped_column(Integer)
    high_id: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    survivor_id: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


# -------------------------------------------------------------------------------------------- audit log


AUDIT_ENTITIES = ("need", "offer", "match", "organisation", "shortlist", "contact_request", "connector_run")
AUDIT_ACTIONS = ("create", "update", "delete", "decision", "harvest", "merge", "dismiss")
# The ``session.info`` key of the actor that a session's changes are attributed to.
AUDIT_ACTOR = "audit_actor"


class AppendOnlyError(RuntimeError):
    """An attempt to change or delete an audit event: the audit log is append-only (always a bug)."""


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Whom the changes flushed by a session are attributed to, and why (``note``, e.g. "match 7: accept").

    The services set one in ``session.info[AUDIT_ACTOR]`` (``access.audit.act_as``); changes made without one
    are the system's (imports, batch jobs, the worker).
    """

    role: str
    label: str
    user_id: int | None = None
    note: str | None = None


SYSTEM_ACTOR = AuditActor(role="system", label="system")


class AuditEvent(Base):
    """One change to a need, an offer, an organisation, or the review of a suggested match.

    ``changes`` maps each changed field to ``[before, after]`` (``before`` is null on create, ``after`` on
    delete). Rows are written by the flush hook below, for every write path alike (API, CLI import, jobs), and
    are never updated or deleted through the ORM. ``actor_user_id`` is deliberately not a foreign key: deleting
    a user must not rewrite the log (``actor_label`` keeps the name).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint(_in("entity", AUDIT_ENTITIES), name="entity"),
        CheckConstraint(_in("action", AUDIT_ACTIONS), name="action"),
        Index("ix_audit_events_entity_entity_id", "entity", "entity_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now(), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_label: Mapped[str] = mapped_column(String(NAME_LEN))
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    changes: Mapped[dict[str, list[Any]]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


# Audited classes by entity name, in the order a flush's events are written (a decision before its effects).
_AUDITED: dict[type[Any], str] = {
    SuggestedMatch: "match",
    Need: "need",
    Offer: "offer",
    Organisation: "organisation",
    ShortlistEntry: "shortlist",
    ContactRequest: "contact_request",
}
# Identity and bookkeeping that every write changes: never part of ``changes``.
_BOOKKEEPING = frozenset({"id", "version", "created_at", "updated_at", "change_seq"})
# A match's rank, score and explanation are the ranker's and refreshed at every re-rank; only its review is
# audited (creating and replacing suggestions is not: a ranking writes them by the dozen).
_MATCH_FIELDS = ("status", "reason", "note")
_FIELDS: dict[type[Any], tuple[tuple[str, ...], dict[str, TagList[Any]]]] = {}


def _audited_fields(cls: type[Any]) -> tuple[tuple[str, ...], dict[str, TagList[Any]]]:
    """The columns and the tag lists (by name) of an audited class whose changes are recorded."""
    if cls not in _FIELDS:
        if cls is SuggestedMatch:
            _FIELDS[cls] = (_MATCH_FIELDS, {})
        else:
            columns = tuple(a.key for a in sa_inspect(cls).column_attrs if a.key not in _BOOKKEEPING)
            _FIELDS[cls] = (columns, {n: v for n, v in vars(cls).items() if isinstance(v, TagList)})
    return _FIELDS[cls]


def _plain(value: Any) -> Any:
    """A JSON-ready value (dates as ISO 8601)."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _tag_values(rows: Iterable[Any], tags: TagList[Any]) -> list[Any]:
    return sorted(getattr(row, tags.value_attr) for row in rows)


def _snapshot(obj: Any, *, deleted: bool) -> dict[str, list[Any]]:
    """Every loaded audited value of a record being created (``[null, value]``) or deleted (``[value, null]``).

    Only what is loaded is read: a flush hook must not trigger loads.
    """
    columns, tag_lists = _audited_fields(type(obj))
    loaded = sa_inspect(obj).dict
    values = {key: _plain(loaded[key]) for key in columns if loaded.get(key) is not None}
    for name, tags in tag_lists.items():
        if loaded.get(tags.relationship_name) is not None:
            values[name] = _tag_values(loaded[tags.relationship_name], tags)
    return {key: [value, None] if deleted else [None, value] for key, value in values.items()}


def _changes(obj: Any) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` of a record's unflushed changes, tag lists included.

    Tag lists are relationship rows: their history (rows kept, added, removed) gives the list before and after.
    A column changed before it was ever loaded has no known ``before`` (null); records are loaded whole, so
    this does not happen on Pollinate's own write paths.
    """
    columns, tag_lists = _audited_fields(type(obj))
    state = sa_inspect(obj)
    out: dict[str, list[Any]] = {}
    for key in columns:
        history = state.attrs[key].history
        if history.added or history.deleted:
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before != after:
                out[key] = [_plain(before), _plain(after)]
    for name, tags in tag_lists.items():
        history = state.attrs[tags.relationship_name].history
        if history.added or history.deleted:
            before = _tag_values((*history.unchanged, *history.deleted), tags)
            after = _tag_values((*history.unchanged, *history.added), tags)
            if before != after:
                out[name] = [before, after]
    return out


@event.listens_for(Session, "before_flush")
def _refuse_audit_rewrites(session: Session, _context: Any, _instances: Any) -> None:
    """The audit log is append-only: a flush that would change or delete an event fails."""
    if any(isinstance(o, AuditEvent) for o in session.deleted) or any(
        isinstance(o, AuditEvent) and session.is_modified(o) for o in session.dirty
    ):
        raise AppendOnlyError("audit events are append-only: they cannot be changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_audit_statements(state: ORMExecuteState) -> None:
    """``UPDATE`` and ``DELETE`` statements on the audit log fail too (the ORM's bulk paths)."""
    table = getattr(state.statement, "table", None)
    if (state.is_update or state.is_delete) and getattr(table, "name", None) == AuditEvent.__tablename__:
        raise AppendOnlyError("audit events are append-only: they cannot be changed or deleted")


@event.listens_for(Session, "after_flush")
def _record_audit_events(session: Session, _context: Any) -> None:
    """Write one audit event per created, changed or deleted need, offer or organisation, and per review
    decision on a match, attributed to the session's actor.

    After the flush, because new records only then have their ids; the session's ``new``/``dirty``/``deleted``
    and the attribute histories still describe what the flush wrote. The events are inserted with a Core
    statement, which is allowed inside a flush and joins the same transaction.
    """
    actor = session.info.get(AUDIT_ACTOR, SYSTEM_ACTOR)
    assert isinstance(actor, AuditActor)
    found: list[tuple[Any, str, dict[str, list[Any]]]] = []
    for obj in session.new:
        if type(obj) in _AUDITED and not isinstance(obj, SuggestedMatch):
            found.append((obj, "create", _snapshot(obj, deleted=False)))
    for obj in session.dirty:
        if type(obj) in _AUDITED and (changes := _changes(obj)):
            found.append((obj, "decision" if isinstance(obj, SuggestedMatch) else "update", changes))
    for obj in session.deleted:
        if type(obj) in _AUDITED and not isinstance(obj, SuggestedMatch):
            found.append((obj, "delete", _snapshot(obj, deleted=True)))
    if not found:
        return
    order = list(_AUDITED)
    found.sort(key=lambda f: (order.index(type(f[0])), f[0].id))
    now = utcnow()
    rows = [
        {
            "at": now,
            "actor_user_id": actor.user_id,
            "actor_role": actor.role,
            "actor_label": actor.label,
            "entity": _AUDITED[type(obj)],
            "entity_id": obj.id,
            "action": action,
            "changes": changes,
            "note": actor.note,
        }
        for obj, action, changes in found
    ]
    session.connection().execute(insert(AuditEvent), rows)
