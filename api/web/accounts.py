"""The account pages: sign-in and sign-out, password reset, choosing a password from an e-mailed link,
provider registration, the account page and the person's own API keys.

Adapters like the other pages: each form is a model that refuses unknown fields, posts with its anti-forgery
token (``CsrfDep``) and calls one service of ``matcher.access.people``; a form with a mistake is shown again
with the message beside its field (422). Sign-in, reset, registration and choosing a password from a link are
throttled (``throttle.py``); sign-in, reset and registration answer alike whether or not an address has an
account. Signing in, and choosing or changing a password, start a new session (the old cookie stops working)
and apply the person's language.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, BackgroundTasks, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import HTMLResponse, Response

from api.deps import DatabaseDep
from api.web import i18n
from api.web.auth import (
    SESSION_COOKIE,
    CsrfDep,
    SignedInViewerDep,
    Viewer,
    clear_session_cookie,
    is_local_path,
    set_session_cookie,
)
from api.web.i18n import gettext_noop as N_  # noqa: N812 - the name message extraction looks for
from api.web.mailing import public_url, send_later, send_link
from api.web.rendering import render
from api.web.throttle import client_of, throttle_of
from matcher.access import people
from matcher.access.sessions import StartedSession, end_session, start_session
from matcher.errors import InvalidInputError, NotFoundError, RateLimitedError
from models import vocabularies as vocab
from models.db import Database
from models.orm import EMAIL_LEN, NAME_LEN, URL_LEN, User

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

router = APIRouter(include_in_schema=False)

LANGUAGE_COOKIE_AGE_S: Final = 365 * 24 * 3600
_PASSWORD_FIELD_MAX: Final = 4 * people.PASSWORD_MAX_LENGTH  # longer input is refused by the form model
LinkToken = Annotated[str, Path(max_length=100)]

# Messages of the form fields (translated where shown).
MESSAGES: Final = {
    "email": N_("Enter an e-mail address like name@example.org."),
    "name": N_("Enter your name."),
    "name_taken": N_("Another account has this name. Add a detail, such as your organisation."),
    "too_short": N_("Use at least %(min)s characters. A few unrelated words make a strong password."),
    "too_long": N_("Use at most %(max)s characters."),
    "guessable": N_("This password is too easy to guess. Choose a phrase only you would think of."),
    "mismatch": N_("The two passwords are not the same."),
    "current_password": N_("This is not your current password."),
    "sign_in": N_("The e-mail address or the password is not right."),
    "throttled": N_(
        "Too many attempts. Wait %(minutes)s minutes and try again, or choose a new password with the link below."
    ),
    "mail_throttled": N_("Too many requests. Wait %(minutes)s minutes and try again."),
    "organisation": N_("Enter the name of your organisation."),
    "org_type": N_("Choose the kind of organisation."),
    "country": N_("Choose a country."),
    "website": N_("Enter the website address, starting with https://"),
    "locale": N_("Choose a language."),
}


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    csrf_token: str = Field(default="", max_length=100)


class SignInForm(_Form):
    email: str = Field(default="", max_length=EMAIL_LEN + 50)
    password: str = Field(default="", max_length=_PASSWORD_FIELD_MAX)
    next: str = Field(default="", max_length=2000)


class EmailForm(_Form):
    email: str = Field(default="", max_length=EMAIL_LEN + 50)


class NewPasswordForm(_Form):
    username: str = Field(default="", max_length=EMAIL_LEN + 50)  # for password managers; ignored
    password: str = Field(default="", max_length=_PASSWORD_FIELD_MAX)
    password_again: str = Field(default="", max_length=_PASSWORD_FIELD_MAX)


class ChangePasswordForm(NewPasswordForm):
    current_password: str = Field(default="", max_length=_PASSWORD_FIELD_MAX)


class ProfileForm(_Form):
    name: str = Field(default="", max_length=NAME_LEN)
    locale: str = Field(default="", max_length=10)


class RegistrationForm(_Form):
    organisation: str = Field(default="", max_length=NAME_LEN)
    org_type: str = Field(default="", max_length=60)
    country: str = Field(default="", max_length=60)
    website: str = Field(default="", max_length=URL_LEN)
    name: str = Field(default="", max_length=NAME_LEN)
    email: str = Field(default="", max_length=EMAIL_LEN + 50)
    locale: str = Field(default="", max_length=10)


class KeyForm(_Form):
    label: str = Field(default="", max_length=NAME_LEN)


def message(key: str, **params: object) -> str:
    """A field message in the active language."""
    text = i18n.gettext(MESSAGES[key])
    return text % params if params else text


def password_message(problem: str) -> str:
    return message(problem, min=people.PASSWORD_MIN_LENGTH, max=people.PASSWORD_MAX_LENGTH)


def language_cookie(response: Response, request: Request, code: str | None) -> None:
    """Apply a person's language to the next pages (the cookie the language switcher sets)."""
    if code in i18n.LOCALES:
        response.set_cookie(
            i18n.COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_AGE_S,
            path="/",
            samesite="lax",
            httponly=True,
            secure=request.url.scheme == "https",
        )


