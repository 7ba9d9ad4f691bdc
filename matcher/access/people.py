"""People who sign in to the pages: addresses, passwords, sign-in, e-mailed links, invitations, registrations
and their own API keys.

- **Addresses** are checked and normalised by ``email-validator`` (syntax only: no DNS lookup, which would make
  a form depend on the network), then lower-cased whole, so that ``Ana@Example.org`` and ``ana@example.org``
  are one account (the column is unique on the stored form).
- **Passwords** follow NIST SP 800-63B (rev. 4, section 3.1.1.2): at least 15 characters, since a password is
  the only factor here; up to 128, so that pass phrases and password managers fit; no composition rules and no
  forced expiry; refused when they are the service's name or the person's address or name, or one character
  repeated. Length is counted in characters after NFKC normalisation (the standard's advice, so that the same
  phrase typed on two keyboards is the same password). Hashes are argon2id through pwdlib, as for API keys.
- **Sign-in** gives one answer for a wrong password, an unknown address and an account that may not sign in
  (pending approval, disabled), and spends the same argon2 work on all three, so that neither the answer nor
  its timing says whether an address has an account.
- **E-mailed links** (password reset, invitation) hold a random token; only its SHA-256 digest is stored. A
  link works once, expires (reset: 1 hour, invitation: 7 days), and a new link of the same purpose cancels the
  older ones. Choosing a password through a link, or changing it, ends every session of the person.
- **Registration**: an organisation registers a provider contact, who stays ``pending`` (cannot sign in; keys
  refused) until the secretariat approves; approval sends a link to choose a password, which proves the
  address belongs to them. Rejection deletes the pending person, and the organisation with them when it was
  new and has nothing else.

Services take the caller's session and never commit (the request or command does).
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final, Literal

from email_validator import EmailNotValidError, validate_email
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from matcher.access import audit
from matcher.access import rules as access
from matcher.access.accounts import IssuedKey, create_user, issue_key
from matcher.access.rules import ANONYMOUS, Principal
from matcher.access.sessions import end_all_sessions, token_digest
from matcher.errors import ConflictError, InvalidInputError, NotFoundError, UnknownTermError
from models import vocabularies as vocab
from models.orm import EMAIL_LEN, NAME_LEN, URL_LEN, AccountToken, ApiKey, Organisation, User, utcnow
from models.repositories import AccountTokenRepository, OrganisationRepository, UserRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PASSWORD_MIN_LENGTH: Final = 15
PASSWORD_MAX_LENGTH: Final = 128
RESET_LIFETIME: Final = dt.timedelta(hours=1)
INVITATION_LIFETIME: Final = dt.timedelta(days=7)
LINK_LIFETIMES: Final = {"reset": RESET_LIFETIME, "invitation": INVITATION_LIFETIME}
SERVICE_WORDS: Final = frozenset({"pollinate", "password", "motdepasse", "contraseña"})
MAX_ORGANISATIONS: Final = 5000
_TOKEN_BYTES: Final = 32
_MAX_TOKEN_LEN: Final = 100
_HASHER: Final = PasswordHash((Argon2Hasher(),))

Purpose = Literal["reset", "invitation"]
PasswordProblem = Literal["too_short", "too_long", "guessable"]


# ------------------------------------------------------------------------------------- addresses


def normalise_email(address: str) -> str:
    """The stored form of an e-mail address.

    Raises:
        InvalidInputError: not a valid address (field ``email``).
    """
    try:
        checked = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInputError(f"{address!r} is not a valid e-mail address: {exc}", field="email") from exc
    normalised = checked.normalized.lower()
    if len(normalised) > EMAIL_LEN:
        raise InvalidInputError(f"an e-mail address has at most {EMAIL_LEN} characters", field="email")
    return normalised


# -------------------------------------------------------------------------------------- passwords


def _canonical(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def password_problem(password: str, *, context: tuple[str, ...] = ()) -> PasswordProblem | None:
    """What is wrong with a new password, or ``None`` (see the module docstring for the rules).

    ``context``: the person's address and name, which a password must not be.
    """
    canonical = _canonical(password)
    if len(canonical) < PASSWORD_MIN_LENGTH:
        return "too_short"
    if len(canonical) > PASSWORD_MAX_LENGTH:
        return "too_long"
    folded = canonical.casefold()
    squeezed = "".join(folded.split())
    blocked = {"".join(word.casefold().split()) for word in (*context, *SERVICE_WORDS) if word.strip()}
    if len(set(squeezed)) <= 1 or folded in blocked or squeezed in blocked:
        return "guessable"
    if any(squeezed == word * (len(squeezed) // len(word)) for word in blocked if len(squeezed) % len(word) == 0):
        return "guessable"
    return None


def check_password(password: str, *, context: tuple[str, ...] = ()) -> None:
    """Raises InvalidInputError (field ``password``) when ``password`` may not be chosen."""
    problem = password_problem(password, context=context)
    if problem == "too_short":
        raise InvalidInputError(f"a password has at least {PASSWORD_MIN_LENGTH} characters", field="password")
    if problem == "too_long":
        raise InvalidInputError(f"a password has at most {PASSWORD_MAX_LENGTH} characters", field="password")
    if problem == "guessable":
        raise InvalidInputError("this password is too easy to guess; use a longer phrase", field="password")


def hash_password(password: str) -> str:
    """The argon2id hash of a password (NFKC-normalised first)."""
    return _HASHER.hash(_canonical(password))


@cache
def _decoy_hash() -> str:
    # Verified against when there is no account, so that an unknown address costs the same work as a known one.
    return _HASHER.hash(secrets.token_urlsafe(24))


def set_password(session: Session, user: User, password: str) -> None:
    """Give ``user`` a new password (checked) and end every session they have (write transaction)."""
    check_password(password, context=_context(user))
    user.password_hash = hash_password(password)
    end_all_sessions(session, user.id)


def _context(user: User) -> tuple[str, ...]:
    local = user.email.split("@")[0] if user.email else ""
    return tuple(v for v in (user.email, local, user.name) if v)


def _verify(password: str, stored: str | None) -> tuple[bool, str | None]:
    if len(password) > 4 * PASSWORD_MAX_LENGTH:  # no argon2 work for absurd input
        _HASHER.verify("-", _decoy_hash())
        return False, None
    if stored is None:
        _HASHER.verify(_canonical(password), _decoy_hash())
        return False, None
    return _HASHER.verify_and_update(_canonical(password), stored)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The person this address and password sign in, or ``None`` for any failure (one answer, same work)."""
    try:
        address = normalise_email(email)
    except InvalidInputError:
        _verify(password, None)
        return None
    user = UserRepository(session).by_email(address)
    ok, rehashed = _verify(password, user.password_hash if user is not None else None)
    if user is None or not ok or user.status != "active":
        return None
    if rehashed is not None:  # the hasher's parameters changed since this hash was made
        user.password_hash = rehashed
    return user


