"""Subscriptions: providers' standing requests to hear about new needs (create, read, list, change, delete).

Functions take the caller's session (they never commit) and the caller. ``values`` are validated by an input
model; the checks here are the ones that span fields or need the settings: a saved query needs its text, a
top-N rule and a least fit verdict (``min_verdict``) apply to offers, each channel needs its address, webhook
targets pass the SSRF checks, e-mail needs a configured mail server, and an organisation holds a bounded number
of subscriptions.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.alerts.webhooks import WebhookPolicy, check_target, new_secret
from matcher.errors import InvalidInputError, NotFoundError
from matcher.records.needs import check_version
from matcher.settings import NotificationSettings
from models.orm import DEFAULT_MIN_VERDICT, Subscription
from models.outbox import SubscriptionRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Defaults chosen so that a provider who only says "subscribe" hears about needs its offers would rank for.
DEFAULT_RULES = {"offers": ("top_n", 10), "query": ("min_score", 0.45)}
_FIELDS = frozenset(
    {
        "label",
        "kind",
        "query",
        "filters",
        "rule",
        "min_score",
        "top_n",
        "min_verdict",
        "delivery",
        "channels",
        "webhook_url",
        "email",
    }
)


@dataclass(frozen=True, slots=True)
class Created:
    """A new subscription and its webhook signing secret (shown once; ``None`` without a webhook channel)."""

    subscription: Subscription
    webhook_secret: str | None


def create_subscription(
    session: Session, principal: Principal, values: Mapping[str, Any], settings: NotificationSettings
) -> Created:
    """Subscribe the caller's organisation (see the module docstring for the checks)."""
    organisation_id = access.check_create_subscription(principal)
    repo = SubscriptionRepository(session)
    if repo.count_for(organisation_id) >= settings.max_subscriptions:
        raise InvalidInputError(
            f"your organisation has {settings.max_subscriptions} subscriptions, the most allowed: "
            "delete or change one instead"
        )
    resolved = _resolve(dict(values))
    _check(resolved, settings)
    subscription = Subscription(
        organisation_id=organisation_id,
        created_by=principal.user_id,
        unsubscribe_token=secrets.token_urlsafe(32),
        **_columns(resolved),
    )
    secret = new_secret() if "webhook" in resolved["channels"] else None
    subscription.webhook_secret = secret
    return Created(repo.add(subscription), secret)


def get_subscription(session: Session, principal: Principal, subscription_id: int) -> Subscription:
    return access.check_read_subscription(
        principal, SubscriptionRepository(session).get(subscription_id), subscription_id
    )


def list_subscriptions(
    session: Session, principal: Principal, *, limit: int, offset: int
) -> tuple[list[Subscription], int]:
    """The caller's organisation's subscriptions (every organisation's for the secretariat)."""
    access.require_signed_in(principal)
    if principal.is_staff:
        return SubscriptionRepository(session).listing(None, limit=limit, offset=offset)
    organisation_id = access.check_feed(principal)
    return SubscriptionRepository(session).listing(organisation_id, limit=limit, offset=offset)


def update_subscription(
    session: Session,
    principal: Principal,
    subscription_id: int,
    changes: Mapping[str, Any],
    settings: NotificationSettings,
    *,
    version: int | None,
) -> Created:
    """Apply ``changes`` (any creatable field, plus ``active``); the result is checked as a whole.

    Returns the subscription and, when a webhook channel was added to a subscription without a secret, the
    new secret (shown once).
    """
    repo = SubscriptionRepository(session)
    subscription = access.check_change_subscription(principal, repo.get(subscription_id), subscription_id)
    check_version("subscription", subscription_id, subscription.version, version)
    current = _current(subscription)
    merged = {**current, **{k: v for k, v in changes.items() if k in _FIELDS}}
    if "kind" in changes and "rule" not in changes and changes["kind"] != current["kind"]:
        merged.pop("rule", None)  # a new kind takes its own default rule
        merged.pop("min_score", None)
        merged.pop("top_n", None)
    if "kind" in changes and "min_verdict" not in changes and changes["kind"] != current["kind"]:
        merged.pop("min_verdict", None)  # a new kind takes its own default (none for a saved query)
    channels = set(merged.get("channels") or ["feed"])
    for channel, address in (("webhook", "webhook_url"), ("email", "email")):
        if channel not in channels and address not in changes:
            merged[address] = None  # dropping a channel drops its address
    resolved = _resolve(merged)
    _check(resolved, settings)
    for name, value in _columns(resolved).items():
        setattr(subscription, name, value)
    if "active" in changes:
        subscription.active = bool(changes["active"])
    secret = None
    if "webhook" in resolved["channels"] and not subscription.webhook_secret:
        secret = subscription.webhook_secret = new_secret()
    session.flush()
    return Created(subscription, secret)


def rotate_secret(session: Session, principal: Principal, subscription_id: int) -> Created:
    """A new webhook signing secret (the old one stops working at once)."""
    repo = SubscriptionRepository(session)
    subscription = access.check_change_subscription(principal, repo.get(subscription_id), subscription_id)
    if "webhook" not in subscription.channels:
        raise InvalidInputError("this subscription has no webhook channel, so no signing secret", field="channels")
    subscription.webhook_secret = new_secret()
    session.flush()
    return Created(subscription, subscription.webhook_secret)


