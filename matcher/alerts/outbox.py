"""The alert outbox: notifications written with the need, deliveries claimed, sent and settled by workers.

Writing (inside the transaction that creates or changes the need, so a crash between the two loses nothing):
each alert becomes a :class:`~models.orm.Notification` (the feed entry) and, per webhook or e-mail channel, a
place in a :class:`~models.orm.Delivery`:

- ``instant``: a delivery of its own, due now — unless the subscription already had
  ``instant_per_hour`` deliveries on that channel within the hour; then it joins one delivery due at the next
  full hour, sent as a digest (a burst of needs cannot flood a provider);
- ``daily`` / ``weekly``: it joins the subscription's not-yet-sent digest due at the next digest time.

Sending (the worker, :mod:`matcher.cli.worker`): :func:`claim` leases due deliveries and counts the attempt in its
own committed transaction; :func:`prepare` builds the message; :func:`settle` records the outcome only if the
delivery is still at the attempt this worker made. A worker killed after sending but before settling leaves a
lease that expires, and the delivery is sent again with the same ``uid``: at least once, duplicates
recognisable.

A webhook's body is rendered once, by the claim that first takes the delivery (claims are exclusive), and
stored with it: every attempt after that, retries and resends after a crash alike, sends exactly those bytes,
signed over them, whatever was edited in between. What a subscriber may read is checked at every attempt
(:mod:`matcher.access`): a stored body naming a need the subscriber may no longer read (made confidential
since) is never sent again; the delivery is cancelled and its other notifications go out in a new delivery,
with a new uid and a body of their own. Needs merely withdrawn or closed since stay in the body: they are
still readable, and the body is what the first attempt sent.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.alerts.mail import Digest, DigestItem
from matcher.alerts.reverse import Alert
from matcher.errors import DeliveryError, InvalidInputError
from matcher.language import catalogues as i18n
from matcher.language.catalogues import gettext as _
from matcher.language.explanations import explanation_view
from matcher.settings import NotificationSettings
from models import vocabularies as vocab
from models.orm import Delivery, Need, Notification, Subscription, utcnow
from models.outbox import DeliveryRepository, NotificationRepository, SubscriptionRepository
from models.repositories import OfferRepository, UserRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ERROR_LEN = 2000
# Needs whose alerts are still sent (a need withdrawn or closed before its alert went out is left out).
OPEN_NEEDS = ("open", "under_review")
_NOTHING_LEFT = "every need in it was withdrawn, closed or made confidential"


def new_uid() -> str:
    """A delivery's identity: the Standard Webhooks ``webhook-id`` and the e-mail's Message-ID."""
    return f"msg_{uuid.uuid4().hex}"


def next_digest(period: str, now: dt.datetime, settings: NotificationSettings) -> dt.datetime:
    """When the digest of ``period`` (``daily``, ``weekly``) that a notification made at ``now`` goes out."""
    at = now.astimezone(dt.UTC).replace(hour=settings.digest_hour, minute=0, second=0, microsecond=0)
    if at <= now:
        at += dt.timedelta(days=1)
    if period == "weekly":
        at += dt.timedelta(days=(settings.digest_weekday - at.weekday()) % 7)
    return at


def _next_hour(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)


def record_alerts(
    session: Session,
    need: Need,
    alerts: Sequence[Alert],
    settings: NotificationSettings,
    *,
    now: dt.datetime | None = None,
) -> list[Notification]:
    """Write the notifications and schedule the deliveries of ``alerts`` for a need just written.

    Subscriptions deleted or deactivated since the alerts were computed are skipped, and so are those already
    notified about this need (a changed need alerts only subscriptions it did not alert before). An alert
    whose offer was deleted meanwhile still notifies, without the offer (as the offer's deletion a moment
    later would have left it).
    """
    now = now or utcnow()
    if not alerts or need.visibility != "public":
        return []
    subscriptions = SubscriptionRepository(session)
    live = subscriptions.active_ids([a.subscription_id for a in alerts])
    offers = OfferRepository(session).existing_ids(a.offer_id for a in alerts if a.offer_id is not None)
    notifications = NotificationRepository(session)
    done = notifications.notified(need.id)
    deliveries = DeliveryRepository(session)
    written = []
    for alert in alerts:
        if alert.subscription_id not in live or alert.subscription_id in done:
            continue
        subscription = subscriptions.get(alert.subscription_id)
        assert subscription is not None
        notification = notifications.add(
            Notification(
                subscription_id=subscription.id,
                organisation_id=subscription.organisation_id,
                need_id=need.id,
                offer_id=alert.offer_id if alert.offer_id in offers else None,
                score=alert.score,
                components=dict(alert.components),
                explanation=alert.explanation.as_json(),
                in_feed="feed" in subscription.channels,
                created_at=now,
            )
        )
        done.add(subscription.id)
        written.append(notification)
        for channel in subscription.channels:
            if channel != "feed":
                _schedule(deliveries, subscription, channel, notification.id, settings, now)
    return written


def _schedule(
    deliveries: DeliveryRepository,
    subscription: Subscription,
    channel: str,
    notification_id: int,
    settings: NotificationSettings,
    now: dt.datetime,
) -> None:
    period = subscription.delivery
    if period == "instant":
        recent = deliveries.recent_count(subscription.id, channel, now - dt.timedelta(hours=1))
        if recent < settings.instant_per_hour:
            deliveries.add(_delivery(subscription.id, channel, "instant", now), [notification_id])
            return
        period, due = "hourly", _next_hour(now)
    else:
        due = next_digest(period, now, settings)
    batch = deliveries.open_batch(subscription.id, channel, period, due)
    if batch is not None:
        deliveries.add_items(batch.id, [notification_id])
    else:
        deliveries.add(_delivery(subscription.id, channel, period, due), [notification_id])


def _delivery(subscription_id: int, channel: str, period: str, due: dt.datetime) -> Delivery:
    return Delivery(uid=new_uid(), subscription_id=subscription_id, channel=channel, period=period, due_at=due)


# ------------------------------------------------------------------------------------------ sending


def claim(session: Session, settings: NotificationSettings, *, now: dt.datetime | None = None) -> list[int]:
    """Lease up to ``batch_size`` due deliveries for ``lease_s`` and count the attempt (commit before sending);
    a webhook delivery claimed for the first time gets its body (see the module docstring)."""
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=settings.lease_s)
    ids = DeliveryRepository(session).claim(now, lease, settings.batch_size)
    for delivery_id in ids:
        _keep_body(session, delivery_id, settings)
    return ids


def _sendable(reader: Principal, notifications: Sequence[Notification]) -> list[Notification]:
    """The notifications still worth sending: about needs the subscriber may read that are still open."""
    return [n for n in notifications if access.can_read_need(reader, n.need) and n.need.status in OPEN_NEEDS]


def _keep_body(session: Session, delivery_id: int, settings: NotificationSettings) -> None:
    """Render a webhook delivery's body if it has none yet, and keep only the notifications it shows.

    A delivery with nothing left to send keeps no body: :func:`prepare` cancels it.
    """
    deliveries = DeliveryRepository(session)
    delivery = deliveries.get(delivery_id)
    if delivery is None or delivery.channel != "webhook" or delivery.body is not None:
        return
    subscription = SubscriptionRepository(session).get(delivery.subscription_id)
    if subscription is None:
        return
    carried = deliveries.notifications_of(delivery_id)
    shown = _sendable(access.subscriber(subscription.organisation_id), carried)
    if not shown:
        return
    deliveries.remove_items(delivery_id, [n.id for n in carried if n not in shown])
    delivery.body = webhook_body(delivery, subscription, shown, settings)


@dataclass(frozen=True, slots=True)
class Message:
    """A claimed delivery, ready to send.

    Attributes:
        delivery_id: the outbox row.
        attempt: the attempt this claim counted (settling checks it is still current).
        uid: the message identity (same on every attempt).
        channel: ``webhook`` or ``email``.
        target: the webhook URL or the e-mail address.
        secret: the webhook signing secret (never logged).
        body: the webhook's JSON body (identical on every attempt).
        digest: the e-mail's content.
    """

    delivery_id: int
    attempt: int
    uid: str
    channel: Literal["webhook", "email"]
    target: str
    secret: str | None
    body: str | None
    digest: Digest | None


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A claimed delivery not to send, why, and which of its notifications go out anew (``requeue``)."""

    delivery_id: int
    attempt: int
    reason: str
    requeue: tuple[int, ...] = ()