def change_password(session: Session, principal: Principal, *, current: str, new: str) -> User:
    """Change the signed-in person's password; every session of theirs ends (the caller starts a new one).

    Raises:
        InvalidInputError: the current password is wrong (field ``current_password``) or the new one may not
            be chosen (field ``password``).
    """
    user = _signed_in_user(session, principal)
    ok, _ = _verify(current, user.password_hash)
    if not ok:
        raise InvalidInputError("the current password is not right", field="current_password")
    set_password(session, user, new)
    return user


def update_profile(session: Session, principal: Principal, *, name: str, locale: str | None) -> User:
    """Change the signed-in person's display name and language.

    Raises:
        InvalidInputError: an empty or taken name (field ``name``), an unknown language (field ``locale``).
    """
    user = _signed_in_user(session, principal)
    name = _clean_name(name)
    other = UserRepository(session).by_name(name)
    if other is not None and other.id != user.id:
        raise _name_taken(name)
    user.name = name
    user.locale = locale
    return user


def _signed_in_user(session: Session, principal: Principal) -> User:
    access.require_signed_in(principal)
    user = UserRepository(session).get(principal.user_id) if principal.user_id is not None else None
    if user is None:
        raise NotFoundError("no such user")
    return user


def _name_taken(name: str) -> InvalidInputError:
    # People's names are not unique, but a user's name is (the CLI finds users by it).
    return InvalidInputError(f"another account is named {name!r}; add a detail to tell them apart", field="name")


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInputError("give a name", field="name")
    if len(cleaned) > NAME_LEN:
        raise InvalidInputError(f"a name has at most {NAME_LEN} characters", field="name")
    return cleaned


# ---------------------------------------------------------------------------------- e-mailed links