def delete_subscription(
    session: Session, principal: Principal, subscription_id: int, *, version: int | None
) -> None:
    repo = SubscriptionRepository(session)
    subscription = access.check_change_subscription(
        principal, repo.get(subscription_id), subscription_id, deleting=True
    )
    check_version("subscription", subscription_id, subscription.version, version)
    repo.delete(subscription)


def by_unsubscribe_token(session: Session, token: str) -> Subscription:
    """The subscription behind an e-mail's unsubscribe link."""
    subscription = SubscriptionRepository(session).by_token(token) if token else None
    if subscription is None:
        raise NotFoundError("this unsubscribe link is not valid (the subscription may have been deleted)")
    return subscription


def unsubscribe(session: Session, token: str) -> Subscription:
    """Deactivate the subscription behind an e-mail's unsubscribe link (the token is the only credential)."""
    subscription = by_unsubscribe_token(session, token)
    subscription.active = False
    session.flush()
    return subscription


def _current(subscription: Subscription) -> dict[str, Any]:
    return {
        "label": subscription.label,
        "kind": subscription.kind,
        "query": subscription.query_text,
        "filters": dict(subscription.filters or {}),
        "rule": subscription.rule,
        "min_score": subscription.min_score,
        "top_n": subscription.top_n,
        "min_verdict": subscription.min_verdict,
        "delivery": subscription.delivery,
        "channels": list(subscription.channels),
        "webhook_url": subscription.webhook_url,
        "email": subscription.email,
    }


def _resolve(values: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults: kind ``offers``, the kind's rule, instant delivery, the in-app feed."""
    values.setdefault("kind", "offers")
    if values.get("rule") is None:
        rule, threshold = DEFAULT_RULES[values["kind"]]
        values["rule"] = rule
        key = "top_n" if rule == "top_n" else "min_score"
        if values.get(key) is None:
            values[key] = threshold
    if values["kind"] == "offers" and values.get("min_verdict") is None:
        values["min_verdict"] = DEFAULT_MIN_VERDICT
    values["delivery"] = values.get("delivery") or "instant"
    values["channels"] = sorted(set(values.get("channels") or ["feed"]))
    values["filters"] = {k: sorted(v) for k, v in (values.get("filters") or {}).items() if v}
    return values


def _check(values: Mapping[str, Any], settings: NotificationSettings) -> None:
    kind, rule = values["kind"], values["rule"]
    if kind == "query" and not (values.get("query") or "").strip():
        raise InvalidInputError("a saved-query subscription needs the query text: give 'query'", field="query")
    if kind == "offers" and values.get("query"):
        raise InvalidInputError(
            "'query' is for kind 'query'; a kind 'offers' subscription follows your offers", field="query"
        )
    if rule == "top_n" and kind != "offers":
        raise InvalidInputError(
            "rule 'top_n' (one of your offers among the need's top N providers) needs kind 'offers'; "
            "use rule 'min_score' for a saved query",
            field="rule",
        )
    if kind == "query" and values.get("min_verdict") is not None:
        raise InvalidInputError(
            "'min_verdict' is for kind 'offers': a verdict judges how well one of your offers fits a need, and "
            "a saved query has no offer; use 'min_score' (the need's similarity to the query)",
            field="min_verdict",
        )
    if rule == "top_n" and values.get("top_n") is None:
        raise InvalidInputError("rule 'top_n' needs 'top_n' (1-50)", field="top_n")
    if rule == "min_score" and values.get("min_score") is None:
        raise InvalidInputError("rule 'min_score' needs 'min_score'", field="min_score")
    channels = values["channels"]
    if "webhook" in channels:
        if not values.get("webhook_url"):
            raise InvalidInputError("the webhook channel needs 'webhook_url'", field="webhook_url")
        check_target(values["webhook_url"], WebhookPolicy.from_settings(settings))
    elif values.get("webhook_url"):
        raise InvalidInputError("'webhook_url' is set but 'webhook' is not among the channels", field="channels")
    if "email" in channels:
        if not values.get("email"):
            raise InvalidInputError("the email channel needs 'email'", field="email")
        if not settings.smtp.host:
            raise InvalidInputError(
                "this server has no mail server configured (POLLINATE_NOTIFICATIONS__SMTP__HOST); "
                "use the feed or a webhook",
                field="channels",
            )
    elif values.get("email"):
        raise InvalidInputError("'email' is set but 'email' is not among the channels", field="channels")


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    rule = values["rule"]
    return {
        "label": values.get("label"),
        "kind": values["kind"],
        "query_text": (values.get("query") or "").strip() or None,
        "filters": dict(values["filters"]),
        "rule": rule,
        "min_score": values.get("min_score") if rule == "min_score" else None,
        "top_n": values.get("top_n") if rule == "top_n" else None,
        "min_verdict": values.get("min_verdict"),
        "delivery": values["delivery"],
        "channels": list(values["channels"]),
        "webhook_url": values.get("webhook_url"),
        "email": values.get("email"),
    }
