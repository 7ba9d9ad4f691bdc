"""Webhook delivery: checking targets against SSRF, signing with Standard Webhooks, and posting.

A webhook URL is chosen by a subscriber, so the server must not let it reach anything a stranger should not:
loopback services, the private network, or the cloud metadata service at 169.254.169.254. ``check_target``
parses the URL with the same parser that sends the request (httpx), resolves the host the way the operating
system would (``getaddrinfo``, so odd numeric spellings such as ``2130706433`` or ``127.1`` are judged by the
address they really mean), and refuses the target if *any* address is not a public internet address.

The check itself is :func:`matcher.access.outbound.check_url`, shared with the connectors. ``send_webhook``
repeats it at every delivery (DNS answers change) and then connects to one of the addresses it has just
checked rather than to the host name: the URL's host is replaced by the address, while the ``Host`` header
and, for https, the TLS server name (SNI and certificate check) stay the original host. A DNS answer that
changes between the check and the connection (DNS rebinding) therefore cannot redirect the
request. Redirects are never followed: a ``Location`` is reported back to the subscriber instead.

Every failure becomes a :class:`~matcher.errors.DeliveryError` whose ``retryable`` flag tells the delivery
worker whether trying again can help. The signing secret never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import standardwebhooks
from standardwebhooks.webhooks import EmptyWebhookSecretError

from matcher.access.outbound import (
    MAX_URL_LENGTH,
    OutboundPolicy,
    OutboundTarget,
    check_url,
    connectable_url,
    host_header,
    printable,
    shown,
    system_resolve,
    transient,
)
from matcher.errors import DeliveryError, WebhookTargetError
from matcher.settings import NotificationSettings

__all__ = [
    "MAX_URL_LENGTH",
    "USER_AGENT",
    "WebhookPolicy",
    "WebhookTarget",
    "check_target",
    "new_secret",
    "send_webhook",
    "signed_headers",
    "system_resolve",
]

USER_AGENT = "Pollinate-Webhooks/1"
# Only the start of a response is read: enough to quote an error to the subscriber, too little for a hostile
# receiver to exhaust memory.
_MAX_RESPONSE_BYTES = 64 * 1024
_EXCERPT_CHARS = 200
_SECRET_PREFIX = "whsec_"  # noqa: S105 -- the format's prefix, not a secret
_SECRET_BYTES = 24
# The same id shape as e-mail deliveries: safe in every header and unambiguous in the signed content
# "{id}.{timestamp}.{body}".
_DELIVERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}")
_PUBLIC_ONLY = "webhooks can only be delivered to public internet addresses"


@dataclass(frozen=True, slots=True)
class WebhookPolicy(OutboundPolicy):
    """Which webhook targets may be called, and how long a delivery may take (see
    :class:`~matcher.access.outbound.OutboundPolicy`: ``allow_http``, ``allow_private``, ``timeout_s``,
    ``resolve``)."""

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> WebhookPolicy:
        """The policy configured in the notification settings, with the system resolver."""
        return cls(
            allow_http=settings.webhook_allow_http,
            allow_private=settings.webhook_allow_private,
            timeout_s=settings.webhook_timeout_s,
        )


WebhookTarget = OutboundTarget


def check_target(url: str, policy: OutboundPolicy) -> WebhookTarget:
    """Check that ``url`` may be called as a webhook under ``policy``, resolving its host
    (:func:`~matcher.access.outbound.check_url`).

    Raises:
        WebhookTargetError: the URL is malformed, too long, not https (unless allowed), carries credentials,
            has a bad port, does not resolve, or any of its addresses is not a public internet address
            (unless the policy allows private targets).
    """
    return check_url(
        url,
        policy,
        noun="webhook",
        public_only=_PUBLIC_ONLY,
        userinfo_hint="authenticate the request by checking the webhook-signature header instead",
        error=WebhookTargetError,
    )


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and the base64 of 24 random bytes."""
    return _SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def signed_headers(secret: str, *, delivery_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers that let a receiver check a delivery came from us, unaltered.

    Args:
        secret: the subscription's ``whsec_...`` secret.
        delivery_id: the delivery's id, the same for every retry (receivers use it to drop duplicates).
        timestamp: when the delivery is sent; must be timezone-aware.
        body: the exact JSON text sent as the request body.

    Returns:
        ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,<base64>``).

    Raises:
        ValueError: the secret is not a ``whsec_`` base64 secret, the id is not a plain token, or the
            timestamp is naive.
    """
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise ValueError(
            f"delivery id {delivery_id[:40]!r} must be 1-200 letters, digits or ._+=- "
            "starting with a letter or digit"
        )
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("webhook timestamps must be timezone-aware (use datetime.now(UTC))")
    # standardwebhooks replaces the tzinfo with UTC instead of converting, so convert first.
    moment = timestamp.astimezone(UTC)
    try:
        signer = standardwebhooks.Webhook(secret)
    except (binascii.Error, EmptyWebhookSecretError, ValueError):
        # ``from None``: the secret must not travel in the traceback's exception chain either.
        raise ValueError("the webhook secret is not a whsec_ base64 secret; rotate it") from None
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": signer.sign(delivery_id, moment, body),
    }


def send_webhook(
    url: str,
    *,
    secret: str,
    delivery_id: str,
    body: str,
    policy: WebhookPolicy,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> int:
    """POST one signed delivery to a webhook target, connecting only to addresses checked just now.

    The target is checked again (:func:`check_target`) and the request goes to one of its checked addresses
    with the original ``Host`` header and TLS server name; if connecting to one address fails, the next is
    tried. Redirects are never followed, TLS certificates are verified, and at most 64 KiB of the response
    is read.

    Args:
        url: the subscriber's webhook URL.
        secret: the subscription's signing secret.
        delivery_id: the delivery's id (``webhook-id``), the same for every retry.
        body: the JSON text to send.
        policy: which targets are allowed, and the timeout.
        client: an httpx client to send with (its transport and TLS settings are used; redirects are off
            whatever it says). Its connection pool must not be shared with code that trusts the pinned
            addresses' identity, and it must speak HTTP/1.1, because every request asks for
            ``Connection: close``. Default: a fresh client that ignores proxy and certificate environment
            variables.
        now: the signing time (default: the current time, UTC).

    Returns:
        The receiver's 2xx status code.

    Raises:
        DeliveryError: the delivery failed. ``retryable`` is False when the target is refused, answers with a
            redirect or a 4xx other than 408 and 429, or the secret or id cannot be signed; it is True for
            408, 429, 5xx, timeouts, transient DNS failures and connection or TLS errors. ``status_code`` is
            the receiver's status when it answered.
    """
    try:
        target = check_target(url, policy)
    except WebhookTargetError as exc:
        raise DeliveryError(f"{exc}; the delivery was not attempted", retryable=transient(exc)) from exc
    try:
        signature = signed_headers(secret, delivery_id=delivery_id, timestamp=now or datetime.now(UTC), body=body)
    except ValueError as exc:
        raise DeliveryError(f"cannot sign the delivery to {target.url}: {exc}", retryable=False) from exc
    headers = {
        "Host": host_header(target),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        # Raw bytes only: a compressed error page could expand far beyond the read limit.
        "Accept-Encoding": "identity",
        # Connections are pooled by address, so a kept-alive TLS connection verified for one host name could
        # otherwise carry a later delivery to another host name served from the same address.
        "Connection": "close",
        **signature,
    }
    own_client = client is None
    # trust_env=False: a proxy from the environment would make the connection, not us, defeating the pinning.
    http = client if client is not None else httpx.Client(trust_env=False)
    try:
        failure: DeliveryError | None = None
        for address in target.addresses:
            try:
                return _post(http, target, address, headers=headers, content=body.encode("utf-8"), policy=policy)
            except httpx.ConnectError as exc:
                # Nothing was sent: the next address (another IP family, another server) may work.
                failure = _connect_failure(target, address, exc)
        assert failure is not None  # check_target never returns a target without addresses
        raise failure
    finally:
        if own_client:
            http.close()


def _post(
    http: httpx.Client,
    target: WebhookTarget,
    address: str,
    *,
    headers: dict[str, str],
    content: bytes,
    policy: WebhookPolicy,
) -> int:
    """One POST to one checked address; ``httpx.ConnectError`` is left to the caller to try the next one."""
    pinned = connectable_url(target, address)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    deadline = time.monotonic() + policy.timeout_s
    try:
        with http.stream(
            "POST",
            pinned,
            content=content,
            headers=headers,
            timeout=policy.timeout_s,
            follow_redirects=False,
            extensions=extensions,
        ) as response:
            if response.is_success:
                return response.status_code
            excerpt = _excerpt(response, deadline=deadline)
    except httpx.ConnectError:
        raise
    except httpx.TimeoutException as exc:
        raise DeliveryError(
            f"webhook {shown(target.url)} did not answer within {policy.timeout_s:g} s "
            f"({type(exc).__name__}); make the receiver answer quickly and do slow work after responding",
            retryable=True,
        ) from exc
    except httpx.TransportError as exc:
        raise DeliveryError(
            f"delivery to webhook {shown(target.url)} failed: {type(exc).__name__}: {printable(str(exc))}",
            retryable=True,
        ) from exc
    raise _status_failure(target, response, excerpt)


def _status_failure(target: WebhookTarget, response: httpx.Response, excerpt: str) -> DeliveryError:
    """The error for a non-2xx answer, with what the subscriber should change."""
    status = response.status_code
    answered = f"webhook {shown(target.url)} answered {status} {response.reason_phrase}".rstrip()
    said = f": {excerpt}" if excerpt else ""
    if response.is_redirect or 300 <= status < 400:
        location = response.headers.get("location")
        where = f"with Location {printable(location)}" if location else "without a Location"
        return DeliveryError(
            f"redirects are not followed: {shown(target.url)} answered {status} {where}; "
            "set the webhook URL to the address that accepts the POST",
            retryable=False,
            status_code=status,
        )
    if status in (408, 429) or status >= 500:
        retry_after = response.headers.get("retry-after")
        later = f" (Retry-After: {printable(retry_after, limit=40)})" if retry_after else ""
        return DeliveryError(f"{answered}{later}{said}", retryable=True, status_code=status)
    if 400 <= status < 500:
        return DeliveryError(
            f"{answered}{said}; the receiver refused the delivery, so it will not be retried: check the URL "
            "and that the receiver accepts this signature",
            retryable=False,
            status_code=status,
        )
    return DeliveryError(f"{answered}{said}; expected a 2xx status", retryable=False, status_code=status)


def _connect_failure(target: WebhookTarget, address: str, exc: httpx.ConnectError) -> DeliveryError:
    """The error for a connection that could not be made, naming a TLS problem as such."""
    tls = _tls_cause(exc)
    if tls is not None:
        return DeliveryError(
            f"TLS with webhook {shown(target.url)} at {address} failed ({printable(str(tls))}); the "
            f"receiver needs a valid certificate for {target.host} from a public certificate authority",
            retryable=True,
        )
    return DeliveryError(
        f"could not connect to webhook {shown(target.url)} at {address} port {target.port}: "
        f"{printable(str(exc)) or type(exc).__name__}",
        retryable=True,
    )


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` behind an httpx error, if any (httpx chains httpcore's error, which chains it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _excerpt(response: httpx.Response, *, deadline: float) -> str:
    """The start of the response body as one printable line (empty when there is none or it cannot be read)."""
    data = bytearray()
    try:
        for chunk in response.iter_raw():
            data += chunk
            # A receiver dripping bytes must not hold the worker beyond the delivery's time budget.
            if len(data) >= _MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass  # the status already says what happened; the body is only a courtesy
    return printable(bytes(data[: _EXCERPT_CHARS * 4]).decode("utf-8", errors="replace"))
