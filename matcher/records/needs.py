"""Needs: create, read, list, change, withdraw and delete, with the authorization rules of ``matcher.access``.

Functions take the caller's session (they never commit) and the caller; ``values`` are already validated by an
input model (the HTTP schemas or the gold-set records) and carry only the fields the caller set.

Posting a need is split in two so that matching never runs inside a write transaction: :func:`plan_need`
checks and resolves everything in a read transaction and returns the ranking view of the need, the caller
ranks providers, then :func:`create_need` writes the need (and the caller stores its suggestions) in one write
transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matcher.access import audit
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.engine.query import NeedQuery
from matcher.engine.service import need_from_stored
from matcher.engine.texts import detect_language
from matcher.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
)
from matcher.records.listing import ListingFilters
from models import vocabularies as vocab
from models.orm import Need, Organisation
from models.repositories import NeedListing, NeedRepository, OrganisationRepository, Page, list_needs, open_needs

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

NEED_ORG_TYPE = "government_agency"
OPEN_STATUSES = ("open", "under_review")
# The life of a need: open -> under_review -> matched -> closed, or withdrawn; closed and withdrawn needs can be
# reopened. The secretariat moves needs along these edges (its review decisions do too,
# ``matcher/review/workflow.py``).
NEED_TRANSITIONS = {
    "open": {"under_review", "matched", "withdrawn"},
    "under_review": {"open", "matched", "withdrawn"},
    "matched": {"under_review", "closed", "withdrawn"},
    "closed": {"open"},
    "withdrawn": {"open"},
}
# Status changes a Party may make to its own needs (a subset of NEED_TRANSITIONS).
PARTY_TRANSITIONS = {
    "open": {"withdrawn"},
    "under_review": {"withdrawn"},
    "matched": {"closed"},
    "withdrawn": {"open"},
}


@dataclass(frozen=True, slots=True)
class NeedPlan:
    """A need checked and ready to write, and its ranking view (to rank providers before writing)."""

    values: dict[str, Any]
    query: NeedQuery
    principal: Principal | None = None  # who posts it (the audit log's actor)

    @property
    def visibility(self) -> str:
        return str(self.values.get("visibility") or "public")


def plan_need(session: Session, principal: Principal, values: Mapping[str, Any]) -> NeedPlan:
    """Check that the caller may post this need and resolve its party, organisation and language.

    ``values``: ``title``, ``description``, ``targets``, ``assistance_types`` and optionally ``party`` (default:
    the Party's own country), ``requesting_organisation`` (a name, created as a government agency of the party
    if new) or ``organisation_id``, ``language`` (detected from the text if absent), ``visibility``,
    ``external_id``.
    """
    access.require_signed_in(principal)
    if not principal.is_staff and principal.role != "party":
        raise PermissionDeniedError("only Parties and the secretariat post needs")
    resolved = dict(values)
    party = resolved.get("party") or principal.country
    if party is None:
        raise InvalidInputError("say which Party the need is for: give 'party' (ISO 3166 alpha-3)", field="party")
    access.check_create_need(principal, party)
    resolved["party"] = party
    organisation_id = resolved.pop("organisation_id", None)
    name = resolved.pop("requesting_organisation", None)
    orgs = OrganisationRepository(session)
    if organisation_id is not None:
        organisation = orgs.get(organisation_id)
        if organisation is None:
            raise NotFoundError(f"no organisation with id {organisation_id}")
        if organisation.country != party and not principal.is_staff:
            raise PermissionDeniedError(f"organisation {organisation_id} is not an institution of {party}")
    else:
        name = name or f"Government of {vocab.countries()[party].name}"
        organisation = orgs.find(name, party)
        resolved["requesting_organisation"] = name
    if organisation is not None:
        resolved["organisation_id"] = organisation.id
    if not resolved.get("language"):
        resolved["language"] = detect_language(f"{resolved['title']}. {resolved['description']}")
    if resolved.get("external_id") and NeedRepository(session).get_by_external_id(resolved["external_id"]):
        raise ConflictError(f"a need with external id {resolved['external_id']!r} exists; choose another one")
    query = NeedQuery(
        title=resolved["title"],
        description=resolved["description"],
        targets=tuple(resolved["targets"]),
        assistance_types=tuple(resolved["assistance_types"]),
        language=resolved["language"],
        party=party,
        organisation_id=resolved.get("organisation_id"),
    )
    return NeedPlan(resolved, query, principal)


def create_need(session: Session, plan: NeedPlan) -> Need:
    """Write a planned need (creating its requesting organisation if new)."""
    if plan.principal is not None:
        audit.act_as(session, plan.principal)
    values = dict(plan.values)
    organisation_id = values.pop("organisation_id", None)
    name = values.pop("requesting_organisation", None)
    if organisation_id is None:
        orgs = OrganisationRepository(session)
        organisation = orgs.find(name, values["party"]) or orgs.add(
            Organisation(name=name, org_type=NEED_ORG_TYPE, country=values["party"])
        )
        organisation_id = organisation.id
    need = Need(organisation_id=organisation_id, **{k: v for k, v in values.items() if k not in _TAGS})
    need.targets = sorted(values["targets"])
    need.assistance_types = sorted(values["assistance_types"])
    NeedRepository(session).add(need)
    session.flush()  # assigns the id
    return need


_TAGS = frozenset({"targets", "assistance_types"})


def get_need(session: Session, principal: Principal, need_id: int, *, public_pages: bool = False) -> Need:
    """``public_pages``: for the public web pages (anonymous visitors read public needs there)."""
    need = NeedRepository(session).get(need_id)
    return access.check_read_need(principal, need, need_id, public_pages=public_pages)


def owned_need(session: Session, principal: Principal, need_id: int) -> Need:
    """A need the caller may change (and whose ranked providers it may see)."""
    return access.check_change_need(principal, NeedRepository(session).get(need_id), need_id)


def search_needs(
    session: Session,
    principal: Principal,
    filters: ListingFilters,
    *,
    limit: int = 50,
    offset: int = 0,
    public_pages: bool = False,
) -> Page[Need]:
    """Needs the caller may see that match every condition of ``filters`` (``region``: the party is inside it).

    ``public_pages``: for the public web pages (anonymous visitors see the public needs there).
    """
    listing = need_listing(principal, filters, public_pages=public_pages)
    if listing is None:
        return Page([], 0)
    return list_needs(session, listing, limit=limit, offset=offset)


def need_listing(
    principal: Principal, filters: ListingFilters, *, public_pages: bool = False
) -> NeedListing | None:
    """The conditions of :func:`search_needs` (``None``: the region and country exclude each other)."""
    visible_all, visible_country = access.visible_need_scope(principal, public_pages=public_pages)
    parties: set[str] | None = None
    if filters.region:
        parties = set(vocab.countries_in(filters.region))
    if filters.country:
        parties = {filters.country} if parties is None else parties & {filters.country}
    if parties is not None and not parties:
        return None
    return NeedListing(
        visible_all=visible_all,
        visible_country=visible_country,
        targets=filters.targets,
        parties=tuple(sorted(parties or ())),
        assistance_types=filters.assistance_types,
        statuses=filters.statuses,
        languages=filters.languages,
        q=filters.q,
    )


def open_needs_visible_to(session: Session, principal: Principal) -> list[NeedQuery]:
    """Ranking views of the open and under-review needs the caller may see (for reverse matching)."""
    visible_all, visible_country = access.visible_need_scope(principal)
    listing = NeedListing(visible_all=visible_all, visible_country=visible_country, statuses=OPEN_STATUSES)
    return [need_from_stored(n) for n in open_needs(session, listing)]


def check_version(kind: str, record_id: int, current: int, expected: int | None) -> None:
    """Refuse a change based on another version than the current one (``None``: any version, e.g. ``*``)."""
    if expected is not None and expected != current:
        raise StaleVersionError(
            f"{kind} {record_id} is at version {current}, not {expected}: read it again and reapply your change"
        )


def update_need(
    session: Session, principal: Principal, need_id: int, changes: Mapping[str, Any], *, version: int | None
) -> Need:
    """Apply ``changes`` (text, tags, language, visibility, status) to a need the caller owns."""
    need = owned_need(session, principal, need_id)
    check_version("need", need_id, need.version, version)
    if "status" in changes and changes["status"] != need.status:
        check_transition(principal, need.status, changes["status"])
    audit.act_as(session, principal)
    for name, value in changes.items():
        if name in _TAGS:
            setattr(need, name, sorted(value))
        elif name in _EDITABLE:
            setattr(need, name, value)
        else:
            raise InvalidInputError(f"{name} cannot be changed", field=name)
    session.flush()
    return need


_EDITABLE = frozenset({"title", "description", "language", "visibility", "status"})
# Changes after which subscriptions are matched again (a need that becomes public or reopens counts too).
MATERIAL = frozenset({"title", "description", "targets", "assistance_types", "language", "visibility", "status"})


@dataclass(frozen=True, slots=True)
class UpdatePreview:
    """A need as a change would leave it (to match subscriptions before the write transaction)."""

    query: NeedQuery
    visibility: str
    status: str
    material: bool


def preview_update(
    session: Session, principal: Principal, need_id: int, changes: Mapping[str, Any], *, version: int | None
) -> UpdatePreview:
    """The need after ``changes`` (checked like :func:`update_need`, without writing)."""
    need = owned_need(session, principal, need_id)
    check_version("need", need_id, need.version, version)
    current = need_from_stored(need)
    values = {name: changes.get(name, getattr(current, name)) for name in ("title", "description", "language")}
    query = dataclasses.replace(
        current,
        **values,
        targets=tuple(sorted(changes.get("targets", current.targets))),
        assistance_types=tuple(sorted(changes.get("assistance_types", current.assistance_types))),
    )
    material = any(name in MATERIAL and changes[name] != _value(need, name) for name in changes)
    return UpdatePreview(
        query, changes.get("visibility", need.visibility), changes.get("status", need.status), material
    )


def _value(need: Need, name: str) -> Any:
    value = getattr(need, name)
    return sorted(value) if name in _TAGS else value


def allowed_transitions(principal: Principal, current: str) -> set[str]:
    """The statuses the caller may move a need from ``current`` to (see :func:`check_transition`)."""
    return set((NEED_TRANSITIONS if principal.is_staff else PARTY_TRANSITIONS).get(current, set()))


def check_transition(principal: Principal, current: str, wanted: str) -> None:
    """A Party moves its needs only along ``PARTY_TRANSITIONS``; the secretariat along ``NEED_TRANSITIONS``."""
    allowed = allowed_transitions(principal, current)
    if wanted not in allowed:
        options = ", ".join(sorted(allowed)) or "none"
        by = "" if principal.is_staff else " by its Party"
        raise InvalidInputError(
            f"a need that is {current} cannot be set to {wanted}{by} (allowed: {options})", field="status"
        )


def delete_need(session: Session, principal: Principal, need_id: int, *, version: int | None) -> None:
    need = owned_need(session, principal, need_id)
    check_version("need", need_id, need.version, version)
    audit.act_as(session, principal)
    NeedRepository(session).delete(need)
