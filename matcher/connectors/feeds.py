"""Publishing: Pollinate's public needs and active offers as open, paged JSON feeds (``/v1/feeds/...``), in
Pollinate's format (the import format plus the record's page) or in the Bio-Bridge shape, so that a partner —
or another Pollinate — harvests them with a connector (``mapping = "pollinate"`` or ``"biobridge-request"`` /
``"biobridge-profile"``).

Pages are in id order and chained by a cursor (the last id), so a record changed while a harvester pages keeps
its place. ``since`` keeps only records changed at or after a time (for incremental readers; a connector reads
the whole feed, because what a full feed no longer lists is withdrawn). Every page's ETag is derived from the
feed's state — how many records it lists, their latest change and the sum of their versions — and the page's
parameters: any creation, change, withdrawal or deletion of a listed record changes it, and an unchanged feed
answers ``304 Not Modified`` to a harvester that sends it back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from matcher.connectors import biobridge
from matcher.records.bulk import need_to_record, offer_to_record
from models.connectors import ConnectorRepository
from models.orm import Need, Offer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

FeedKind = Literal["needs", "offers"]
FeedFormat = Literal["pollinate", "biobridge"]


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of a feed: its items, the cursor of the next page (None on the last) and its ETag."""

    items: list[dict[str, Any]]
    next_cursor: int | None
    etag: str


def feed_etag(
    session: Session, kind: FeedKind, fmt: FeedFormat, *, since: dt.datetime | None, cursor: int, limit: int
) -> str:
    """The ETag of a page, computed without reading the page (a 304 costs one aggregate query)."""
    count, latest, versions = ConnectorRepository(session).feed_state(kind)
    stamp = latest.isoformat() if latest is not None else "-"
    key = f"{kind}|{fmt}|{since.isoformat() if since else '-'}|{cursor}|{limit}|{count}|{stamp}|{versions}"
    return '"' + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + '"'


def feed_page(
    session: Session,
    kind: FeedKind,
    fmt: FeedFormat,
    *,
    since: dt.datetime | None,
    cursor: int,
    limit: int,
    public_url: str,
) -> FeedPage:
    """One page of a feed; ``public_url`` is the base of the records' page links."""
    repo = ConnectorRepository(session)
    etag = feed_etag(session, kind, fmt, since=since, cursor=cursor, limit=limit)
    # One record more than the page is read: whether it exists says whether a next page does.
    rows: Sequence[Need | Offer]
    if kind == "needs":
        rows = repo.feed_needs(since=since, after=cursor, limit=limit + 1)
    else:
        rows = repo.feed_offers(since=since, after=cursor, limit=limit + 1)
    listed = rows[:limit]
    pages = f"{public_url.rstrip('/')}/{kind}"
    items = [_item(row, fmt, url=f"{pages}/{row.id}") for row in listed]
    more = len(rows) > limit
    return FeedPage(items=items, next_cursor=listed[-1].id if more else None, etag=etag)


def _item(row: Need | Offer, fmt: FeedFormat, *, url: str) -> dict[str, Any]:
    """A record as a feed lists it: a Bio-Bridge document, or its interchange record plus its page's ``url``."""
    if fmt == "biobridge":
        if isinstance(row, Need):
            return biobridge.need_document(row, url=url)
        return biobridge.offer_document(row, url=url)
    record = need_to_record(row) if isinstance(row, Need) else offer_to_record(row)
    return {**record.model_dump(mode="json", exclude_none=True), "url": url}
