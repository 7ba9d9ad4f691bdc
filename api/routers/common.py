"""Pieces shared by the routers: documented error responses, paging and filter parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Query

from api.deps import vocabulary
from api.schemas import ErrorBody, MatchFiltersIn
from matcher.engine.query import MatchFilters
from models import vocabularies as vocab

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
IfMatch = Annotated[str | None, Header(max_length=100, description='ETag of the version you change, e.g. "3".')]
LIMIT = Annotated[int, Query(ge=1, le=200, description="Page size.")]
OFFSET = Annotated[int, Query(ge=0, le=1_000_000, description="Records to skip.")]
Q = Annotated[str | None, Query(min_length=1, max_length=200, description="Words in the title or description.")]


BODY_FILTER_FIELDS = {name: f"filters.{name}" for name in MatchFiltersIn.model_fields}
QUERY_FILTER_FIELDS = {
    "targets": "only_target",
    "serves": "only_region",
    "assistance_types": "only_type",
    "languages": "only_language",
    "costs": "only_cost",
    "org_types": "only_org_type",
}


def filters_from(body: MatchFiltersIn, *, fields: dict[str, str] = BODY_FILTER_FIELDS) -> MatchFilters:
    """Engine filters from request filters (vocabulary values checked; a 422 names the field as the caller
    wrote it: ``filters.serves`` in a body, ``only_region`` in a query)."""
    return MatchFilters(
        targets=frozenset(vocabulary(map(str, body.targets), vocab.parse_target, fields["targets"])),
        serves=frozenset(vocabulary(body.serves, vocab.parse_place, fields["serves"])),
        assistance_types=frozenset(
            vocabulary(body.assistance_types, vocab.parse_assistance_type, fields["assistance_types"])
        ),
        languages=frozenset(vocabulary(body.languages, vocab.parse_language, fields["languages"])),
        costs=frozenset(vocabulary(body.costs, vocab.parse_cost, fields["costs"])),
        org_types=frozenset(vocabulary(body.org_types, vocab.parse_organisation_type, fields["org_types"])),
    )


def match_filter_params(
    only_target: Annotated[list[int], Query(max_length=23, description="Filter: offers on this target.")] = [],  # noqa: B006
    only_region: Annotated[
        list[str], Query(max_length=50, description="Filter: offers serving this area or ISO3 country.")
    ] = [],  # noqa: B006
    only_type: Annotated[
        list[str], Query(max_length=9, description="Filter: offers of this assistance type.")
    ] = [],  # noqa: B006
    only_language: Annotated[
        list[str], Query(max_length=20, description="Filter: providers working in this language.")
    ] = [],  # noqa: B006
    only_cost: Annotated[list[str], Query(max_length=3, description="Filter: free, cost or negotiable.")] = [],  # noqa: B006
    only_org_type: Annotated[list[str], Query(max_length=8, description="Filter: organisation type.")] = [],  # noqa: B006
) -> MatchFilters:
    """Hard filters given as query parameters (as ``pollinate match --only-…``)."""
    body = MatchFiltersIn.model_construct(
        targets=only_target,
        serves=only_region,
        assistance_types=only_type,
        languages=only_language,
        costs=only_cost,
        org_types=only_org_type,
    )
    return filters_from(body, fields=QUERY_FILTER_FIELDS)
