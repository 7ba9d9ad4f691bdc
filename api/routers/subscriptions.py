"""``/v1/subscriptions``: providers' alerts on matching needs, and the deliveries they produced."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.deps import DatabaseDep, SettingsDep
from api.routers.common import (
    ERRORS,
    LIMIT,
    OFFSET,
    DeliveryStatus,
    IfMatch,
    IfMatchRequired,
    RecordId,
    delete_versioned,
    write_versioned,
)
from api.schemas import (
    DeliveryOut,
    PageOut,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
    SubscriptionUpdate,
    delivery_out,
    subscription_out,
)
from api.security import IdempotencyDep, SignedInDep, etag, idempotent, rate_limited
from matcher.alerts import deliveries, subscriptions

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"], responses=ERRORS)

StatusQuery = Annotated[list[DeliveryStatus], Query(max_length=4, description="Only deliveries in these states.")]


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    dependencies=[Depends(rate_limited("write"))],
    summary="Subscribe to needs that fit your offers or a saved search",
)
def post_subscription(
    body: SubscriptionCreate, principal: SignedInDep, db: DatabaseDep, settings: SettingsDep, idem: IdempotencyDep
) -> JSONResponse:
    """Providers only, for their own organisation. With a webhook channel the answer carries the signing
    secret, shown this once. Webhook targets must be https and resolve to public addresses."""

    def work(session):  # type: ignore[no-untyped-def]
        created = subscriptions.create_subscription(
            session, principal, body.model_dump(exclude_none=True), settings.notifications
        )
        row = created.subscription
        payload = subscription_out(row, secret=created.webhook_secret, created=True).model_dump(mode="json")
        return 201, payload, {**etag(row.version), "Location": f"/v1/subscriptions/{row.id}"}

    return idempotent(db, settings.api.idempotency_hours, principal, idem, work)


@router.get("", response_model=PageOut[SubscriptionOut], summary="List subscriptions")
def list_subscriptions(
    principal: SignedInDep, db: DatabaseDep, limit: LIMIT = 50, offset: OFFSET = 0
) -> PageOut[SubscriptionOut]:
    """Your organisation's subscriptions (every organisation's for the secretariat)."""
    with db.transaction(read_only=True) as session:
        rows, total = subscriptions.list_subscriptions(session, principal, limit=limit, offset=offset)
        return PageOut[SubscriptionOut](
            items=[subscription_out(r) for r in rows], total=total, limit=limit, offset=offset
        )


@router.get("/{subscription_id}", response_model=SubscriptionOut, summary="Read a subscription")
def get_subscription(
    subscription_id: RecordId, principal: SignedInDep, db: DatabaseDep, response: Response
) -> SubscriptionOut:
    with db.transaction(read_only=True) as session:
        row = subscriptions.get_subscription(session, principal, subscription_id)
        response.headers.update(etag(row.version))
        return subscription_out(row)


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionCreated,
    dependencies=[Depends(rate_limited("write"))],
    summary="Change a subscription (If-Match required)",
)
def patch_subscription(
    subscription_id: RecordId,
    body: SubscriptionUpdate,
    principal: SignedInDep,
    db: DatabaseDep,
    settings: SettingsDep,
    response: Response,
    if_match: IfMatchRequired,
) -> SubscriptionOut:
    """Any field, or ``active: false`` to pause it. Adding a webhook channel returns a new signing secret."""
    changes = body.model_dump(exclude_unset=True)

    def write(session: Session, version: int | None) -> SubscriptionOut:
        changed = subscriptions.update_subscription(
            session, principal, subscription_id, changes, settings.notifications, version=version
        )
        return subscription_out(changed.subscription, secret=changed.webhook_secret, created=True)

    return write_versioned(db, response, if_match, write, required=True)


@router.post(
    "/{subscription_id}/rotate-secret",
    response_model=SubscriptionCreated,
    dependencies=[Depends(rate_limited("write"))],
    summary="Replace the webhook signing secret",
)
def rotate_secret(subscription_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> SubscriptionOut:
    """The old secret stops working at once; deliveries still queued are signed with the new one."""
    with db.transaction() as session:
        rotated = subscriptions.rotate_secret(session, principal, subscription_id)
        return subscription_out(rotated.subscription, secret=rotated.webhook_secret, created=True)


@router.delete(
    "/{subscription_id}",
    status_code=204,
    dependencies=[Depends(rate_limited("write"))],
    summary="Delete a subscription (its pending deliveries go with it)",
)
def delete_subscription(
    subscription_id: RecordId, principal: SignedInDep, db: DatabaseDep, if_match: IfMatch = None
) -> Response:
    return delete_versioned(
        db,
        if_match,
        lambda session, version: subscriptions.delete_subscription(
            session, principal, subscription_id, version=version
        ),
    )


@router.get(
    "/{subscription_id}/deliveries",
    response_model=PageOut[DeliveryOut],
    summary="A subscription's deliveries (filter status=dead for the dead letters)",
)
def subscription_deliveries(
    subscription_id: RecordId,
    principal: SignedInDep,
    db: DatabaseDep,
    status: StatusQuery = [],  # noqa: B006
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[DeliveryOut]:
    with db.transaction(read_only=True) as session:
        rows, total = deliveries.subscription_deliveries(
            session, principal, subscription_id, statuses=tuple(status), limit=limit, offset=offset
        )
        return PageOut[DeliveryOut](items=[delivery_out(r) for r in rows], total=total, limit=limit, offset=offset)
