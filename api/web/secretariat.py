"""The secretariat's account pages: inviting a Party's focal point or a provider, and deciding on the
organisations that registered themselves.

Only the secretariat and administrators reach them (``matcher.access.rules.check_staff`` inside each
service): a visitor is sent to sign in, any other signed-in person gets a 403 page. Each decision e-mails the
person in their language (``mailing.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import HTMLResponse, Response

from api.deps import DatabaseDep
from api.web import i18n
from api.web.accounts import message
from api.web.auth import CsrfDep, SignedInDep
from api.web.mailing import send_later, send_link
from api.web.rendering import render
from matcher.access import people
from matcher.access.rules import Principal
from matcher.errors import ConflictError, InvalidInputError, NotFoundError
from models import vocabularies as vocab
from models.db import Database
from models.orm import EMAIL_LEN, NAME_LEN

router = APIRouter(include_in_schema=False)

INVITABLE_ROLES: Final = ("party", "provider")


class InvitationForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csrf_token: str = Field(default="", max_length=100)
    role: Literal["party", "provider", ""] = ""
    name: str = Field(default="", max_length=NAME_LEN)
    email: str = Field(default="", max_length=EMAIL_LEN + 50)
    country: str = Field(default="", max_length=60)
    organisation_id: str = Field(default="", max_length=12)
    locale: str = Field(default="", max_length=10)


class DecisionForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csrf_token: str = Field(default="", max_length=100)


def _invitation_page(
    request: Request,
    db: Database,
    principal: Principal,
    *,
    form: InvitationForm,
    errors: dict[str, str],
    sent: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    with db.transaction(read_only=True) as session:
        organisations = [(o.id, o.name, o.country) for o in people.invitation_organisations(session, principal)]
    context = {
        "form": form,
        "errors": errors,
        "sent": sent,
        "organisations": organisations,
        "countries": sorted(
            ((c, vocab.label("country", c, locale.code)) for c in vocab.countries()), key=lambda p: p[1].casefold()
        ),
    }
    return render(request, locale, "secretariat/invitations.html", context, status_code=status_code)


@router.get("/secretariat/invitations", response_class=HTMLResponse)
def invitations_page(
    request: Request,
    principal: SignedInDep,
    db: DatabaseDep,
    sent: Annotated[str | None, Query(max_length=EMAIL_LEN)] = None,
) -> HTMLResponse:
    """Invite a Party's focal point (for a country) or a provider (for an organisation)."""
    return _invitation_page(request, db, principal, form=InvitationForm(), errors={}, sent=sent)


@router.post("/secretariat/invitations", response_class=HTMLResponse, dependencies=[CsrfDep])
def invite(
    request: Request,
    principal: SignedInDep,
    db: DatabaseDep,
    tasks: BackgroundTasks,
    form: Annotated[InvitationForm, Form()],
) -> Response:
    """Create the invited person and e-mail them a link to choose their password."""
    locale = i18n.negotiate(request)
    errors: dict[str, str] = {}
    with i18n.activated(locale):
        if form.role not in INVITABLE_ROLES:
            errors["role"] = i18n.gettext("Choose whom you invite.")
        elif form.role == "party" and not form.country:
            errors["country"] = message("country")
        elif form.role == "provider" and not form.organisation_id.isdigit():
            errors["organisation_id"] = i18n.gettext("Choose the organisation.")
        if not errors:
            try:
                with db.transaction() as session:
                    link = people.invite(
                        session,
                        principal,
                        email=form.email,
                        name=form.name,
                        role=form.role,  # type: ignore[arg-type]  # checked above
                        country=form.country if form.role == "party" else None,
                        organisation_id=int(form.organisation_id) if form.role == "provider" else None,
                        locale=form.locale if form.locale in i18n.LOCALES else None,
                    )
            except NotFoundError:
                errors["organisation_id"] = i18n.gettext("Choose the organisation.")
            except ConflictError:
                errors["email"] = i18n.gettext("This address has an account already.")
            except InvalidInputError as exc:
                field = exc.field or "email"
                if field == "name" and form.name.strip():
                    errors["name"] = message("name_taken")
                else:
                    errors[field] = message(field) if field in ("email", "name", "country") else str(exc)
        if errors:
            return _invitation_page(request, db, principal, form=form, errors=errors, sent=None, status_code=422)
    send_link(request, tasks, "invitation", link)
    return RedirectResponse(f"/secretariat/invitations?{urlencode({'sent': link.email})}", status_code=303)


@router.get("/secretariat/registrations", response_class=HTMLResponse)
def registrations_page(
    request: Request,
    principal: SignedInDep,
    db: DatabaseDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """Organisations that registered as providers, awaiting a decision."""
    locale = i18n.negotiate(request)
    with db.transaction(read_only=True) as session:
        pending = [
            {
                "id": p.user.id,
                "name": p.user.name,
                "email": p.user.email,
                "registered_at": p.user.created_at,
                "organisation": p.organisation.name,
                "org_type": vocab.label("organisation_type", p.organisation.org_type, locale.code),
                "country": vocab.label("country", p.organisation.country, locale.code),
                "website": p.organisation.website,
                "known": p.other_people > 0 or p.offers > 0,
                "offers": p.offers,
            }
            for p in people.pending_registrations(session, principal)
        ]
    return render(request, locale, "secretariat/registrations.html", {"pending": pending, "done": done})


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision posted on one registration: who decides on whom, and what the answer needs to send mail."""

    request: Request
    tasks: BackgroundTasks
    principal: Principal
    db: Database
    user_id: int


def decision(
    request: Request,
    principal: SignedInDep,
    db: DatabaseDep,
    tasks: BackgroundTasks,
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    form: Annotated[DecisionForm, Form()],
) -> Decision:
    """What approving and rejecting both read (the form carries only the CSRF token, which ``CsrfDep`` checks;
    it is declared so that its size and fields are checked as every form's are)."""
    del form
    return Decision(request, tasks, principal, db, user_id)


DecisionDep = Annotated[Decision, Depends(decision)]


@router.post("/secretariat/registrations/{user_id}/approve", dependencies=[CsrfDep])
def approve(posted: DecisionDep) -> RedirectResponse:
    """Approve: the person is e-mailed a link to choose their password."""
    with posted.db.transaction() as session:
        link = people.approve_registration(session, posted.principal, posted.user_id)
    send_link(posted.request, posted.tasks, "approved", link)
    return RedirectResponse("/secretariat/registrations?done=approved", status_code=303)


@router.post("/secretariat/registrations/{user_id}/reject", dependencies=[CsrfDep])
def reject(posted: DecisionDep) -> RedirectResponse:
    """Reject: the registration is deleted and the person told."""
    with posted.db.transaction() as session:
        told = people.reject_registration(session, posted.principal, posted.user_id)
    context: dict[str, object] = {"name": told.name}
    send_later(posted.request, posted.tasks, "rejected", to=told.email, locale=told.locale, context=context)
    return RedirectResponse("/secretariat/registrations?done=rejected", status_code=303)
