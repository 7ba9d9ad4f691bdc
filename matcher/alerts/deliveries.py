"""Deliveries as their subscribers and the secretariat see them: listings, dead letters, manual retry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.alerts import outbox
from matcher.errors import NotFoundError, PermissionDeniedError
from models.orm import Delivery
from models.outbox import DeliveryRepository, SubscriptionRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def subscription_deliveries(
    session: Session,
    principal: Principal,
    subscription_id: int,
    *,
    statuses: Sequence[str] = (),
    limit: int,
    offset: int,
) -> tuple[list[Delivery], int]:
    """A subscription's deliveries, newest first (its organisation and the secretariat)."""
    access.check_read_subscription(
        principal, SubscriptionRepository(session).get(subscription_id), subscription_id
    )
    return DeliveryRepository(session).listing(
        subscription_id=subscription_id, statuses=statuses, limit=limit, offset=offset
    )


def all_deliveries(
    session: Session, principal: Principal, *, statuses: Sequence[str] = (), limit: int, offset: int
) -> tuple[list[Delivery], int]:
    """Every organisation's deliveries (the secretariat; ``statuses=("dead",)`` for the dead letters), or the
    caller's own organisation's."""
    access.require_signed_in(principal)
    organisation_id = None if principal.is_staff else access.check_feed(principal)
    return DeliveryRepository(session).listing(
        organisation_id=organisation_id, statuses=statuses, limit=limit, offset=offset
    )


def retry_delivery(session: Session, principal: Principal, delivery_id: int) -> Delivery:
    """Queue a dead or cancelled delivery again (same uid; fresh attempts), e.g. after fixing the receiver."""
    delivery = DeliveryRepository(session).get(delivery_id)
    subscription = SubscriptionRepository(session).get(delivery.subscription_id) if delivery else None
    if delivery is None or subscription is None:
        raise NotFoundError(f"no delivery with id {delivery_id}")
    try:
        access.check_read_subscription(principal, subscription, subscription.id)
    except NotFoundError:
        raise NotFoundError(f"no delivery with id {delivery_id}") from None
    if not (principal.is_staff or access.owns_subscription(principal, subscription)):
        raise PermissionDeniedError(f"delivery {delivery_id} belongs to another organisation")
    return outbox.retry_dead(session, delivery)