def signed_in_response(request: Request, started: StartedSession, user: User, target: str) -> RedirectResponse:
    """The redirect after a sign-in: the new session's cookie and the person's language."""
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, started)
    language_cookie(response, request, user.locale)
    return response


def _end_browser_session(request: Request, session: Session) -> None:
    # Rotation: the session this browser had (perhaps someone else's) ends when a new one starts.
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        end_session(session, old)


def _notice(
    request: Request, title: str, paragraphs: list[str], *, status_code: int = 200, links: list[Any] | None = None
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    context = {"title": title, "paragraphs": paragraphs, "links": links or []}
    return render(request, locale, "account/notice.html", context, status_code=status_code)


# ------------------------------------------------------------------------------------------- sign-in


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: Annotated[str, Query(max_length=2000)] = "") -> HTMLResponse:
    """The sign-in form (``next``: the local page to return to)."""
    locale = i18n.negotiate(request)
    context = {"email": "", "next": next if is_local_path(next) else "", "error": None}
    return render(request, locale, "account/sign_in.html", context)


@router.post("/sign-in", response_class=HTMLResponse, dependencies=[CsrfDep])
def sign_in(request: Request, db: DatabaseDep, form: Annotated[SignInForm, Form()]) -> Response:
    """Check the address and password; on success a new session, the person's language and their page."""
    locale = i18n.negotiate(request)
    throttle = throttle_of(request)
    client = client_of(request)
    target = form.next if is_local_path(form.next) else "/"
    context: dict[str, Any] = {"email": form.email[:EMAIL_LEN], "next": target if form.next else ""}
    wait = throttle.sign_in_wait(form.email, client)
    if wait is not None:
        with i18n.activated(locale):
            context["error"] = message("throttled", minutes=max(1, (wait + 59) // 60))
        response = render(request, locale, "account/sign_in.html", context, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    with db.transaction() as session:
        user = people.authenticate(session, form.email, form.password)
        if user is not None:
            _end_browser_session(request, session)
            started = start_session(session, user)
    if user is None:
        throttle.sign_in_failed(form.email, client)
        with i18n.activated(locale):
            context["error"] = message("sign_in")
        return render(request, locale, "account/sign_in.html", context, status_code=422)
    throttle.sign_in_succeeded(form.email)
    return signed_in_response(request, started, user, target)


@router.post("/sign-out", dependencies=[CsrfDep])
def sign_out(request: Request, db: DatabaseDep) -> RedirectResponse:
    """End this browser's session and go to the home page."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with db.transaction() as session:
            end_session(session, token)
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response, request)
    return response


# -------------------------------------------------------------------------------------- password reset


@router.get("/password/reset", response_class=HTMLResponse)
def reset_page(request: Request) -> HTMLResponse:
    """Ask for a link to choose a new password."""
    locale = i18n.negotiate(request)
    return render(request, locale, "account/reset.html", {"email": "", "error": None})


@router.post("/password/reset", response_class=HTMLResponse, dependencies=[CsrfDep])
def request_reset(
    request: Request, db: DatabaseDep, tasks: BackgroundTasks, form: Annotated[EmailForm, Form()]
) -> HTMLResponse:
    """Send a reset link if the address has an account; the answer is the same either way."""
    locale = i18n.negotiate(request)
    try:
        people.normalise_email(form.email)
    except InvalidInputError:
        with i18n.activated(locale):
            context = {"email": form.email[:EMAIL_LEN], "error": message("email")}
        return render(request, locale, "account/reset.html", context, status_code=422)
    wait = throttle_of(request).form_wait("reset", client=client_of(request), account=form.email)
    if wait is not None:
        with i18n.activated(locale):
            context = {
                "email": form.email[:EMAIL_LEN],
                "error": message("mail_throttled", minutes=(wait + 59) // 60),
            }
        response = render(request, locale, "account/reset.html", context, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    with db.transaction() as session:
        link = people.request_reset(session, form.email)
    if link is not None:
        send_link(request, tasks, "reset", link)
    with i18n.activated(locale):
        return _notice(
            request,
            i18n.gettext("Check your e-mail"),
            [
                i18n.gettext(
                    "If an account uses this address, we have sent it a link to choose a new password. The link"
                    " works once, for one hour."
                ),
                i18n.gettext("Nothing arrived? Look in your spam folder, or ask for a new link in a few minutes."),
            ],
        )


@router.get("/password/choose/{token}", response_class=HTMLResponse)
def choose_password_page(request: Request, token: LinkToken, db: DatabaseDep) -> HTMLResponse:
    """The form of an e-mailed link (reset or invitation); a spent or expired link says so."""
    with db.transaction(read_only=True) as session:
        row = people.valid_link(session, token)
        found = None if row is None else (row.purpose, row.user.email, row.user.name)
    if found is None:
        return _link_gone(request)
    purpose, email, name = found
    return _choose_form(request, token=token, purpose=purpose, email=email or "", name=name, error=None)


def _choose_form(
    request: Request, *, token: str, purpose: str, email: str, name: str, error: str | None, status_code: int = 200
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    context = {
        "token": token,
        "purpose": purpose,
        "email": email,
        "name": name,
        "error": error,
        "min_length": people.PASSWORD_MIN_LENGTH,
        "max_length": people.PASSWORD_MAX_LENGTH,
    }
    response = render(request, locale, "account/choose_password.html", context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _link_gone(request: Request) -> HTMLResponse:
    locale = i18n.negotiate(request)
    with i18n.activated(locale):
        return _notice(
            request,
            i18n.gettext("This link no longer works"),
            [
                i18n.gettext(
                    "A link from our e-mails works once and for a limited time, and a newer link replaces the"
                    " older ones. Ask for a new link to choose your password."
                )
            ],
            status_code=410,
            links=[("/password/reset", i18n.gettext("Ask for a new link"))],
        )


@router.post("/password/choose/{token}", response_class=HTMLResponse, dependencies=[CsrfDep])
def choose_password(
    request: Request, token: LinkToken, db: DatabaseDep, form: Annotated[NewPasswordForm, Form()]
) -> Response:
    """Set the password chosen through a link, spend the link, and sign the person in (every other session
    of theirs ends)."""
    locale = i18n.negotiate(request)
    error = None
    # Counted per link (its digest: the token itself is a secret) and per client, before the link is looked up.
    link = hashlib.sha256(token.encode()).hexdigest()
    wait = throttle_of(request).form_wait("link", client=client_of(request), account=link)
    if wait is not None:
        raise RateLimitedError("too many passwords chosen from links", retry_after=wait)
    try:
        with db.transaction() as session:
            row = people.valid_link(session, token)
            if row is None:
                raise NotFoundError("link")
            shown = (row.purpose, row.user.email or "", row.user.name)
            if form.password != form.password_again:
                raise InvalidInputError("mismatch", field="password_again")
            user = people.use_link(session, token, form.password)
            _end_browser_session(request, session)
            started = start_session(session, user)
    except NotFoundError:
        return _link_gone(request)
    except InvalidInputError as exc:
        with i18n.activated(locale):
            error = (
                message("mismatch")
                if exc.field == "password_again"
                else password_message(_problem(form.password, shown))
            )
        purpose, email, name = shown
        return _choose_form(
            request, token=token, purpose=purpose, email=email, name=name, error=error, status_code=422
        )
    return signed_in_response(request, started, user, "/account?done=password")


def _problem(password: str, shown: tuple[str, str, str]) -> str:
    _purpose, email, name = shown
    context = (email, email.split("@")[0], name)
    return people.password_problem(password, context=context) or "guessable"


# ---------------------------------------------------------------------------------------- registration


def _registration_choices(locale: str) -> dict[str, Any]:
    return {
        "org_types": [(t, vocab.label("organisation_type", t, locale)) for t in vocab.ORGANISATION_TYPES],
        "countries": sorted(
            ((c, vocab.label("country", c, locale)) for c in vocab.countries()), key=lambda p: p[1].casefold()
        ),
    }


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request) -> HTMLResponse:
    """An organisation asks to offer support: its details and its contact person."""
    locale = i18n.negotiate(request)
    context = {"form": RegistrationForm(locale=locale.code), "errors": {}, **_registration_choices(locale.code)}
    return render(request, locale, "account/register.html", context)


@router.post("/register", response_class=HTMLResponse, dependencies=[CsrfDep])
def register(
    request: Request, db: DatabaseDep, tasks: BackgroundTasks, form: Annotated[RegistrationForm, Form()]
) -> HTMLResponse:
    """Record the registration, pending the secretariat; the answer is the same for a known address."""
    locale = i18n.negotiate(request)
    errors: dict[str, str] = {}
    with i18n.activated(locale):
        wait = throttle_of(request).form_wait("register", client=client_of(request), account=form.email)
        if wait is not None:
            errors["form"] = message("mail_throttled", minutes=(wait + 59) // 60)
        else:
            try:
                with db.transaction() as session:
                    outcome = people.register_provider(
                        session,
                        organisation=form.organisation,
                        org_type=form.org_type,
                        country=form.country,
                        website=form.website,
                        name=form.name,
                        email=form.email,
                        locale=form.locale if form.locale in i18n.LOCALES else None,
                    )
            except InvalidInputError as exc:
                field = exc.field or "form"
                key = "name_taken" if field == "name" and form.name.strip() else field
                errors[field] = message(key) if key in MESSAGES else str(exc)
        if errors:
            context = {"form": form, "errors": errors, **_registration_choices(locale.code)}
            status = 429 if wait is not None else 422
            response = render(request, locale, "account/register.html", context, status_code=status)
            if wait is not None:
                response.headers["Retry-After"] = str(wait)
            return response
        kind = "already_registered" if outcome.existing else "registered"
        context = {
            "name": outcome.name,
            "url": public_url(request, "/sign-in"),
            "reset_url": public_url(request, "/password/reset"),
        }
        send_later(request, tasks, kind, to=outcome.email, locale=outcome.locale or form.locale, context=context)
        return _notice(
            request,
            i18n.gettext("Thank you for registering"),
            [
                i18n.gettext(
                    "The secretariat will review your registration. We will write to the address you gave, with"
                    " a link to choose your password once it is approved."
                ),
            ],
        )


# ----------------------------------------------------------------------------------------- the account


@router.get("/account", response_class=HTMLResponse)
def account_page(
    request: Request,
    viewer: SignedInViewerDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """The signed-in person: name, address, language, password."""
    locale = i18n.negotiate(request)
    context = {
        "form": ProfileForm(name=viewer.name or "", locale=viewer.locale or ""),
        "errors": {},
        "done": done,
        "min_length": people.PASSWORD_MIN_LENGTH,
        "max_length": people.PASSWORD_MAX_LENGTH,
    }
    return render(request, locale, "account/account.html", context)


def _account_with_errors(
    request: Request, viewer: Viewer, form: ProfileForm, errors: dict[str, str]
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    context = {
        "form": form,
        "errors": errors,
        "done": None,
        "min_length": people.PASSWORD_MIN_LENGTH,
        "max_length": people.PASSWORD_MAX_LENGTH,
    }
    return render(request, locale, "account/account.html", context, status_code=422)


@router.post("/account", response_class=HTMLResponse, dependencies=[CsrfDep])
def update_account(
    request: Request, viewer: SignedInViewerDep, db: DatabaseDep, form: Annotated[ProfileForm, Form()]
) -> Response:
    """Change the name and the language (applied at once)."""
    locale = i18n.negotiate(request)
    if form.locale and form.locale not in i18n.LOCALES:
        with i18n.activated(locale):
            return _account_with_errors(request, viewer, form, {"locale": message("locale")})
    try:
        with db.transaction() as session:
            people.update_profile(session, viewer.principal, name=form.name, locale=form.locale or None)
    except InvalidInputError as exc:
        with i18n.activated(locale):
            key = "name" if not form.name.strip() else "name_taken"
            return _account_with_errors(
                request, viewer, form, {"name": message(key) if exc.field == "name" else str(exc)}
            )
    response = RedirectResponse("/account?done=profile", status_code=303)
    language_cookie(response, request, form.locale or None)
    return response


@router.post("/account/password", response_class=HTMLResponse, dependencies=[CsrfDep])
def change_password(
    request: Request, viewer: SignedInViewerDep, db: DatabaseDep, form: Annotated[ChangePasswordForm, Form()]
) -> Response:
    """Change the password: every session of the person ends, and this browser gets a new one."""
    locale = i18n.negotiate(request)
    errors: dict[str, str] = {}
    with i18n.activated(locale):
        if form.password != form.password_again:
            errors["password_again"] = message("mismatch")
        else:
            try:
                with db.transaction() as session:
                    user = people.change_password(
                        session, viewer.principal, current=form.current_password, new=form.password
                    )
                    started = start_session(session, user)
            except InvalidInputError as exc:
                if exc.field == "current_password":
                    errors["current_password"] = message("current_password")
                else:
                    context = (viewer.email or "", (viewer.email or "").split("@")[0], viewer.name or "")
                    errors["password"] = password_message(
                        people.password_problem(form.password, context=context) or "guessable"
                    )
        if errors:
            profile = ProfileForm(name=viewer.name or "", locale=viewer.locale or "")
            return _account_with_errors(request, viewer, profile, errors)
    return signed_in_response(request, started, user, "/account?done=password")


# ------------------------------------------------------------------------------------------- API keys


@router.get("/account/keys", response_class=HTMLResponse)
def keys_page(
    request: Request,
    viewer: SignedInViewerDep,
    db: DatabaseDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """The person's API keys (for their programs), with a form for a new one."""
    return _keys(request, viewer, db, new_secret=None, done=done)


def _keys(
    request: Request, viewer: Viewer, db: Database, *, new_secret: str | None, done: str | None
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    with db.transaction(read_only=True) as session:
        keys = [
            {"key_id": k.key_id, "label": k.label, "created_at": k.created_at, "revoked": k.revoked_at is not None}
            for k in people.own_keys(session, viewer.principal)
        ]
    context = {"keys": keys, "new_secret": new_secret, "done": done, "api_url": public_url(request, "/v1/me")}
    response = render(request, locale, "account/keys.html", context)
    if new_secret is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret is shown once; no copy in a cache
    return response


@router.post("/account/keys", response_class=HTMLResponse, dependencies=[CsrfDep])
def create_key(
    request: Request, viewer: SignedInViewerDep, db: DatabaseDep, form: Annotated[KeyForm, Form()]
) -> HTMLResponse:
    """Make a key and show its secret once."""
    with db.transaction() as session:
        issued = people.create_own_key(session, viewer.principal, label=form.label)
    return _keys(request, viewer, db, new_secret=issued.secret, done=None)


@router.post("/account/keys/{key_id}/revoke", dependencies=[CsrfDep])
def revoke_key(
    request: Request,
    viewer: SignedInViewerDep,
    db: DatabaseDep,
    key_id: Annotated[str, Path(max_length=32)],
) -> RedirectResponse:
    """Revoke one of the person's keys (another person's key id is not found)."""
    with db.transaction() as session:
        people.revoke_own_key(session, viewer.principal, key_id)
    return RedirectResponse("/account/keys?done=revoked", status_code=303)