def prepare(session: Session, delivery_id: int, settings: NotificationSettings) -> Message | Cancelled | None:
    """The message of a claimed delivery (``None`` if the delivery is gone, e.g. its subscription deleted).

    A webhook sends its stored body, unless a need in it is no longer readable by the subscriber: then it is
    cancelled and its other notifications are requeued. An e-mail leaves out needs withdrawn, closed or made
    confidential since the alert. A delivery left with no need at all, or whose subscription was deactivated,
    is cancelled rather than sent.
    """
    delivery = DeliveryRepository(session).get(delivery_id)
    if delivery is None:
        return None
    subscription = SubscriptionRepository(session).get(delivery.subscription_id)
    if subscription is None:
        return None
    attempt = delivery.attempts
    if not subscription.active:
        return Cancelled(delivery_id, attempt, "the subscription was deactivated")
    target = subscription.webhook_url if delivery.channel == "webhook" else subscription.email
    if not target:
        return Cancelled(delivery_id, attempt, f"the subscription no longer has a {delivery.channel} channel")
    reader = access.subscriber(subscription.organisation_id)
    carried = DeliveryRepository(session).notifications_of(delivery_id)
    if delivery.channel == "webhook":
        if delivery.body is None:
            return Cancelled(delivery_id, attempt, _NOTHING_LEFT)
        hidden = sorted({n.need_id for n in carried if not access.can_read_need(reader, n.need)})
        if hidden:
            requeue = tuple(n.id for n in _sendable(reader, carried))
            reason = (
                f"need {', '.join(map(str, hidden))} is no longer visible to the subscriber; the message naming "
                "it was not sent again" + ("; its other needs go out in a new delivery" if requeue else "")
            )
            return Cancelled(delivery_id, attempt, reason, requeue)
        return Message(
            delivery_id, attempt, delivery.uid, "webhook", target, subscription.webhook_secret, delivery.body, None
        )
    notifications = _sendable(reader, carried)
    if not notifications:
        return Cancelled(delivery_id, attempt, _NOTHING_LEFT)
    digest = _digest(session, delivery, subscription, notifications, settings, target)
    return Message(delivery_id, attempt, delivery.uid, "email", target, None, None, digest)


