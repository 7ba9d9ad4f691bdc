"""``/v1/feeds/...``: Pollinate's public needs and active offers as open, paged feeds (anyone, no key);
``/v1/connectors``: the connectors, running one, and their runs' reports; ``/v1/duplicates``: records that
look like one across sources (the secretariat and admins)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable

from api.deps import DatabaseDep, SettingsDep
from api.routers.common import ERRORS, LIMIT, MAX_ID, OFFSET, RecordId, Timestamp
from api.schemas import (
    ConnectorOut,
    ConnectorRunOut,
    DuplicateDismissIn,
    DuplicateMergeIn,
    DuplicateMergeOut,
    DuplicatePairOut,
    DuplicateSideOut,
    FeedOut,
    PageOut,
    connector_run_out,
)
from api.security import SignedInDep, rate_limited
from matcher.connectors import duplicates, feeds, service
from matcher.settings import Settings
from models.connectors import ConnectorRepository
from models.db import Database

router = APIRouter(prefix="/v1", responses=ERRORS)

Cursor = Annotated[
    int, Query(ge=0, le=MAX_ID, description="Where the page starts (from the previous page's next).")
]
FeedFormatQuery = Annotated[
    Literal["pollinate", "biobridge"],
    Query(description="`pollinate` (the import format plus `url`) or `biobridge` (clearing-house documents)."),
]
Since = Annotated[Timestamp | None, Query(description="Only records changed at or after this time (RFC 3339).")]
ConnectorName = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """What a harvester asks of a feed page: its format, changes since when, where it starts, its size (capped
    by the settings) and the ETag it holds."""

    format: feeds.FeedFormat
    since: Timestamp | None
    cursor: int
    limit: int | None
    if_none_match: str | None


def feed_query(
    format: FeedFormatQuery = "pollinate",
    since: Since = None,
    cursor: Cursor = 0,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="Page size (capped by the settings).")] = None,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> FeedQuery:
    """The query of both feeds (a dependency, so that the two routes declare it once)."""
    return FeedQuery(format, since, cursor, limit, if_none_match)


FeedQueryDep = Annotated[FeedQuery, Depends(feed_query)]


def _feed(request: Request, db: Database, settings: Settings, kind: feeds.FeedKind, query: FeedQuery) -> Response:
    size = min(query.limit or settings.connectors.feed_page_size, settings.connectors.feed_page_size)
    with db.transaction(read_only=True) as session:
        tag = feeds.feed_etag(session, kind, query.format, since=query.since, cursor=query.cursor, limit=size)
        if query.if_none_match is not None and tag in [t.strip() for t in query.if_none_match.split(",")]:
            return Response(status_code=304, headers={"ETag": tag})
        page = feeds.feed_page(
            session,
            kind,
            query.format,
            since=query.since,
            cursor=query.cursor,
            limit=size,
            public_url=settings.notifications.public_url,
        )
    headers = {"ETag": page.etag, "Cache-Control": "no-cache"}
    following = None
    if page.next_cursor is not None:
        params = {"format": query.format, "cursor": str(page.next_cursor), "limit": str(size)}
        if query.since is not None:
            params["since"] = query.since.isoformat()
        # Relative: the Host header is the client's to choose, so it never goes into a link.
        following = f"{request.url.path}?{urlencode(params)}"
        headers["Link"] = f'<{following}>; rel="next"'
    body = FeedOut(kind=kind, format=query.format, items=page.items, next=following)
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


_FEED_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": 'A page of the feed; `ETag` and, when there is one, `Link: <next>; rel="next"`.'},
    304: {"description": "Not modified since the ETag sent in `If-None-Match`."},
}


def _feed_route(kind: feeds.FeedKind, *, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``GET /v1/feeds/{kind}``: open to anyone (a key, when sent, is checked as on every ``/v1`` route)."""
    return router.get(
        f"/feeds/{kind}", response_model=FeedOut, responses=_FEED_RESPONSES, tags=["feeds"], summary=summary
    )


@_feed_route("needs", summary="Public needs as a paged feed")
def needs_feed(request: Request, db: DatabaseDep, settings: SettingsDep, query: FeedQueryDep) -> Response:
    """Every public need (every status, so that a harvester follows closed and withdrawn ones), in id order;
    harvest it with a connector of mapping `pollinate` or, with `format=biobridge`, `biobridge-request`."""
    return _feed(request, db, settings, "needs", query)


@_feed_route("offers", summary="Active offers as a paged feed")
def offers_feed(request: Request, db: DatabaseDep, settings: SettingsDep, query: FeedQueryDep) -> Response:
    """Every active offer, in id order; harvest it with a connector of mapping `pollinate` or, with
    `format=biobridge`, `biobridge-profile`."""
    return _feed(request, db, settings, "offers", query)


