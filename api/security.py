"""Who is calling (API keys), how often (rate limits) and whether a POST was seen before (idempotency).

- **API keys** travel as ``Authorization: Bearer pk_...``. A missing header makes the caller anonymous (routes
  decide what anonymous callers may do); a present but invalid or revoked key is refused with 401 everywhere.
- **Rate limits**: a moving window per API key (per client address when anonymous) and per worker process, one
  budget for writes and one for matching (settings ``POLLINATE_API__WRITE_RATE`` / ``MATCH_RATE``). Refusals
  answer 429 with ``Retry-After``. With several workers the effective limit is that many times higher. The
  client address is the connection's, or the one ``X-Forwarded-For`` gives when the connection comes from a
  proxy in ``POLLINATE_API__TRUSTED_PROXIES`` (uvicorn resolves it, as ``pollinate serve`` configures it).
- **Idempotency-Key** on POST: the first response is stored with a hash of the request (method, path, body) in
  the same transaction as the effect; the same key and request replays it, the same key with another request is
  refused with 422. Keys are scoped per user and forgotten after ``POLLINATE_API__IDEMPOTENCY_HOURS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import limits
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import DatabaseDep
from matcher.access.accounts import KeyVerifier
from matcher.access.rules import ANONYMOUS, Principal, require_signed_in
from matcher.errors import AuthenticationError, InvalidInputError, PreconditionRequiredError, RateLimitedError
from matcher.records.interchange import Text
from matcher.settings import ApiSettings
from models.db import Database
from models.orm import IdempotencyRecord, utcnow
from models.repositories import IdempotencyRepository

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer pk_...`")


def get_principal(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller: anonymous without a key, else the key's user (401 for a bad or revoked key)."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise AuthenticationError("send the API key as 'Authorization: Bearer <key>'")
        return ANONYMOUS
    verifier = request.app.state.key_verifier
    assert isinstance(verifier, KeyVerifier)
    with db.transaction(read_only=True) as session:
        principal = verifier.authenticate(session, credentials.credentials)
    request.state.principal = principal  # for the request log (role and key id, never the secret)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_signed_in(principal: PrincipalDep) -> Principal:
    """The caller, who must have an API key (401 before the body is even validated)."""
    require_signed_in(principal)
    return principal


SignedInDep = Annotated[Principal, Depends(get_signed_in)]


class RateLimits:
    """Moving-window limits per caller and kind of request, in this process."""

    def __init__(self, settings: ApiSettings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items = {
            "write": limits.parse(settings.write_rate),
            "match": limits.parse(settings.match_rate),
            "anonymous": limits.parse(settings.anonymous_rate),
        }

    def hit(self, kind: str, caller: str) -> None:
        item = self._items[kind]
        if not self._limiter.hit(item, kind, caller):
            reset = self._limiter.get_window_stats(item, kind, caller).reset_time
            retry = max(1, int(reset - time.time()) + 1)
            raise RateLimitedError(
                f"too many {kind} requests for this key ({item}); retry in {retry} s", retry_after=retry
            )


def _caller(request: Request, principal: Principal) -> str:
    if principal.key_id:
        return f"key:{principal.key_id}"
    return f"addr:{request.client.host if request.client else 'unknown'}"


def rate_limited(*kinds: str) -> Callable[..., None]:
    """A dependency that counts the request against each of ``kinds`` for its caller."""

    def dependency(request: Request, principal: PrincipalDep) -> None:
        limiter = request.app.state.rate_limits
        assert isinstance(limiter, RateLimits)
        caller = _caller(request, principal)
        for kind in kinds:
            limiter.hit(kind, caller)

    return dependency


def every_request(request: Request, principal: PrincipalDep) -> None:
    """On every /v1 route: the key, if any, is checked (401 when invalid or revoked), and anonymous callers
    share the anonymous budget of their address."""
    if principal.is_anonymous:
        limiter = request.app.state.rate_limits
        assert isinstance(limiter, RateLimits)
        limiter.hit("anonymous", _caller(request, principal))


# ----------------------------------------------------------------------------------------- idempotency


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    """An ``Idempotency-Key`` and the fingerprint of the request that carried it (``key`` None: no header)."""

    key: str | None
    method: str
    path: str
    fingerprint: str


async def idempotency_request(
    request: Request,
    idempotency_key: Annotated[
        Annotated[str, Text(max_length=255, min_visible=1)] | None,
        Header(description="Replay protection: the same key and request return the first response."),
    ] = None,
) -> IdempotencyRequest:
    body = await request.body()
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), request.url.query.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return IdempotencyRequest(idempotency_key, request.method, request.url.path, digest.hexdigest())


IdempotencyDep = Annotated[IdempotencyRequest, Depends(idempotency_request)]


def _replay(record: IdempotencyRecord, request: IdempotencyRequest) -> JSONResponse:
    if record.request_hash != request.fingerprint:
        raise InvalidInputError(
            f"Idempotency-Key {request.key!r} was already used for a different request; use a new key",
            field="Idempotency-Key",
        )
    headers = {**record.response_headers, "Idempotent-Replayed": "true"}
    return JSONResponse(json.loads(record.response_body), status_code=record.status_code, headers=headers)


def replay(db: Database, hours: int, principal: Principal, request: IdempotencyRequest) -> JSONResponse | None:
    """The stored response when this key was seen (within ``hours``) with this request; 422 with another."""
    if request.key is None or principal.user_id is None:
        return None
    cutoff = utcnow() - dt.timedelta(hours=hours)
    with db.transaction(read_only=True) as session:
        seen = IdempotencyRepository(session).get(principal.user_id, request.key)
        if seen is not None and _aware(seen.created_at) >= cutoff:
            return _replay(seen, request)
    return None


def idempotent(
    db: Database,
    hours: int,
    principal: Principal,
    request: IdempotencyRequest,
    work: Callable[[Session], tuple[int, Any, dict[str, str]]],
) -> JSONResponse:
    """Run ``work`` in a write transaction once per idempotency key.

    ``work(session)`` returns (status, JSON-able body, headers); with a key, the response is stored in the same
    transaction, so a crash cannot keep the effect and lose the response (or the other way round). A concurrent
    request with the same key loses the race on the record's primary key and replays the winner's response.
    """
    if request.key is None or principal.user_id is None:
        with db.transaction() as session:
            status, body, headers = work(session)
        return JSONResponse(body, status_code=status, headers=headers)
    seen_before = replay(db, hours, principal, request)
    if seen_before is not None:
        return seen_before
    cutoff = utcnow() - dt.timedelta(hours=hours)
    try:
        with db.transaction() as session:
            repo = IdempotencyRepository(session)
            # Expired records of this user go (so storage stays bounded and an expired key may be reused).
            repo.purge_before(principal.user_id, cutoff)
            if repo.get(principal.user_id, request.key) is not None:  # committed since our first look
                raise _SeenMeanwhile
            status, body, headers = work(session)
            repo.add(
                IdempotencyRecord(
                    user_id=principal.user_id,
                    key=request.key,
                    method=request.method,
                    path=request.path,
                    request_hash=request.fingerprint,
                    status_code=status,
                    response_body=json.dumps(body),
                    response_headers=headers,
                )
            )
    except (IntegrityError, _SeenMeanwhile):
        with db.transaction(read_only=True) as session:
            seen = IdempotencyRepository(session).get(principal.user_id, request.key)
            if seen is None:
                raise
            return _replay(seen, request)
    return JSONResponse(body, status_code=status, headers=headers)


class _SeenMeanwhile(Exception):  # noqa: N818 - control flow, never leaves this module
    """Another request with the same key committed between our first look and our write transaction."""


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes (stored as UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# An ETag of this API: a record's version in quotes (``"3"``, weak ``W/"3"``, or bare ``3``), or ``*``. ASCII
# digits only: ``str.isdigit`` also accepts superscripts such as "²", which ``int`` refuses (that was a 500).
ETAG_PATTERN = r'^(?:\*|(?:W/)?"[0-9]{1,10}"|[0-9]{1,10})$'
_ETAG = re.compile(ETAG_PATTERN)
IF_MATCH_REQUIRED = "send If-Match with the ETag of the version you are changing (from GET or the last write)"


def if_match_version(if_match: str | None, *, required: bool) -> int | None:
    """The version an ``If-Match`` header names (``None`` for ``*`` or, when not required, no header).

    Raises:
        PreconditionRequiredError: no header where one is required.
        InvalidInputError: a header that is not an ETag of this API.
    """
    if if_match is None:
        if required:
            raise PreconditionRequiredError(IF_MATCH_REQUIRED)
        return None
    if _ETAG.fullmatch(if_match.strip()) is None:
        raise InvalidInputError(f'If-Match {if_match!r} is not an ETag of this API (like "3")', field="If-Match")
    digits = if_match.strip().removeprefix("W/").strip('"')
    return None if digits == "*" else int(digits)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 in the API's error shape: at once when
    ``Content-Length`` says so, else as soon as a streamed body grows past it (raised inside the app, where the
    error handlers turn it into the same response)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"the request body is larger than {self.max_bytes:,} bytes"
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse({"error": "too_large", "detail": too_large}, status_code=413)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise StarletteHTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)
