"""Pollinate's error tree. Every error says what was wrong and how to fix it.

```
Exception
├── PollinateError                      base of everything Pollinate raises on purpose
│   ├── InvalidInputError               bad input from a user or a file (HTTP 422)
│   ├── NotFoundError                   no such record (HTTP 404)
│   ├── ConflictError                   the record changed or exists already (HTTP 409/412)
│   └── NotReadyError                   the service cannot serve yet: schema, model or index (HTTP 503)
└── ValueError
    └── models.vocabularies.UnknownTermError
                                        a value outside a controlled vocabulary, with the closest valid
                                        values (raised by the data layer, which imports nothing of ours;
                                        inside input models it surfaces as a validation error)
```
"""

from __future__ import annotations

from models.vocabularies import UnknownTermError

__all__ = [
    "ConflictError",
    "InvalidInputError",
    "NotFoundError",
    "NotReadyError",
    "PollinateError",
    "UnknownTermError",
]


class PollinateError(Exception):
    """Base of every error Pollinate raises on purpose."""


class InvalidInputError(PollinateError):
    """Bad input from a user or a file."""


class NotFoundError(PollinateError):
    """No such record."""


class ConflictError(PollinateError):
    """The record changed since it was read, or exists already."""


class NotReadyError(PollinateError):
    """The service cannot serve yet (database schema, model or index not ready)."""