def _need_url(settings: NotificationSettings, need_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/needs/{need_id}"


def _offer_title(session: Session, reader: Principal, notification: Notification) -> str | None:
    """The title of the offer an alert names, if the subscriber may read it (it is normally its own)."""
    if notification.offer_id is None:
        return None
    offer = OfferRepository(session).get(notification.offer_id)
    return offer.title if offer is not None and access.can_read_offer(reader, offer) else None


def webhook_body(
    delivery: Delivery,
    subscription: Subscription,
    notifications: Sequence[Notification],
    settings: NotificationSettings,
) -> str:
    """The JSON body of a webhook delivery (rendered once per delivery, see :func:`claim`)."""
    items = []
    for n in notifications:
        need = n.need
        country = vocab.countries().get(need.party)
        items.append(
            {
                "notification_id": n.id,
                "need": {
                    "id": need.id,
                    "title": need.title,
                    "party": need.party,
                    "region": country.region if country else None,
                    "sub_region": country.sub_region if country else None,
                    "targets": list(need.targets),
                    "assistance_types": list(need.assistance_types),
                    "language": need.language,
                    "url": _need_url(settings, need.id),
                },
                "offer_id": n.offer_id,
                "score": round(n.score, 6),
                "components": {k: round(v, 6) for k, v in n.components.items()},
                "explanation": n.explanation,
            }
        )
    created = delivery.created_at.replace(tzinfo=delivery.created_at.tzinfo or dt.UTC)
    payload: dict[str, Any] = {
        "type": "needs.matched",
        "timestamp": created.isoformat(),
        "data": {
            "subscription_id": subscription.id,
            "period": delivery.period,
            "notifications": items,
        },
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def recipient_locale(session: Session, subscription: Subscription) -> str:
    """The language of a subscription's e-mails: that of the person who made it (in the pages, or with one of
    their API keys), English when no one did or their language has no catalogue."""
    creator = UserRepository(session).get(subscription.created_by) if subscription.created_by is not None else None
    return i18n.supported(creator.locale if creator is not None else None)


def _digest(
    session: Session,
    delivery: Delivery,
    subscription: Subscription,
    notifications: Sequence[Notification],
    settings: NotificationSettings,
    to: str,
) -> Digest:
    locale = recipient_locale(session, subscription)
    items = []
    for n in notifications:
        # The stored explanation carries language-free facts: worded in the recipient's language here (JSON
        # stored before facts existed keeps its English sentences).
        words = explanation_view(n.explanation, locale)
        items.append(
            DigestItem(
                need_id=n.need.id,
                title=n.need.title,
                party=n.need.party,
                score=n.score,
                summary=words.summary,
                reasons=words.reasons,
                offer_title=_offer_title(session, access.subscriber(subscription.organisation_id), n),
                url=_need_url(settings, n.need.id),
            )
        )
    with i18n.activated(i18n.page_locale(locale)):
        label = subscription.label or (
            _("Needs your offers fit")
            if subscription.kind == "offers"
            else _("Saved search: %(query)s") % {"query": subscription.query_text}
        )
    period: Literal["instant", "daily", "weekly"] = (
        "daily" if delivery.period == "daily" else "weekly" if delivery.period == "weekly" else "instant"
    )
    return Digest(
        to=to,
        organisation=subscription.organisation.name,
        subscription_id=subscription.id,
        subscription_label=label,
        period=period,
        items=tuple(items),
        unsubscribe_url=f"{settings.public_url.rstrip('/')}/v1/unsubscribe/{subscription.unsubscribe_token}",
        delivery_id=delivery.uid,
        locale=locale,
    )


def backoff(attempt: int, settings: NotificationSettings, rng: random.Random) -> float:
    """Seconds before retry ``attempt + 1``: exponential, capped, with equal jitter (half fixed, half random)."""
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2.0 ** max(attempt - 1, 0))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def settle(
    session: Session,
    delivery_id: int,
    attempt: int,
    settings: NotificationSettings,
    *,
    error: DeliveryError | None = None,
    cancelled: str | None = None,
    requeue: Sequence[int] = (),
    status_code: int | None = None,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> str | None:
    """Record the outcome of ``attempt``: delivered, cancelled, retried later, or dead-lettered.

    A cancelled delivery hands the notifications in ``requeue`` over to a new delivery, due now. Nothing is
    written if the delivery has moved on (another worker re-claimed it after this one's lease expired);
    returns the new status, or ``None`` in that case.
    """
    now = now or utcnow()
    values: dict[str, Any] = {"leased_until": None}
    if cancelled is not None:
        values |= {"status": "cancelled", "last_error": cancelled[:ERROR_LEN]}
    elif error is None:
        values |= {"status": "delivered", "delivered_at": now, "last_error": None, "last_status": status_code}
    else:
        values |= {"last_error": str(error)[:ERROR_LEN], "last_status": error.status_code}
        if error.retryable and attempt < settings.max_attempts:
            delay = backoff(attempt, settings, rng or random.Random())  # noqa: S311 - jitter, not crypto
            values |= {"due_at": now + dt.timedelta(seconds=delay)}
        else:
            values |= {"status": "dead"}
    if not DeliveryRepository(session).update_attempt(delivery_id, attempt, values):
        return None
    if cancelled is not None and requeue:
        _requeue(session, delivery_id, requeue, now)
    return str(values.get("status", "pending"))


def _requeue(session: Session, delivery_id: int, notification_ids: Sequence[int], now: dt.datetime) -> None:
    deliveries = DeliveryRepository(session)
    original = deliveries.get(delivery_id)
    assert original is not None
    fresh = deliveries.add(_delivery(original.subscription_id, original.channel, original.period, now), [])
    deliveries.move_items(delivery_id, fresh.id, notification_ids)


def retry_dead(session: Session, delivery: Delivery, *, now: dt.datetime | None = None) -> Delivery:
    """Queue a dead-lettered (or cancelled) delivery again, with a fresh attempt budget and the same uid."""
    if delivery.status not in ("dead", "cancelled"):
        raise InvalidInputError(
            f"delivery {delivery.id} is {delivery.status}; only dead or cancelled ones are retried"
        )
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.due_at = now or utcnow()
    delivery.leased_until = None
    session.flush()
    return delivery
