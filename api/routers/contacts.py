"""``/v1/needs/{id}/shortlist`` and ``/v1/needs/{id}/contact-requests``: a need's Party keeps providers in view
and asks to be put in contact with them (the web pages call the same use cases, ``matcher.usecases.contacts``).

For the need's Party and the secretariat; providers are refused (403) and to another Party a need's follow-up
does not exist (404). Both writes are idempotent: the first call answers 201, a repeat 200 with what is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import DatabaseDep
from api.routers.common import ERRORS, RecordId
from api.schemas import (
    ContactRequestCreate,
    ContactRequestOut,
    ShortlistAdd,
    ShortlistEntryOut,
    contact_request_out,
    shortlist_entry_out,
)
from api.security import SignedInDep, rate_limited
from matcher.usecases import contacts
from models.db import Database
from models.orm import ContactRequest, ShortlistEntry

router = APIRouter(prefix="/v1/needs", tags=["needs"], responses=ERRORS)

RowT = TypeVar("RowT", ShortlistEntry, ContactRequest)


def _post_once(
    path: str, model: type[BaseModel], *, again: str, summary: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """The route of a write that records once: 201 with the new row, 200 with the stored one (``again`` says
    what a repeat answers), rate-limited as every write."""
    return router.post(
        path,
        status_code=201,
        response_model=model,
        responses={200: {"description": again, "model": model}},
        dependencies=[Depends(rate_limited("write"))],
        summary=summary,
    )


def _recorded(
    db: Database, record: Callable[[Session], contacts.Recorded[RowT]], out: Callable[[RowT], BaseModel]
) -> JSONResponse:
    """Run ``record`` in a write transaction and answer its row: 201 when this call created it, else 200.

    The row is mapped inside the transaction, because the response names its offer (a lazy relationship).
    """
    with db.transaction() as session:
        recorded = record(session)
        body = out(recorded.row).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if recorded.created else 200)


@router.get("/{need_id}/shortlist", response_model=list[ShortlistEntryOut], summary="A need's shortlist")
def get_shortlist(need_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> list[ShortlistEntryOut]:
    """The providers shortlisted for the need, oldest first (offers the caller may no longer read left out)."""
    with db.transaction(read_only=True) as session:
        return [shortlist_entry_out(e) for e in contacts.shortlist_of(session, principal, need_id)]


@_post_once(
    "/{need_id}/shortlist",
    ShortlistEntryOut,
    again="Already on the shortlist: the stored entry.",
    summary="Shortlist a provider for a need",
)
def add_to_shortlist(
    need_id: RecordId, body: ShortlistAdd, principal: SignedInDep, db: DatabaseDep
) -> JSONResponse:
    return _recorded(
        db, lambda session: contacts.shortlist(session, principal, need_id, body.offer_id), shortlist_entry_out
    )


@router.delete(
    "/{need_id}/shortlist/{offer_id}",
    status_code=204,
    dependencies=[Depends(rate_limited("write"))],
    summary="Take a provider off a need's shortlist",
)
def remove_from_shortlist(
    need_id: RecordId, offer_id: RecordId, principal: SignedInDep, db: DatabaseDep
) -> Response:
    """204 also when the provider was not on the shortlist (the result is the same)."""
    with db.transaction() as session:
        contacts.remove_from_shortlist(session, principal, need_id, offer_id)
    return Response(status_code=204)


@router.get(
    "/{need_id}/contact-requests", response_model=list[ContactRequestOut], summary="A need's contact requests"
)
def get_contact_requests(need_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> list[ContactRequestOut]:
    with db.transaction(read_only=True) as session:
        return [contact_request_out(c) for c in contacts.contact_requests_of(session, principal, need_id)]


@_post_once(
    "/{need_id}/contact-requests",
    ContactRequestOut,
    again="Asked before: the first request, unchanged.",
    summary="Ask to be put in contact with a provider about a need",
)
def request_contact(
    need_id: RecordId, body: ContactRequestCreate, principal: SignedInDep, db: DatabaseDep
) -> JSONResponse:
    """Recorded with status ``sent`` (the provider's answers are not part of the API yet); the provider is
    shortlisted too."""
    return _recorded(
        db,
        lambda session: contacts.request_contact(session, principal, need_id, body.offer_id, body.message),
        contact_request_out,
    )