@dataclass(frozen=True, slots=True)
class Link:
    """An e-mailed link to send: ``token`` goes into the URL (never stored), to ``user``'s address."""

    token: str
    purpose: Purpose
    expires_at: dt.datetime
    email: str
    name: str
    locale: str | None


def issue_link(session: Session, user: User, purpose: Purpose, *, now: dt.datetime | None = None) -> Link:
    """A new single-use link for ``user``; the older unused links of the same purpose stop working."""
    assert user.email is not None
    now = now or utcnow()
    tokens = AccountTokenRepository(session)
    for older in tokens.unused(user.id, purpose):
        older.used_at = now
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    expires_at = now + LINK_LIFETIMES[purpose]
    tokens.add(AccountToken(id=token_digest(token), user_id=user.id, purpose=purpose, expires_at=expires_at))
    return Link(token, purpose, expires_at, user.email, user.name, user.locale)


def valid_link(session: Session, token: str, *, now: dt.datetime | None = None) -> AccountToken | None:
    """The unused, unexpired link of an active person this token opens, or ``None``."""
    if not token or len(token) > _MAX_TOKEN_LEN:
        return None
    row = AccountTokenRepository(session).get(token_digest(token))
    if row is None or row.used_at is not None or row.user.status != "active":
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    return row if expires > (now or utcnow()) else None


def use_link(session: Session, token: str, password: str, *, now: dt.datetime | None = None) -> User:
    """Choose a password through a link (reset or invitation): the link is spent, every session ends.

    Raises:
        NotFoundError: the link is unknown, used, expired, or its person may not sign in.
        InvalidInputError: the password may not be chosen (field ``password``; the link stays usable).
    """
    row = valid_link(session, token, now=now)
    if row is None:
        raise NotFoundError("this link does not work (used, expired or unknown)")
    set_password(session, row.user, password)
    row.used_at = now or utcnow()
    return row.user


def request_reset(session: Session, email: str, *, now: dt.datetime | None = None) -> Link | None:
    """A reset link for the active person with this address, or ``None`` (the caller answers the same)."""
    try:
        address = normalise_email(email)
    except InvalidInputError:
        return None
    user = UserRepository(session).by_email(address)
    if user is None or user.status != "active":
        return None
    return issue_link(session, user, "reset", now=now)


# ------------------------------------------------------------------------------------ invitations


def invite(
    session: Session,
    principal: Principal,
    *,
    email: str,
    name: str,
    role: Literal["party", "provider"],
    country: str | None = None,
    organisation_id: int | None = None,
    locale: str | None = None,
) -> Link:
    """The secretariat invites a Party's focal point (for ``country``) or a provider (for an organisation).

    The person exists at once, without a password; the link lets them choose one and sign in.

    Raises:
        PermissionDeniedError: the caller is not the secretariat.
        InvalidInputError: a bad address, name, country or organisation.
        ConflictError: the address has an account already (the secretariat may know it).
    """
    access.check_staff(principal, "invite people")
    address = normalise_email(email)
    users = UserRepository(session)
    if users.by_email(address) is not None:
        raise ConflictError(f"{address} has an account already")
    name = _clean_name(name)
    if users.by_name(name) is not None:
        raise _name_taken(name)
    audit.act_as(session, principal, note="invitation")
    user = create_user(session, name=name, role=role, country=country, organisation_id=organisation_id)
    user.email = address
    user.locale = locale
    return issue_link(session, user, "invitation")


def invitation_organisations(session: Session, principal: Principal) -> list[Organisation]:
    """The organisations a provider may be invited for, by name (the secretariat's)."""
    access.check_staff(principal, "invite people")
    return OrganisationRepository(session).by_name_order(limit=MAX_ORGANISATIONS)


# ---------------------------------------------------------------------------------- registrations


@dataclass(frozen=True, slots=True)
class Registration:
    """The outcome of a registration form: a new pending person, or a note for an address that has an account
    (``existing``: the person is e-mailed, and the page answers the same either way)."""

    email: str
    name: str
    locale: str | None
    existing: bool


