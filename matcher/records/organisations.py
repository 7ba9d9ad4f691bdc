"""Organisations: the directory of providers and requesting institutions.

Every signed-in caller may read it; the secretariat creates, changes and deletes organisations, and a provider
may change its own organisation's details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from matcher.access import audit
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.errors import ConflictError, InvalidInputError
from matcher.records.needs import check_version
from models.orm import Organisation
from models.repositories import OrganisationRepository, list_organisations, organisation_in_use

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_EDITABLE = frozenset({"name", "org_type", "country", "website"})


def create_organisation(session: Session, principal: Principal, values: Mapping[str, Any]) -> Organisation:
    access.check_staff(principal, "create organisations")
    audit.act_as(session, principal)
    repo = OrganisationRepository(session)
    if repo.find(values["name"], values["country"]) is not None:
        raise ConflictError(f"{values['name']!r} ({values['country']}) exists already")
    return repo.add(Organisation(**{k: v for k, v in values.items() if k in _EDITABLE}))


def get_organisation(session: Session, principal: Principal, organisation_id: int) -> Organisation:
    organisation = OrganisationRepository(session).get(organisation_id)
    return access.check_read_organisation(principal, organisation, organisation_id)


def search_organisations(
    session: Session,
    principal: Principal,
    *,
    q: str | None = None,
    org_types: tuple[str, ...] = (),
    countries: tuple[str, ...] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Organisation], int]:
    access.require_signed_in(principal)
    return list_organisations(session, q=q, org_types=org_types, countries=countries, limit=limit, offset=offset)


def update_organisation(
    session: Session,
    principal: Principal,
    organisation_id: int,
    changes: Mapping[str, Any],
    *,
    version: int | None,
) -> Organisation:
    repo = OrganisationRepository(session)
    organisation = access.check_change_organisation(principal, repo.get(organisation_id), organisation_id)
    check_version("organisation", organisation_id, organisation.version, version)
    audit.act_as(session, principal)
    locked = [name for name in ("country", "org_type") if name in changes]
    if not principal.is_staff and locked:
        raise InvalidInputError(
            "only the secretariat may change an organisation's country or type", field=locked[0]
        )
    name, country = changes.get("name", organisation.name), changes.get("country", organisation.country)
    other = repo.find(name, country)
    if other is not None and other.id != organisation.id:
        raise ConflictError(f"{name!r} ({country}) exists already (organisation {other.id})")
    for key, value in changes.items():
        if key not in _EDITABLE:
            raise InvalidInputError(f"{key} cannot be changed", field=key)
        setattr(organisation, key, value)
    session.flush()
    return organisation


def delete_organisation(
    session: Session, principal: Principal, organisation_id: int, *, version: int | None
) -> None:
    access.check_staff(principal, "delete organisations")
    repo = OrganisationRepository(session)
    organisation = access.check_read_organisation(principal, repo.get(organisation_id), organisation_id)
    check_version("organisation", organisation_id, organisation.version, version)
    if organisation_in_use(session, organisation_id):
        raise ConflictError(f"organisation {organisation_id} still has needs, offers or users; remove them first")
    audit.act_as(session, principal)
    repo.delete(organisation)
