"""Pollinate's matching: the ranking engine and the rooms built on it.

The public API is importable from here (``from matcher import MatchService, NeedQuery, Settings``); the rooms,
highest first (each imports only those below it, enforced by import-linter in ``pyproject.toml``)::

    cli/        the ``pollinate`` command line
    worker.py   the background process: runs batch jobs, delivers alerts
    jobs/       batch jobs (re-rank, re-embed), where they execute, capacity-aware assignment
    alerts/     subscriptions, reverse matching, outbox, webhooks, e-mail, deliveries, feed
    review/     suggested matches, the secretariat's decisions, decisions exported as a gold set
    records/    needs, offers and organisations, the interchange format, bulk import/export, demo seed
    language/   the gettext catalogues of the pages and e-mails, explanations in the reader's language
    access/     users and API keys, the authorization rules, the audit log
    engine/     query, filters, index, lexical and structured signals, fusion, ranking, explanations,
                the embedding store and ``MatchService``

Beside them, read by all: ``settings.py``, ``errors.py`` and ``data/`` (the demo corpus).

The names below are loaded on first use, so that ``import matcher.settings`` (the CLI's start) does not load
the index and the model code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matcher.engine.query import MatchFilters, NeedQuery
    from matcher.engine.service import Match, MatchResult, MatchService, create_embedder
    from matcher.errors import (
        AuthenticationError,
        ConflictError,
        DeliveryError,
        InvalidInputError,
        NotFoundError,
        NotReadyError,
        PermissionDeniedError,
        PollinateError,
        PreconditionRequiredError,
        RateLimitedError,
        ServiceBusyError,
        StaleVersionError,
        UnknownTermError,
        WebhookTargetError,
    )
    from matcher.settings import Settings

_ERRORS = (
    "AuthenticationError",
    "ConflictError",
    "DeliveryError",
    "InvalidInputError",
    "NotFoundError",
    "NotReadyError",
    "PermissionDeniedError",
    "PollinateError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "ServiceBusyError",
    "StaleVersionError",
    "UnknownTermError",
    "WebhookTargetError",
)
_WHERE = {
    "MatchFilters": "matcher.engine.query",
    "NeedQuery": "matcher.engine.query",
    "Match": "matcher.engine.service",
    "MatchResult": "matcher.engine.service",
    "MatchService": "matcher.engine.service",
    "create_embedder": "matcher.engine.service",
    "Settings": "matcher.settings",
    **dict.fromkeys(_ERRORS, "matcher.errors"),
}

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DeliveryError",
    "InvalidInputError",
    "Match",
    "MatchFilters",
    "MatchResult",
    "MatchService",
    "NeedQuery",
    "NotFoundError",
    "NotReadyError",
    "PermissionDeniedError",
    "PollinateError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "ServiceBusyError",
    "Settings",
    "StaleVersionError",
    "UnknownTermError",
    "WebhookTargetError",
    "create_embedder",
]


def __getattr__(name: str) -> Any:
    """Load a public name from the module that defines it (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'matcher' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