def register_provider(
    session: Session,
    *,
    organisation: str,
    org_type: str,
    country: str,
    website: str | None,
    name: str,
    email: str,
    locale: str | None,
) -> Registration:
    """An organisation registers a provider contact, pending the secretariat's approval.

    An organisation already known by (name, country) is joined rather than duplicated; the secretariat sees
    which when it approves.

    Raises:
        InvalidInputError: a bad field (``organisation``, ``org_type``, ``country``, ``website``, ``name``,
            ``email``).
    """
    address = normalise_email(email)
    org_name = _clean_name(organisation)
    try:
        org_type = vocab.parse_organisation_type(org_type)
    except UnknownTermError as exc:
        raise InvalidInputError(str(exc), field="org_type") from exc
    try:
        country = vocab.parse_country(country)
    except UnknownTermError as exc:
        raise InvalidInputError(str(exc), field="country") from exc
    website = (website or "").strip() or None
    if website is not None and (len(website) > URL_LEN or not website.startswith(("https://", "http://"))):
        raise InvalidInputError("a website is an address starting with https://", field="website")
    person = _clean_name(name)
    users = UserRepository(session)
    existing = users.by_email(address)
    if existing is not None:
        return Registration(address, existing.name, existing.locale, existing=True)
    if users.by_name(person) is not None:
        raise _name_taken(person)
    audit.act_as(session, ANONYMOUS, note="provider registration")
    organisations = OrganisationRepository(session)
    org = organisations.find(org_name, country) or organisations.add(
        Organisation(name=org_name, org_type=org_type, country=country, website=website)
    )
    user = create_user(session, name=person, role="provider", organisation_id=org.id)
    user.email = address
    user.locale = locale
    user.status = "pending"
    return Registration(address, person, locale, existing=False)


@dataclass(frozen=True, slots=True)
class PendingRegistration:
    """A registration awaiting the secretariat, with what it needs to decide."""

    user: User
    organisation: Organisation
    other_people: int
    offers: int


def pending_registrations(session: Session, principal: Principal) -> list[PendingRegistration]:
    """Registrations awaiting approval, oldest first (the secretariat's)."""
    access.check_staff(principal, "review registrations")
    users = UserRepository(session)
    organisations = OrganisationRepository(session)
    found = []
    for user in users.pending():
        org = user.organisation
        if org is None:  # pending for another reason (made so by an operator): not a registration
            continue
        others = users.count_in_organisation(org.id) - 1
        found.append(PendingRegistration(user, org, others, organisations.offer_count(org.id)))
    return found


def _pending(session: Session, user_id: int) -> User:
    user = UserRepository(session).get(user_id)
    if user is None or user.status != "pending":
        raise NotFoundError(f"no pending registration with id {user_id}")
    return user


def approve_registration(session: Session, principal: Principal, user_id: int) -> Link:
    """Let a registered provider in: they are e-mailed a link to choose their password."""
    access.check_staff(principal, "approve registrations")
    user = _pending(session, user_id)
    user.status = "active"
    return issue_link(session, user, "invitation")


def reject_registration(session: Session, principal: Principal, user_id: int) -> Registration:
    """Turn a registration down: the pending person is deleted, and their organisation when nothing else uses
    it; returns whom to tell."""
    access.check_staff(principal, "reject registrations")
    user = _pending(session, user_id)
    told = Registration(user.email or "", user.name, user.locale, existing=False)
    org_id = user.organisation_id
    users = UserRepository(session)
    audit.act_as(session, principal, note="registration rejected")
    users.delete(user)
    if org_id is not None:
        organisations = OrganisationRepository(session)
        org = organisations.get(org_id)
        if org is not None and users.count_in_organisation(org_id) == 0 and organisations.offer_count(org_id) == 0:
            organisations.delete(org)
    return told


# ------------------------------------------------------------------------------------ own API keys


def own_keys(session: Session, principal: Principal) -> list[ApiKey]:
    """The signed-in person's API keys, revoked ones included, oldest first."""
    access.require_signed_in(principal)
    assert principal.user_id is not None
    return UserRepository(session).keys(principal.user_id)


def create_own_key(session: Session, principal: Principal, *, label: str | None) -> IssuedKey:
    """A new API key for the signed-in person (the secret is returned once)."""
    user = _signed_in_user(session, principal)
    label = " ".join((label or "").split())[:NAME_LEN] or None
    return issue_key(session, user, label=label)


def revoke_own_key(session: Session, principal: Principal, key_id: str) -> ApiKey:
    """Revoke one of the signed-in person's keys (another person's key is not found)."""
    access.require_signed_in(principal)
    key = access.check_own_key(principal, UserRepository(session).key(key_id), key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
