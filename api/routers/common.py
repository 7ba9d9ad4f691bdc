"""Pieces shared by the routers: documented error responses, paging and filter parameters.

Query parameters are typed as the body fields are (``Text``, ``Vocabulary`` from ``matcher/records.py``), so that
their values are checked, canonical, and documented in the OpenAPI schema as they are checked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Header, Path, Query, Response
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from api.schemas import ErrorBody, MatchFiltersIn
from api.security import ETAG_PATTERN, etag, if_match_version
from matcher.engine.query import MatchFilters
from matcher.records.interchange import (
    AssistanceType,
    Cost,
    LanguageCode,
    OrganisationType,
    Place,
    TargetNumber,
    Text,
    Vocabulary,
)
from models import vocabularies as vocab
from models.db import Database
from models.orm import AUDIT_ACTIONS, AUDIT_ENTITIES, DELIVERY_STATUSES, JOB_STATUSES, MATCH_STATUSES
from models.repositories import REVIEW_SORTS

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "The body could not be read (not UTF-8 or not JSON)",
        401: "No valid API key where one is required",
        403: "The caller's role may not do this to this record",
        404: "No such record, or none the caller may see",
        409: "The record exists already or is still in use",
        412: "The record changed since the version in If-Match",
        413: "The request body is too large",
        422: "Invalid input: the field, the problem and the closest valid values",
        428: "If-Match is required",
        429: "Too many requests for this key (see Retry-After)",
        503: "Not ready: database, schema, model or index",
    }.items()
}
# For routes that answer something other than JSON (HTML, CSV): their errors are still JSON, and say so.
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {**spec, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for status, spec in ERRORS.items()
}

# Database ids are 32-bit on every backend: larger numbers are refused as input, not sent to the database.
MAX_ID = 2_147_483_647
RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
# If-Match is checked by ``api.security.if_match_version`` (422 naming the header when malformed) against the
# same pattern the schema shows. Where it is required, FastAPI reports it missing and the error handler answers
# 428 (``api/errors.py``).
_ETAG = {"pattern": ETAG_PATTERN}
IfMatch = Annotated[
    str | None,
    Header(
        max_length=100,
        description='ETag of the version you change, e.g. "3" (checked when given).',
        json_schema_extra=_ETAG,
    ),
]
IfMatchRequired = Annotated[
    str,
    Header(
        max_length=100,
        description='ETag of the version you change, e.g. "3" (428 without it, 412 when it is not current).',
        json_schema_extra=_ETAG,
    ),
]
LIMIT = Annotated[int, Query(ge=1, le=200, description="Page size.")]
OFFSET = Annotated[int, Query(ge=0, le=1_000_000, description="Records to skip.")]
Q = Annotated[
    Annotated[str, Text(max_length=200, min_visible=1)] | None,
    Query(description="Words in the title or description."),
]


# What the schema's `format: date-time` means (RFC 3339): a date, T, a time and its offset. Without this check a
# number such as `0.5` passed as a Unix time.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    if isinstance(value, str):
        if _RFC3339.fullmatch(value) is None:
            raise ValueError("must be an RFC 3339 date-time with its offset, like 2026-01-31T09:00:00Z")
        return dt.datetime.fromisoformat(value.upper())
    return value


Timestamp = Annotated[dt.datetime, BeforeValidator(_rfc3339)]


def _choice(
    name: str, field: str, values: tuple[str, ...], description: str, *, kind: str | None = None
) -> Vocabulary:
    """A vocabulary of a few fixed values (statuses, kinds), understood in any case (and, with a label
    ``kind``, by its labels in English, French and Spanish)."""
    return Vocabulary(name, lambda: values, lambda v: vocab.parse_choice(field, v, values, kind=kind), description)


_LABELS_TOO = " Its labels in English, French and Spanish are understood too (`En pause`)."
OfferStatus = Annotated[
    str,
    _choice(
        "OfferStatus", "status", vocab.OFFER_STATUSES, "An offer's status." + _LABELS_TOO, kind="offer_status"
    ),
]
NeedStatus = Annotated[
    str, _choice("NeedStatus", "status", vocab.NEED_STATUSES, "A need's status." + _LABELS_TOO, kind="need_status")
]
NeedStatusOfMatch = Annotated[
    str,
    _choice(
        "NeedStatusOfMatch",
        "need status",
        vocab.NEED_STATUSES,
        "The status of a match's need." + _LABELS_TOO,
        kind="need_status",
    ),
]
MatchStatus = Annotated[str, _choice("MatchStatus", "status", MATCH_STATUSES, "A suggested match's status.")]
DeliveryStatus = Annotated[str, _choice("DeliveryStatus", "status", DELIVERY_STATUSES, "A delivery's state.")]
JobStatus = Annotated[str, _choice("JobStatus", "status", JOB_STATUSES, "A batch job's status.")]
AuditEntity = Annotated[str, _choice("AuditEntity", "entity", AUDIT_ENTITIES, "The kind of record changed.")]
AuditAction = Annotated[str, _choice("AuditAction", "action", AUDIT_ACTIONS, "The kind of change.")]
ReviewSort = Annotated[str, _choice("ReviewSort", "sort", REVIEW_SORTS, "A review queue order.")]


def filters_from(body: MatchFiltersIn) -> MatchFilters:
    """Engine filters from request filters (whose vocabulary values the schema has made canonical)."""
    return MatchFilters(
        targets=frozenset(body.targets),
        serves=frozenset(body.serves),
        assistance_types=frozenset(body.assistance_types),
        languages=frozenset(body.languages),
        costs=frozenset(body.costs),
        org_types=frozenset(body.org_types),
    )


def match_filter_params(
    only_target: Annotated[
        list[TargetNumber], Query(max_length=23, description="Filter: offers on this target.")
    ] = [],  # noqa: B006
    only_region: Annotated[
        list[Place], Query(max_length=50, description="Filter: offers serving this area or ISO3 country.")
    ] = [],  # noqa: B006
    only_type: Annotated[
        list[AssistanceType], Query(max_length=9, description="Filter: offers of this assistance type.")
    ] = [],  # noqa: B006
    only_language: Annotated[
        list[LanguageCode], Query(max_length=20, description="Filter: providers working in this language.")
    ] = [],  # noqa: B006
    only_cost: Annotated[list[Cost], Query(max_length=3, description="Filter: free, cost or negotiable.")] = [],  # noqa: B006
    only_org_type: Annotated[
        list[OrganisationType], Query(max_length=8, description="Filter: organisation type.")
    ] = [],  # noqa: B006
) -> MatchFilters:
    """Hard filters given as query parameters (as ``pollinate match --only-…``)."""
    return MatchFilters(
        targets=frozenset(only_target),
        serves=frozenset(only_region),
        assistance_types=frozenset(only_type),
        languages=frozenset(only_language),
        costs=frozenset(only_cost),
        org_types=frozenset(only_org_type),
    )


class Versioned(Protocol):
    """A response model of a record with a version (its ETag)."""

    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


def write_versioned(
    db: Database,
    response: Response,
    if_match: str | None,
    write: Callable[[Session, int | None], V],
    *,
    required: bool,
) -> V:
    """The skeleton every versioned change shares: the version ``If-Match`` names (428 when required and
    missing, 422 when malformed), ``write(session, version)`` — the change and its mapping to the response model
    — in one write transaction, and the new version as the response's ``ETag``."""
    version = if_match_version(if_match, required=required)
    with db.transaction() as session:
        out = write(session, version)
    response.headers.update(etag(out.version))
    return out


def delete_versioned(
    db: Database, if_match: str | None, delete: Callable[[Session, int | None], None]
) -> Response:
    """A delete, checked against ``If-Match`` when given (any version without it): 204 when done."""
    version = if_match_version(if_match, required=False)
    with db.transaction() as session:
        delete(session, version)
    return Response(status_code=204)
