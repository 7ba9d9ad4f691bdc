"""Pollinate's error tree. Every error says what was wrong and how to fix it.

```
Exception
├── PollinateError                      base of everything Pollinate raises on purpose
│   ├── InvalidInputError               bad input from a user or a file (HTTP 422)
│   │   └── OutboundTargetError         an outbound URL (webhook, connector source) that is not https or
│   │       │                           reaches a private address
│   │       └── WebhookTargetError      ... given as a webhook URL
│   ├── NotFoundError                   no such record, or none the caller may see (HTTP 404)
│   ├── ConflictError                   the record exists already or is still in use (HTTP 409)
│   │   └── StaleVersionError           the record changed since the version the caller saw (HTTP 412)
│   ├── PreconditionRequiredError       an update without the version it applies to (HTTP 428)
│   ├── AuthenticationError             no valid API key where one is required (HTTP 401)
│   ├── PermissionDeniedError           the caller's role may not do this to this record (HTTP 403)
│   ├── RateLimitedError                too many requests for this key; retry later (HTTP 429)
│   ├── NotReadyError                   the service cannot serve yet: schema, model or index (HTTP 503)
│   │   └── ServiceBusyError            too many requests waiting for the model; retry later (503 + Retry-After)
│   ├── DeliveryError                   a webhook or e-mail delivery failed (worker only; ``retryable``)
│   └── HarvestError                    a connector run failed: its source answered badly or not at all
│                                       (HTTP 502); nothing of the run was written
├── ValueError
│   └── models.vocabularies.UnknownTermError
│                                       a value outside a controlled vocabulary, with the closest valid
│                                       values (raised by the data layer, which imports nothing of ours;
│                                       inside input models it surfaces as a validation error)
└── RuntimeError
    └── models.orm.AppendOnlyError      a change or deletion of an audit event (always a bug: the audit
                                        log is append-only; HTTP 500)
```
"""

from __future__ import annotations

from models.orm import AppendOnlyError
from models.vocabularies import UnknownTermError

__all__ = [
    "AppendOnlyError",
    "AuthenticationError",
    "ConflictError",
    "DeliveryError",
    "HarvestError",
    "InvalidInputError",
    "NotFoundError",
    "NotReadyError",
    "OutboundTargetError",
    "PermissionDeniedError",
    "PollinateError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "ServiceBusyError",
    "StaleVersionError",
    "UnknownTermError",
    "WebhookTargetError",
]


class PollinateError(Exception):
    """Base of every error Pollinate raises on purpose."""


class InvalidInputError(PollinateError):
    """Bad input from a user or a file; ``field`` names the offending field when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(PollinateError):
    """No such record."""


class ConflictError(PollinateError):
    """The record changed since it was read, or exists already."""


class StaleVersionError(ConflictError):
    """The record changed since the version the caller based its update on."""


class PreconditionRequiredError(PollinateError):
    """An update that does not say which version of the record it applies to."""


class AuthenticationError(PollinateError):
    """No valid API key where one is required."""


class PermissionDeniedError(PollinateError):
    """The caller may see the record but its role does not allow this action on it."""


class RateLimitedError(PollinateError):
    """Too many requests for one API key; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotReadyError(PollinateError):
    """The service cannot serve yet (database schema, model or index not ready)."""


class OutboundTargetError(InvalidInputError):
    """An outbound URL that may not be called: not https, unresolvable, or on a non-public address."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)


class WebhookTargetError(OutboundTargetError):
    """A webhook target that may not be called: not https, unresolvable, or on a non-public address."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="webhook_url")


class HarvestError(PollinateError):
    """A connector run failed (its source was unreachable, answered an error, or sent what cannot be read);
    the run wrote nothing."""


class DeliveryError(PollinateError):
    """A webhook or e-mail delivery failed; ``retryable`` is False when retrying cannot help."""

    def __init__(self, message: str, *, retryable: bool = True, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


class ServiceBusyError(NotReadyError):
    """Too many requests are waiting for the embedding model; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
