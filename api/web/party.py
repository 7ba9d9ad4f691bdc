"""The Party's pages: post a need, follow its ranked providers, shortlist them, ask to be put in contact, and
the list of its needs.

Adapters like the JSON routes, over the same services and rules: posting goes through ``NeedService``
(``prepare_post`` in a read transaction, ``post`` in a write transaction, as ``POST /v1/needs``); a need's
ranked providers are its stored suggestions, read as ``GET /v1/needs/{id}/matches`` reads them; the shortlist
and contact requests are ``matcher.usecases.contacts``. Every form posts with its anti-forgery token
(``CsrfDep``) and works without JavaScript (a redirect after each post); htmx only swaps the provider card a
button changed. Who may do what is ``matcher.access.rules``: the need's Party and the secretariat; a provider
is refused, another Party finds nothing (404).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import HTMLResponse, Response

from api.deps import DatabaseDep, NeedServiceDep
from api.routers.common import RecordId
from api.schemas import NeedCreate
from api.web import i18n, party_views
from api.web.auth import CsrfDep, SignedInDep
from api.web.party_views import NeedDraft
from api.web.rendering import render
from api.web.throttle import client_of, throttle_of
from api.web.views import pagination
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.errors import ConflictError, InvalidInputError, PermissionDeniedError, RateLimitedError
from matcher.records import needs
from matcher.usecases import contacts

router = APIRouter(include_in_schema=False)

LocaleDep = Annotated[i18n.PageLocale, Depends(i18n.negotiate)]
# How many providers are ranked and stored for a new need (the API's default).
RANKED: Final = 10
MY_NEEDS_PAGE: Final = 20
MAX_PAGE: Final = 1000


def _workspace_path(need_id: int, offer_id: int | None = None) -> str:
    return f"/my/needs/{need_id}" + (f"#offer-{offer_id}" if offer_id is not None else "")


# ------------------------------------------------------------------------------------------ post a need


def _form_page(
    request: Request,
    locale: i18n.PageLocale,
    principal: Principal,
    draft: NeedDraft,
    *,
    errors: list[str] | None = None,
    general_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    fixed = None if principal.is_staff else principal.country
    with i18n.activated(locale):
        form = party_views.need_form(
            draft, locale.code, fixed_party=fixed, errors=errors or (), general_error=general_error
        )
    return render(request, locale, "party/post_need.html", {"form": form}, status_code=status_code)


@router.get("/needs/new", response_class=HTMLResponse)
def new_need(request: Request, principal: SignedInDep, locale: LocaleDep) -> HTMLResponse:
    """The guided form to post a need (Parties and the secretariat)."""
    access.check_needs_role(principal, "post needs")
    return _form_page(request, locale, principal, NeedDraft())


@router.post("/needs/new", response_class=HTMLResponse, dependencies=[CsrfDep])
def post_need(
    request: Request,
    principal: SignedInDep,
    locale: LocaleDep,
    db: DatabaseDep,
    service: NeedServiceDep,
    title: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    targets: Annotated[list[str], Form()] = [],  # noqa: B006
    assistance_types: Annotated[list[str], Form()] = [],  # noqa: B006
    party: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
    visibility: Annotated[str, Form()] = "public",
) -> Response:
    """Check the need, rank its providers, store it, and go to its workspace; errors come back beside their
    fields with the draft kept."""
    access.check_needs_role(principal, "post needs")
    draft = NeedDraft(
        title=title,
        description=description,
        targets=tuple(targets),
        assistance_types=tuple(assistance_types),
        party=party if principal.is_staff else (principal.country or ""),
        language=language,
        visibility=visibility,
    )
    try:
        body = NeedCreate.model_validate(draft.values())
    except ValidationError as exc:
        errors = party_views.field_errors(exc)
        return _form_page(request, locale, principal, draft, errors=errors, status_code=422)
    try:
        with db.transaction(read_only=True) as session:
            prepared = service.prepare_post(session, principal, body.model_dump(exclude_none=True), k=RANKED)
    except (InvalidInputError, PermissionDeniedError, ConflictError) as exc:
        field = getattr(exc, "field", None)
        if isinstance(field, str) and field in party_views.FIELD_MESSAGES:
            return _form_page(request, locale, principal, draft, errors=[field], status_code=422)
        return _form_page(request, locale, principal, draft, general_error=str(exc), status_code=422)
    with db.transaction() as session:
        need_id = service.post(session, prepared).need.id
    return RedirectResponse(_workspace_path(need_id), status_code=303)


# ------------------------------------------------------------------------------------------ my needs


@router.get("/my/needs", response_class=HTMLResponse)
def my_needs(
    request: Request,
    principal: SignedInDep,
    locale: LocaleDep,
    db: DatabaseDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> HTMLResponse:
    """The needs the reader follows up, newest first, with their status and what was done about them."""
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        found = contacts.my_needs(session, principal, limit=MY_NEEDS_PAGE, offset=(page - 1) * MY_NEEDS_PAGE)
        context = {
            "items": [party_views.followed_need_view(item, locale.code) for item in found.items],
            "total": found.total,
            "pagination": pagination("/my/needs", {}, page=page, total=found.total, page_size=MY_NEEDS_PAGE),
        }
    return render(request, locale, "party/my_needs.html", context)


# ------------------------------------------------------------------------------------------ a need's workspace


def _workspace_page(
    request: Request,
    locale: i18n.PageLocale,
    db: DatabaseDep,
    principal: Principal,
    need_id: int,
    *,
    message_error: tuple[int, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with db.transaction(read_only=True) as session, i18n.activated(locale):
        space = contacts.workspace(session, principal, need_id)
        actions = sorted(needs.allowed_transitions(principal, space.need.status))
        view = party_views.workspace_view(space, space.fits, locale.code, status_actions=actions)
        context = {
            "space": view,
            "message_error": (
                (message_error[0], party_views.FIELD_MESSAGES["message"], message_error[1])
                if message_error
                else None
            ),
        }
    return render(request, locale, "party/workspace.html", context, status_code=status_code)


@router.get("/my/needs/{need_id}", response_class=HTMLResponse)
def workspace(
    request: Request, need_id: RecordId, principal: SignedInDep, locale: LocaleDep, db: DatabaseDep
) -> HTMLResponse:
    """A need as its Party follows it up: its ranked providers with their verdicts and explanations."""
    return _workspace_page(request, locale, db, principal, need_id)


@router.post("/my/needs/{need_id}/shortlist", dependencies=[CsrfDep])
def shortlist(
    need_id: RecordId,
    principal: SignedInDep,
    db: DatabaseDep,
    offer_id: Annotated[int, Form(ge=1, le=2_147_483_647)],
    remove: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Shortlist a provider (or take it off the shortlist) and come back to its card."""
    with db.transaction() as session:
        if remove:
            contacts.remove_from_shortlist(session, principal, need_id, offer_id)
        else:
            contacts.shortlist(session, principal, need_id, offer_id)
    return RedirectResponse(_workspace_path(need_id, offer_id), status_code=303)


