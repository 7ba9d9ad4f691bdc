"""The Party's pages: post a need, follow its ranked providers, shortlist them, ask to be put in contact, and
the list of its needs.

Adapters like the JSON routes, over the same services and rules: posting goes through ``NeedService``
(``prepare_post`` in a read transaction, ``post`` in a write transaction, as ``POST /v1/needs``); a need's
ranked providers are its stored suggestions, read as ``GET /v1/needs/{id}/matches`` reads them; the shortlist
and contact requests are ``matcher.usecases.contacts``. Every form posts with its anti-forgery token
(``CsrfDep``) and works without JavaScript (a redirect after each post); htmx only swaps the provider card a
button changed. Who may do what is ``matcher.access.rules``: the need's Party and the secretariat; a provider
is refused, another Party finds nothing (404).

While the need is written, ``POST /needs/new/assist`` asks the need-writing assistant about the draft through
``AssistService.assist_need``, as ``POST /v1/assist/need`` does (same rules: similar needs are only those the
reader may read), and answers the form with the draft kept — or, for htmx, the assistant's partial alone.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.responses import HTMLResponse, Response

from api.deps import AssistServiceDep, DatabaseDep, NeedServiceDep
from api.routers.common import RecordId
from api.schemas import AssistNeedRequest, NeedCreate
from api.security import rate_limited
from api.web import i18n, party_views
from api.web.auth import CsrfDep, SignedInDep
from api.web.party_views import NeedDraft
from api.web.rendering import is_partial_request, render
from api.web.throttle import client_of, throttle_of
from api.web.views import pagination
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.assist.service import Draft
from matcher.errors import ConflictError, InvalidInputError, PermissionDeniedError, RateLimitedError
from matcher.records import needs
from matcher.usecases import contacts
from models import vocabularies as vocab

router = APIRouter(include_in_schema=False)

LocaleDep = Annotated[i18n.PageLocale, Depends(i18n.negotiate)]
# How many providers are ranked and stored for a new need (the API's default).
RANKED: Final = 10
MY_NEEDS_PAGE: Final = 20
MAX_PAGE: Final = 1000
# What the assistant's form accepts at most (it is sent again at every pause in typing and comes back in the
# page): a little over what a need may hold, so that a draft slightly too long is still kept and shown with
# its error, while a huge body is refused before any work.
DRAFT_TITLE_MAX: Final = 1_000
DRAFT_DESCRIPTION_MAX: Final = 25_000
DRAFT_CHOICES_MAX: Final = 40


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
    assistant: party_views.AssistView | None = None,
    partial: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    fixed = None if principal.is_staff else principal.country
    with i18n.activated(locale):
        form = party_views.need_form(
            draft,
            locale.code,
            fixed_party=fixed,
            errors=errors or (),
            general_error=general_error,
            assistant=assistant,
        )
    return render(
        request,
        locale,
        "party/post_need.html",
        # An htmx answer also updates the status line screen readers announce.
        {"form": form, "assistant_update": partial is not None and is_partial_request(request)},
        partial=partial,
        status_code=status_code,
    )


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


@router.post(
    "/needs/new/assist",
    response_class=HTMLResponse,
    dependencies=[CsrfDep, Depends(rate_limited("match"))],
)
def assist_need(
    request: Request,
    principal: SignedInDep,
    locale: LocaleDep,
    db: DatabaseDep,
    assist: AssistServiceDep,
    title: Annotated[str, Form(max_length=DRAFT_TITLE_MAX)] = "",
    description: Annotated[str, Form(max_length=DRAFT_DESCRIPTION_MAX)] = "",
    targets: Annotated[list[str], Form(max_length=DRAFT_CHOICES_MAX)] = [],  # noqa: B006
    assistance_types: Annotated[list[str], Form(max_length=DRAFT_CHOICES_MAX)] = [],  # noqa: B006
    party: Annotated[str, Form(max_length=3)] = "",
    language: Annotated[str, Form(max_length=10)] = "",
    visibility: Annotated[str, Form(max_length=20)] = "public",
    tick_target: Annotated[str, Form(max_length=3)] = "",
    tick_type: Annotated[str, Form(max_length=40)] = "",
    choose_party: Annotated[str, Form(max_length=3)] = "",
) -> HTMLResponse:
    """The draft checked by the assistant (``POST /v1/assist/need``'s service): the form again with the draft
    kept and the suggestions beside it, or, for htmx, the assistant's part alone. ``tick_target``,
    ``tick_type`` and ``choose_party`` are the suggestion the reader clicked (without JavaScript): it is added
    to the draft, and nothing else is ever ticked for the reader. Nothing is stored."""
    access.check_needs_role(principal, "post needs")
    chosen_targets = list(dict.fromkeys(targets))
    if tick_target in {str(n) for n in vocab.targets()} and tick_target not in chosen_targets:
        chosen_targets.append(tick_target)
    chosen_types = list(dict.fromkeys(assistance_types))
    if tick_type in vocab.ASSISTANCE_TYPES and tick_type not in chosen_types:
        chosen_types.append(tick_type)
    if principal.is_staff and choose_party in vocab.countries():
        party = choose_party
    draft = NeedDraft(
        title=title,
        description=description,
        targets=tuple(chosen_targets),
        assistance_types=tuple(chosen_types),
        party=party if principal.is_staff else (principal.country or ""),
        language=language,
        visibility=visibility,
    )
    assistant = _assistant(db, assist, principal, draft, locale)
    return _form_page(request, locale, principal, draft, assistant=assistant, partial="party/_assistant.html")


def _assistant(
    db: DatabaseDep,
    assist: AssistServiceDep,
    principal: Principal,
    draft: NeedDraft,
    locale: i18n.PageLocale,
) -> party_views.AssistView:
    """The assistant's answer for ``draft``, or "not ready" while its title or description would be refused
    (the choices it holds are kept only when valid: the assistant reads them, the form keeps them all)."""
    values = draft.values()
    body = {
        "title": values["title"],
        "description": values["description"],
        "targets": [t for t in draft.targets if t.isdigit() and int(t) in vocab.targets()],
        "assistance_types": [t for t in draft.assistance_types if t in vocab.ASSISTANCE_TYPES],
    }
    if draft.party in vocab.countries():
        body["party"] = draft.party
    if draft.language in vocab.languages():
        body["language"] = draft.language
    try:
        parsed = AssistNeedRequest.model_validate(body)
    except ValidationError:
        return party_views.AssistView(ready=False)
    query = Draft(
        title=parsed.title,
        description=parsed.description,
        party=parsed.party,
        targets=tuple(parsed.targets),
        assistance_types=tuple(parsed.assistance_types),
        language=parsed.language,
    )
    with db.transaction(read_only=True) as session:
        assistance = assist.assist_need(session, principal, query)
    with i18n.activated(locale):
        return party_views.assist_view(
            assistance,
            draft,
            locale.code,
            party=None if principal.is_staff else principal.country,
            can_choose_party=principal.is_staff,
        )


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
