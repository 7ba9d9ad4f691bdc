"""Repositories of provider alerts: subscriptions, notifications (the feed) and deliveries (the outbox).

Like every repository, these wrap a session they do not own and never commit.

Claiming deliveries is the one concurrency-sensitive query. On PostgreSQL it is ``SELECT ... FOR UPDATE SKIP
LOCKED``, so concurrent workers take disjoint deliveries without waiting; on SQLite the claim runs in a
``BEGIN IMMEDIATE`` transaction (see ``models.db``), which serialises claimers. Either way the claim sets a
lease and counts the attempt before anything is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from models.orm import (
    SUBSCRIPTION_COUNTER,
    Counter,
    Delivery,
    DeliveryItem,
    Need,
    Notification,
    Subscription,
)
from models.repositories import need_visible


class SubscriptionRepository:
    """Subscriptions of provider organisations."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, subscription_id: int) -> Subscription | None:
        return self.session.get(Subscription, subscription_id)

    def add(self, subscription: Subscription) -> Subscription:
        self.session.add(subscription)
        self.session.flush()
        return subscription

    def delete(self, subscription: Subscription) -> None:
        self.session.delete(subscription)
        self.session.flush()

    def by_token(self, token: str) -> Subscription | None:
        return self.session.scalars(select(Subscription).where(Subscription.unsubscribe_token == token)).first()

    def count_queries(self) -> int:
        """Subscriptions that follow a saved query (active or not: each has a text to embed)."""
        stmt = select(func.count()).select_from(Subscription).where(Subscription.query_text.is_not(None))
        return int(self.session.scalar(stmt) or 0)

    def queries_after(self, after: int, *, limit: int) -> list[Subscription]:
        """Up to ``limit`` subscriptions with a saved query whose id is above ``after``, in id order."""
        stmt = (
            select(Subscription)
            .where(Subscription.id > after, Subscription.query_text.is_not(None))
            .order_by(Subscription.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def listing(self, organisation_id: int | None, *, limit: int, offset: int) -> tuple[list[Subscription], int]:
        """Subscriptions of one organisation (``None``: of every organisation), oldest first."""
        stmt = select(Subscription)
        if organisation_id is not None:
            stmt = stmt.where(Subscription.organisation_id == organisation_id)
        total = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        items = list(self.session.scalars(stmt.order_by(Subscription.id).limit(limit).offset(offset)))
        return items, total

    def count_for(self, organisation_id: int) -> int:
        stmt = select(func.count()).where(Subscription.organisation_id == organisation_id)
        return self.session.scalar(stmt) or 0

    def active(self) -> list[Subscription]:
        """Every active subscription (for the in-memory alert index)."""
        stmt = select(Subscription).where(Subscription.active).order_by(Subscription.id)
        return list(self.session.scalars(stmt))

    def active_ids(self, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` still exist and are active (re-checked inside the transaction that writes alerts)."""
        if not ids:
            return set()
        stmt = select(Subscription.id).where(Subscription.id.in_(list(ids)), Subscription.active)
        return set(self.session.scalars(stmt))

    def change_seq(self) -> int:
        """The subscriptions counter: it moves whenever a subscription is created, changed or deleted."""
        stmt = select(Counter.value).where(Counter.name == SUBSCRIPTION_COUNTER)
        return int(self.session.scalar(stmt) or 0)


class NotificationRepository:
    """Notifications: one per (subscription, need); the provider's in-app feed."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, notification_id: int) -> Notification | None:
        return self.session.get(Notification, notification_id)

    def add(self, notification: Notification) -> Notification:
        self.session.add(notification)
        self.session.flush()
        return notification

    def notified(self, need_id: int) -> set[int]:
        """Subscriptions already notified about a need."""
        stmt = select(Notification.subscription_id).where(Notification.need_id == need_id)
        return set(self.session.scalars(stmt))

    def feed(
        self,
        organisation_id: int,
        *,
        visible_all: bool = False,
        visible_country: str | None = None,
        unread_only: bool,
        limit: int,
        offset: int,
    ) -> tuple[list[Notification], int]:
        """An organisation's feed, newest first: only notifications about needs the reader may still read
        (``visible_*`` as in ``NeedListing``)."""
        stmt = select(Notification).where(Notification.organisation_id == organisation_id, Notification.in_feed)
        stmt = self._visible(stmt, visible_all, visible_country)
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        total = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        ordered = stmt.order_by(Notification.created_at.desc(), Notification.id.desc())
        return list(self.session.scalars(ordered.limit(limit).offset(offset))), total

    @staticmethod
    def _visible(stmt: Select[Any], visible_all: bool, visible_country: str | None) -> Select[Any]:
        condition = need_visible(visible_all, visible_country)
        if condition is None:
            return stmt
        return stmt.join(Need, Need.id == Notification.need_id).where(condition)

    def mark_read(
        self,
        organisation_id: int,
        ids: Sequence[int],
        now: dt.datetime,
        *,
        visible_all: bool = False,
        visible_country: str | None = None,
    ) -> int:
        """Mark an organisation's notifications read (ids of other organisations, and of notifications about
        needs the reader may no longer read, are ignored)."""
        shown = self._visible(
            select(Notification.id).where(Notification.id.in_(list(ids))), visible_all, visible_country
        )
        result = self.session.execute(
            update(Notification)
            .where(
                Notification.organisation_id == organisation_id,
                Notification.id.in_(shown),
                Notification.read_at.is_(None),
            )
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class DeliveryRepository:
    """The outbox: deliveries and the notifications each carries."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def get(self, delivery_id: int) -> Delivery | None:
        return self.session.get(Delivery, delivery_id)

    def add(self, delivery: Delivery, notification_ids: Sequence[int]) -> Delivery:
        self.session.add(delivery)
        self.session.flush()
        self.add_items(delivery.id, notification_ids)
        return delivery

    def add_items(self, delivery_id: int, notification_ids: Sequence[int]) -> None:
        self.session.add_all(DeliveryItem(delivery_id=delivery_id, notification_id=n) for n in notification_ids)
        self.session.flush()

    def open_batch(self, subscription_id: int, channel: str, period: str, due_at: dt.datetime) -> Delivery | None:
        """A not-yet-attempted delivery that more notifications may join (a digest being filled).

        Locked on PostgreSQL so that a worker claiming it concurrently either sees the new items or, if it
        claimed first, makes this query find nothing (the row no longer has zero attempts).
        """
        stmt = select(Delivery).where(
            Delivery.subscription_id == subscription_id,
            Delivery.channel == channel,
            Delivery.period == period,
            Delivery.status == "pending",
            Delivery.attempts == 0,
            Delivery.body.is_(None),  # a retried dead letter keeps the body it was sent with
            Delivery.due_at == due_at,
        )
        if self._postgres:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt.order_by(Delivery.id).limit(1)).first()

    def recent_count(self, subscription_id: int, channel: str, since: dt.datetime) -> int:
        """Deliveries of one subscription and channel created since ``since`` (for the per-subscriber limit)."""
        stmt = select(func.count()).where(
            Delivery.subscription_id == subscription_id, Delivery.channel == channel, Delivery.created_at >= since
        )
        return self.session.scalar(stmt) or 0

    def claim(self, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[int]:
        """Take up to ``limit`` due deliveries: lease them until ``lease_until`` and count the attempt."""
        stmt = (
            select(Delivery.id)
            .where(
                Delivery.status == "pending",
                Delivery.due_at <= now,
                or_(Delivery.leased_until.is_(None), Delivery.leased_until < now),
            )
            .order_by(Delivery.due_at, Delivery.id)
            .limit(limit)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(self.session.scalars(stmt))
        if ids:
            self.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(leased_until=lease_until, attempts=Delivery.attempts + 1)
                .execution_options(synchronize_session=False)
            )
        return ids

    def update_attempt(self, delivery_id: int, attempt: int, values: Mapping[str, Any]) -> bool:
        """Write ``values`` to a pending delivery still at ``attempt``; False (nothing written) when another
        worker has claimed it since, or it was settled."""
        result = self.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.attempts == attempt, Delivery.status == "pending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    def remove_items(self, delivery_id: int, notification_ids: Sequence[int]) -> None:
        """Stop a delivery carrying these notifications."""
        if notification_ids:
            carried = DeliveryItem.notification_id.in_(list(notification_ids))
            self.session.execute(delete(DeliveryItem).where(DeliveryItem.delivery_id == delivery_id, carried))

    def move_items(self, from_id: int, to_id: int, notification_ids: Sequence[int]) -> None:
        """Hand these notifications of one delivery over to another."""
        if notification_ids:
            carried = DeliveryItem.notification_id.in_(list(notification_ids))
            self.session.execute(
                update(DeliveryItem)
                .where(DeliveryItem.delivery_id == from_id, carried)
                .values(delivery_id=to_id)
                .execution_options(synchronize_session=False)
            )

    def notifications_of(self, delivery_id: int) -> list[Notification]:
        stmt = (
            select(Notification)
            .join(DeliveryItem, DeliveryItem.notification_id == Notification.id)
            .where(DeliveryItem.delivery_id == delivery_id)
            .order_by(Notification.id)
        )
        return list(self.session.scalars(stmt))

    def listing(
        self,
        *,
        subscription_id: int | None = None,
        organisation_id: int | None = None,
        statuses: Sequence[str] = (),
        limit: int,
        offset: int,
    ) -> tuple[list[Delivery], int]:
        """Deliveries, newest first, of one subscription, of one organisation's subscriptions, or of all."""
        stmt = select(Delivery)
        if subscription_id is not None:
            stmt = stmt.where(Delivery.subscription_id == subscription_id)
        if organisation_id is not None:
            owned = select(Subscription.id).where(Subscription.organisation_id == organisation_id)
            stmt = stmt.where(Delivery.subscription_id.in_(owned))
        if statuses:
            stmt = stmt.where(Delivery.status.in_(list(statuses)))
        total = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        ordered = stmt.order_by(Delivery.created_at.desc(), Delivery.id.desc())
        return list(self.session.scalars(ordered.limit(limit).offset(offset))), total

    def counts(self) -> dict[str, int]:
        """Deliveries per status (for the worker's status line and ``/ready``-style checks)."""
        rows = self.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {status: int(count) for status, count in rows}

    def purge_delivered_before(self, cutoff: dt.datetime) -> int:
        """Forget delivered and cancelled deliveries older than ``cutoff`` (their notifications stay)."""
        result = self.session.execute(
            delete(Delivery).where(Delivery.status.in_(["delivered", "cancelled"]), Delivery.created_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)
