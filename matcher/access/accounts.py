"""Users and API keys: creation, revocation and authentication.

A key reads ``pk_<key id>_<secret>``. The key id (16 hex characters) is public: it finds the key's row and
appears in logs and rate-limit buckets. The secret (43 URL-safe characters, 256 bits) is shown once, when the key
is made; only its argon2id hash (pwdlib) is stored.

Verifying an argon2 hash costs about 0.15 s of CPU on purpose, far too much for every request, so a process
remembers the SHA-256 digest of each key it has verified (in memory only, bounded). Every request still reads the
key's row, so revoking a key takes effect on the next request in every worker.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from matcher.access.rules import Principal
from matcher.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError, UnknownTermError
from models import vocabularies as vocab
from models.orm import ROLES, ApiKey, User, utcnow
from models.repositories import OrganisationRepository, UserRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

KEY_PREFIX = "pk_"
_HASHER = PasswordHash((Argon2Hasher(),))
_VERIFIED_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``secret`` is the whole key, to show once."""

    key_id: str
    secret: str
    user_id: int


def create_user(
    session: Session,
    *,
    name: str,
    role: str,
    country: str | None = None,
    organisation_id: int | None = None,
) -> User:
    """A new user; a Party acts for one country, a provider for one organisation, staff for everyone.

    Raises:
        InvalidInputError: unknown role or country, missing or superfluous country/organisation.
        NotFoundError: no such organisation.
        ConflictError: the name is taken.
    """
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    if role == "party":
        if not country:
            raise InvalidInputError("a party user acts for a country: give --country ISO3", field="country")
        try:
            country = vocab.parse_country(country)
        except UnknownTermError as exc:
            raise InvalidInputError(str(exc), field="country") from exc
    elif country:
        raise InvalidInputError(f"a {role} user does not act for a country", field="country")
    if role == "provider":
        if organisation_id is None:
            raise InvalidInputError(
                "a provider user acts for an organisation: give --organisation", field="organisation"
            )
        if OrganisationRepository(session).get(organisation_id) is None:
            raise NotFoundError(f"no organisation with id {organisation_id}")
    elif organisation_id is not None:
        raise InvalidInputError(f"a {role} user does not act for an organisation", field="organisation")
    users = UserRepository(session)
    if users.by_name(name) is not None:
        raise ConflictError(f"a user named {name!r} exists already")
    return users.add(User(name=name, role=role, country=country, organisation_id=organisation_id))


def issue_key(session: Session, user: User, *, label: str | None = None) -> IssuedKey:
    """A new API key for ``user`` (the secret is returned once and never stored)."""
    key_id = secrets.token_hex(8)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    UserRepository(session).add_key(
        ApiKey(key_id=key_id, secret_hash=_HASHER.hash(secret), user_id=user.id, label=label)
    )
    return IssuedKey(key_id=key_id, secret=secret, user_id=user.id)


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key (idempotent); the next request with it is refused in every worker."""
    key = UserRepository(session).key(key_id)
    if key is None:
        raise NotFoundError(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def principal_of(user: User, key_id: str | None = None) -> Principal:
    """The caller a user acts as."""
    return Principal(
        role=user.role,  # type: ignore[arg-type]
        user_id=user.id,
        country=user.country,
        organisation_id=user.organisation_id,
        key_id=key_id,
    )


class KeyVerifier:
    """Checks presented API keys (see the module docstring for the in-memory cache of verified keys)."""

    def __init__(self) -> None:
        self._verified: OrderedDict[str, str] = OrderedDict()  # sha256(key) -> key id
        self._lock = threading.Lock()

    def authenticate(self, session: Session, presented: str) -> Principal:
        """The principal of a valid, unrevoked key.

        Raises:
            AuthenticationError: malformed, unknown, revoked or wrong key, or a key whose user is pending or
                disabled (one message for all, so that a caller cannot probe which key ids exist).
        """
        refused = AuthenticationError("invalid or revoked API key")
        key_id = _key_id(presented)
        if key_id is None:
            raise refused
        key = UserRepository(session).key(key_id)
        # A person awaiting approval, or disabled, may not use the API either (checked on every request, so
        # disabling someone takes effect at once, whatever the cache of verified keys holds).
        if key is None or key.revoked_at is not None or key.user.status != "active":
            raise refused
        digest = hashlib.sha256(presented.encode()).hexdigest()
        with self._lock:
            known = self._verified.get(digest)
            if known is not None:
                self._verified.move_to_end(digest)
        if known is None or not hmac.compare_digest(known, key_id):
            if not _HASHER.verify(presented, key.secret_hash):
                raise refused
            with self._lock:
                self._verified[digest] = key_id
                while len(self._verified) > _VERIFIED_LIMIT:
                    self._verified.popitem(last=False)
        return principal_of(key.user, key_id)


def _key_id(presented: str) -> str | None:
    if not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        return None
    key_id, sep, secret = presented.removeprefix(KEY_PREFIX).partition("_")
    if not sep or len(key_id) != 16 or not secret:
        return None
    try:
        int(key_id, 16)
    except ValueError:
        return None
    return key_id
