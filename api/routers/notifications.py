"""The provider's notification feed (``/v1/me/notifications``), deliveries across subscriptions
(``/v1/deliveries``) and the e-mails' one-click unsubscribe (``/v1/unsubscribe/{token}``)."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse

from api.deps import DatabaseDep
from api.routers.common import ERRORS, JSON_ERRORS, LIMIT, OFFSET, DeliveryStatus, RecordId
from api.schemas import DeliveryOut, MarkedRead, MarkRead, NotificationOut, PageOut, delivery_out, notification_out
from api.security import SignedInDep, rate_limited
from matcher.alerts import deliveries, feed, subscriptions

router = APIRouter(prefix="/v1", tags=["notifications"], responses=ERRORS)

Token = Annotated[str, Path(min_length=20, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


@router.get("/me/notifications", response_model=PageOut[NotificationOut], summary="Your notification feed")
def my_notifications(
    principal: SignedInDep,
    db: DatabaseDep,
    unread: Annotated[bool, Query(description="Only notifications not yet marked read.")] = False,
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[NotificationOut]:
    """Needs that satisfied your organisation's subscriptions (those with the ``feed`` channel), newest first,
    each with the score, its components and why. Providers only."""
    with db.transaction(read_only=True) as session:
        rows, total = feed.feed(session, principal, unread_only=unread, limit=limit, offset=offset)
        return PageOut[NotificationOut](
            items=[notification_out(r) for r in rows], total=total, limit=limit, offset=offset
        )


@router.post(
    "/me/notifications/read",
    response_model=MarkedRead,
    dependencies=[Depends(rate_limited("write"))],
    summary="Mark notifications read",
)
def mark_read(body: MarkRead, principal: SignedInDep, db: DatabaseDep) -> MarkedRead:
    with db.transaction() as session:
        return MarkedRead(marked=feed.mark_read(session, principal, body.ids))


@router.get("/deliveries", response_model=PageOut[DeliveryOut], summary="Deliveries (dead letters: status=dead)")
def list_deliveries(
    principal: SignedInDep,
    db: DatabaseDep,
    status: Annotated[
        list[DeliveryStatus], Query(max_length=4, description="Only deliveries in these states.")
    ] = [],  # noqa: B006
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[DeliveryOut]:
    """Every organisation's deliveries for the secretariat and admins; a provider's own otherwise."""
    with db.transaction(read_only=True) as session:
        rows, total = deliveries.all_deliveries(
            session, principal, statuses=tuple(status), limit=limit, offset=offset
        )
        return PageOut[DeliveryOut](items=[delivery_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Send a dead-lettered delivery again",
)
def retry_delivery(delivery_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> DeliveryOut:
    """Same message id, a fresh set of attempts (e.g. once the receiver is fixed)."""
    with db.transaction() as session:
        return delivery_out(deliveries.retry_delivery(session, principal, delivery_id))


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto">{content}</body></html>"""


@router.get(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    responses=JSON_ERRORS,
    summary="Unsubscribe page (e-mail link)",
)
def unsubscribe_page(token: Token, db: DatabaseDep) -> HTMLResponse:
    """A confirmation button rather than an unsubscription: link scanners follow GET links."""
    with db.transaction(read_only=True) as session:
        subscriptions.by_unsubscribe_token(session, token)  # 404 for a link that is not (or no longer) valid
    form = (
        "<p>Stop these Pollinate alerts?</p>"
        f'<form method="post" action="/v1/unsubscribe/{html.escape(token)}">'
        '<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>'
    )
    return HTMLResponse(_PAGE.format(content=form))


@router.post(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    responses=JSON_ERRORS,
    dependencies=[Depends(rate_limited("write"))],
    summary="One-click unsubscribe (RFC 8058)",
)
def unsubscribe(token: Token, db: DatabaseDep) -> HTMLResponse:
    """Deactivates the subscription the link was sent for; the token is the only credential needed."""
    with db.transaction() as session:
        row = subscriptions.unsubscribe(session, token)
        label = row.label or ("needs your offers fit" if row.kind == "offers" else "your saved search")
    return HTMLResponse(_PAGE.format(content=f"<p>Unsubscribed from {html.escape(label)}.</p>"))