@router.post("/my/needs/{need_id}/contact", response_class=HTMLResponse, dependencies=[CsrfDep])
def request_contact(
    request: Request,
    need_id: RecordId,
    principal: SignedInDep,
    locale: LocaleDep,
    db: DatabaseDep,
    offer_id: Annotated[int, Form(ge=1, le=2_147_483_647)],
    message: Annotated[str, Form()] = "",
) -> Response:
    """Ask to be put in contact with a provider; a refused message comes back beside the field, kept. Each
    request reaches a person, so they are throttled per account and per client (429 page)."""
    account = f"user:{principal.user_id}" if principal.user_id is not None else None
    wait = throttle_of(request).form_wait("contact", client=client_of(request), account=account)
    if wait is not None:
        raise RateLimitedError("too many contact requests", retry_after=wait)
    try:
        with db.transaction() as session:
            contacts.request_contact(session, principal, need_id, offer_id, message)
    except InvalidInputError as exc:
        if exc.field != "message":
            raise
        return _workspace_page(
            request, locale, db, principal, need_id, message_error=(offer_id, message), status_code=422
        )
    return RedirectResponse(_workspace_path(need_id, offer_id), status_code=303)


@router.post("/my/needs/{need_id}/status", dependencies=[CsrfDep])
def change_status(
    need_id: RecordId,
    principal: SignedInDep,
    db: DatabaseDep,
    service: NeedServiceDep,
    status: Annotated[str, Form(max_length=20)],
    version: Annotated[int, Form(ge=1, le=2_147_483_647)],
) -> RedirectResponse:
    """Close, withdraw or reopen the need. ``version`` is the version the page showed (If-Match): a need changed
    meanwhile is not overwritten (412)."""
    with db.transaction(read_only=True) as session:
        contacts.followed_need(session, principal, need_id)
        prepared = service.prepare_change(session, principal, need_id, {"status": status}, version=version)
    with db.transaction() as session:
        service.change(session, principal, prepared)
    return RedirectResponse(_workspace_path(need_id), status_code=303)