@router.get("/connectors", response_model=list[ConnectorOut], tags=["connectors"], summary="The connectors")
def list_connectors(principal: SignedInDep, db: DatabaseDep, settings: SettingsDep) -> list[ConnectorOut]:
    """The connectors of the definitions folder with their last run (the secretariat and admins)."""
    service.check_operator(principal)
    definitions, _errors = service.ConnectorCatalog.from_settings(settings).load()
    with db.transaction(read_only=True) as session:
        last = ConnectorRepository(session).last_runs()
        return [
            ConnectorOut(
                name=name,
                description=d.description,
                kind=d.kind,
                mapping=d.mapping,
                source=d.source.url or d.source.file or "",
                schedule=d.schedule,
                last_run=connector_run_out(last[name]) if name in last else None,
            )
            for name, d in sorted(definitions.items())
        ]


@router.post(
    "/connectors/{name}/runs",
    status_code=201,
    response_model=ConnectorRunOut,
    tags=["connectors"],
    summary="Run a connector now",
)
def run_connector(
    name: ConnectorName, principal: SignedInDep, db: DatabaseDep, settings: SettingsDep
) -> ConnectorRunOut:
    """Harvest one connector now and answer its report (a failed run answers 201 too: the run exists, with
    status `failed`, its reason in `error`, and nothing written). The secretariat and admins."""
    service.check_operator(principal)
    report = service.run_named(db, settings, name, trigger="api")
    assert report.run_id is not None
    with db.transaction(read_only=True) as session:
        return connector_run_out(service.get_run(session, principal, report.run_id))


@router.get(
    "/connectors/runs",
    response_model=PageOut[ConnectorRunOut],
    tags=["connectors"],
    summary="Connector runs, newest first",
)
def list_runs(
    principal: SignedInDep,
    db: DatabaseDep,
    connector: Annotated[
        str | None, Query(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="One connector's.")
    ] = None,
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[ConnectorRunOut]:
    """Every run's report: created, updated, unchanged, withdrawn, invalid records with their reasons."""
    with db.transaction(read_only=True) as session:
        rows, total = service.list_runs(session, principal, connector, limit=limit, offset=offset)
        return PageOut[ConnectorRunOut](
            items=[connector_run_out(r) for r in rows], total=total, limit=limit, offset=offset
        )


@router.get(
    "/connectors/runs/{run_id}", response_model=ConnectorRunOut, tags=["connectors"], summary="One connector run"
)
def get_run(run_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> ConnectorRunOut:
    """One run's report."""
    with db.transaction(read_only=True) as session:
        return connector_run_out(service.get_run(session, principal, run_id))


@router.get(
    "/duplicates",
    response_model=list[DuplicatePairOut],
    tags=["connectors"],
    summary="Suggested duplicates across sources",
)
def list_duplicates(
    principal: SignedInDep,
    db: DatabaseDep,
    kind: Annotated[
        Literal["organisations", "needs", "offers"], Query(description="Which records to compare.")
    ] = "organisations",
    limit: LIMIT = 50,
) -> list[DuplicatePairOut]:
    """Pairs of records from different sources (connectors, or typed in) that look like one, best first, both
    versions side by side (the secretariat and admins)."""
    with db.transaction(read_only=True) as session:
        pairs = duplicates.find_duplicates(session, principal, kind, limit=limit)
    return [
        DuplicatePairOut(
            kind=p.kind,
            score=p.score,
            reasons=p.reasons,
            left=DuplicateSideOut(id=p.left.id, fields=p.left.fields, sources=p.left.sources),
            right=DuplicateSideOut(id=p.right.id, fields=p.right.fields, sources=p.right.sources),
        )
        for p in pairs
    ]


@router.post(
    "/duplicates/merge",
    response_model=DuplicateMergeOut,
    dependencies=[Depends(rate_limited("write"))],
    tags=["connectors"],
    summary="Merge a duplicate need or offer into the other",
)
def merge_duplicates(body: DuplicateMergeIn, principal: SignedInDep, db: DatabaseDep) -> DuplicateMergeOut:
    """Keep the survivor, move the copy's provenance to it (the copy's connector then updates the survivor),
    withdraw the copy (a need ``withdrawn``, an offer ``expired``, out of matching) and record the decision and
    a ``merge`` audit event. A pair already decided is refused (409). The secretariat and admins only."""
    with db.transaction() as session:
        done = duplicates.merge(
            session, principal, body.kind, survivor_id=body.survivor_id, merged_id=body.merged_id, note=body.note
        )
    return DuplicateMergeOut(
        kind=body.kind,
        survivor_id=done.survivor_id,
        merged_id=done.merged_id,
        merged_status=done.merged_status,
        moved_sources=done.moved_sources,
    )


@router.post(
    "/duplicates/dismiss",
    status_code=204,
    dependencies=[Depends(rate_limited("write"))],
    tags=["connectors"],
    summary="Dismiss a suggested duplicate pair",
)
def dismiss_duplicates(body: DuplicateDismissIn, principal: SignedInDep, db: DatabaseDep) -> Response:
    """The two records are not the same: the pair is not suggested again (a ``dismiss`` audit event). A pair
    already decided is refused (409). The secretariat and admins only."""
    with db.transaction() as session:
        duplicates.dismiss(session, principal, body.kind, ids=(body.left_id, body.right_id), note=body.note)
    return Response(status_code=204)
