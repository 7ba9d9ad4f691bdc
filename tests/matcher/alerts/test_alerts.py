"""Alerts below the HTTP layer: subscription checks, exact reverse scoring, outbox scheduling and settling."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from matcher.access.accounts import create_user
from matcher.access.rules import Principal
from matcher.alerts import subscriptions
from matcher.alerts.mail import Digest
from matcher.alerts.outbox import Cancelled, backoff, claim, next_digest, prepare, record_alerts, settle
from matcher.alerts.reverse import Alert, AlertMatcher
from matcher.engine.explain import Explanation, Fact
from matcher.engine.index import threshold
from matcher.engine.query import NeedQuery
from matcher.errors import DeliveryError, InvalidInputError, PermissionDeniedError, WebhookTargetError
from matcher.language.catalogues import translations
from matcher.records import needs
from matcher.records.seed import seed_demo
from matcher.settings import NotificationSettings, SmtpSettings
from models.db import Database
from models.orm import Delivery, DeliveryItem, Organisation, Subscription
from tests.factories import service

STAFF = Principal(role="secretariat")
DEFAULTS = NotificationSettings()


def provider(db: Database, name: str = "Provider") -> Principal:
    with db.transaction() as session:
        org = Organisation(name=name, org_type="ngo", country="FRA")
        session.add(org)
        session.flush()
        return Principal(role="provider", user_id=None, organisation_id=org.id)


def create(db: Database, who: Principal, settings: NotificationSettings = DEFAULTS, **values: Any) -> Subscription:
    with db.transaction() as session:
        return subscriptions.create_subscription(session, who, values, settings).subscription


# ------------------------------------------------------------------------------------ subscriptions


def test_a_default_subscription_follows_the_offers_with_a_top_10_rule_in_the_feed(sqlite_db: Database) -> None:
    row = create(sqlite_db, provider(sqlite_db))
    assert (row.kind, row.rule, row.top_n, row.min_score, row.delivery, row.channels) == (
        "offers",
        "top_n",
        10,
        None,
        "instant",
        ["feed"],
    )


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"kind": "query"}, "query", "query text"),
        ({"query": "wetlands"}, "query", "kind 'query'"),
        ({"kind": "query", "query": "wetlands", "rule": "top_n", "top_n": 5}, "rule", "kind 'offers'"),
        ({"channels": ["webhook"]}, "webhook_url", "webhook_url"),
        ({"webhook_url": "https://example.org/h"}, "channels", "not among the channels"),
        ({"channels": ["email"], "email": "a@example.org"}, "channels", "no mail server"),
    ],
)
def test_inconsistent_subscriptions_are_refused_naming_the_field(
    sqlite_db: Database, values: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        create(sqlite_db, provider(sqlite_db), **values)
    assert raised.value.field == field
    assert words in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/h",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/h",
        "https://localhost/h",
        "https://10.1.2.3/h",
        "http://example.org/h",
    ],
)
def test_production_settings_refuse_unsafe_webhook_targets(sqlite_db: Database, url: str) -> None:
    with pytest.raises(WebhookTargetError) as raised:
        create(sqlite_db, provider(sqlite_db), channels=["webhook"], webhook_url=url)
    assert raised.value.field == "webhook_url"


def test_only_providers_subscribe_and_each_organisation_holds_a_bounded_number(sqlite_db: Database) -> None:
    for role in ("secretariat", "admin"):
        with pytest.raises(PermissionDeniedError):
            create(sqlite_db, Principal(role=role))  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError):
        create(sqlite_db, Principal(role="party", country="KEN"))
    who = provider(sqlite_db)
    few = NotificationSettings(max_subscriptions=2)
    create(sqlite_db, who, few)
    create(sqlite_db, who, few)
    with pytest.raises(InvalidInputError, match="most allowed"):
        create(sqlite_db, who, few)


def test_dropping_the_webhook_channel_drops_its_address_and_changing_kind_takes_its_default_rule(
    sqlite_db: Database,
) -> None:
    who = provider(sqlite_db)
    local = NotificationSettings(webhook_allow_http=True, webhook_allow_private=True)
    row = create(sqlite_db, who, local, channels=["webhook"], webhook_url="http://127.0.0.1:9/h")
    with sqlite_db.transaction() as session:
        changed = subscriptions.update_subscription(
            session, who, row.id, {"channels": ["feed"]}, local, version=row.version
        ).subscription
        assert changed.webhook_url is None
        changed = subscriptions.update_subscription(
            session, who, row.id, {"kind": "query", "query": "seed banks"}, local, version=None
        ).subscription
        assert (changed.rule, changed.min_score, changed.top_n) == ("min_score", 0.45, None)


# ---------------------------------------------------------------------------- exact reverse scoring


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, Any]:
    path: Path = tmp_path_factory.mktemp("alerts") / "demo.db"
    db = Database(f"sqlite:///{path}")
    from models import migrate

    migrate.upgrade(db)
    seed_demo(db)
    return db, service(db)


NEED = NeedQuery(
    title="Restoring mangroves",
    description="We need help restoring mangroves and monitoring coastal wetlands with local communities.",
    targets=(2, 11),
    assistance_types=("technical_advice",),
    language="en",
    party="KEN",
)


@settings(max_examples=20, deadline=None)
@given(
    floor=st.floats(min_value=-0.2, max_value=1.4),
    share=st.floats(min_value=0.05, max_value=1.0),
    first_depth=st.sampled_from([1, 7, 256]),
)
def test_offers_scoring_at_least_a_floor_equal_a_brute_force_scan(
    demo: tuple[Database, Any], floor: float, share: float, first_depth: int
) -> None:
    _, svc = demo
    # Small first depths exercise the widening. patch.object restores the module's own value after each
    # example (the monkeypatch fixture is per test, not per hypothesis example).
    with patch.object(threshold, "FIRST_DEPTH", first_depth):
        _check_against_brute_force(svc, floor, share)


def _check_against_brute_force(svc: Any, floor: float, share: float) -> None:
    """The offers found are those of the chosen organisations that the need's full forward ranking scores at
    least ``floor``, with the ranking's scores, components and verdicts (one scoring path: BM25 among all
    allowed offers and feedback included, so the calibration of rankings applies to alerts)."""
    organisations = sorted({int(o) for o in svc.catalog.column("org_id")[: len(svc.index)]})
    chosen = set(random.Random(int(floor * 1000)).sample(organisations, max(1, int(len(organisations) * share))))
    found = {s.offer.id: s for s in svc.offers_scoring_at_least(NEED, chosen, floor=floor)}

    ranking = svc.match_batch([NEED], k=len(svc.index), explain_matches=False)[0]
    expected = {m.offer_id: m for m in ranking.matches if m.organisation_id in chosen and m.score >= floor}
    assert found.keys() == expected.keys()
    for offer_id, scored in found.items():
        match = expected[offer_id]
        assert scored.score == pytest.approx(match.score, abs=1e-5)
        assert scored.components == pytest.approx(match.components, abs=1e-5)
        assert (scored.fit.verdict, scored.fit.probability) == (match.verdict, match.probability)


def test_top_n_alerts_follow_the_forward_ranking(demo: tuple[Database, Any]) -> None:
    db, svc = demo
    ranking = svc.match(NEED, k=5)
    first, fifth = ranking.matches[0], ranking.matches[4]
    with db.transaction() as session:
        for org, n in ((first.organisation_id, 1), (fifth.organisation_id, 4)):
            session.add(
                Subscription(
                    organisation_id=org,
                    kind="offers",
                    rule="top_n",
                    top_n=n,
                    delivery="instant",
                    channels=["feed"],
                    filters={},
                    unsubscribe_token=f"token-{org}-{n}-" + "x" * 20,
                )
            )
    alerts = AlertMatcher(svc).alerts(NEED, visibility="public", status="open")
    by_org = {a.organisation_id: a for a in alerts}
    assert first.organisation_id in by_org and by_org[first.organisation_id].offer_id == first.offer_id
    if fifth.organisation_id not in {m.organisation_id for m in ranking.matches[:4]}:
        assert fifth.organisation_id not in by_org  # 5th is outside its top 4
    assert AlertMatcher(svc).alerts(NEED, visibility="confidential", status="open") == []
    assert AlertMatcher(svc).alerts(NEED, visibility="public", status="withdrawn") == []


# -------------------------------------------------------------------------------------- the outbox


def test_digest_times() -> None:
    s = NotificationSettings(digest_hour=7, digest_weekday=0)
    before = dt.datetime(2026, 11, 18, 6, 30, tzinfo=dt.UTC)  # a Wednesday
    assert next_digest("daily", before, s) == dt.datetime(2026, 11, 18, 7, tzinfo=dt.UTC)
    assert next_digest("daily", before.replace(hour=7), s) == dt.datetime(2026, 11, 19, 7, tzinfo=dt.UTC)
    assert next_digest("weekly", before, s) == dt.datetime(2026, 11, 23, 7, tzinfo=dt.UTC)  # next Monday


def test_backoff_grows_exponentially_within_its_jitter_and_cap() -> None:
    s = NotificationSettings(backoff_base_s=10, backoff_max_s=100)
    rng = random.Random(1)
    for attempt, ceiling in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        delays = [backoff(attempt, s, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 10  # jittered


def _queue_needs(db: Database, who: Principal, count: int, **values: Any) -> tuple[Subscription, list[int]]:
    local = NotificationSettings(webhook_allow_http=True, webhook_allow_private=True)
    row = create(db, who, local, channels=["webhook"], webhook_url="http://127.0.0.1:9/h", **values)
    ids = []
    with db.transaction() as session:
        for i in range(count):
            body = {
                "title": f"Need {i} for the outbox",
                "description": "A need for the outbox tests, long enough.",
                "targets": [1],
                "assistance_types": ["training"],
                "party": "KEN",
            }
            ids.append(needs.create_need(session, needs.plan_need(session, STAFF, body)).id)
    return row, ids


def _alert(row: Subscription) -> Alert:
    return Alert(row.id, row.organisation_id, None, 0.7, {"semantic": 0.7}, Explanation("Fits.", ("Because.",)))


def test_a_burst_beyond_the_hourly_limit_waits_for_the_next_hour_as_one_digest(db: Database) -> None:
    row, ids = _queue_needs(db, provider(db), 7)
    limits = NotificationSettings(instant_per_hour=3)
    now = dt.datetime(2026, 11, 21, 10, 20, tzinfo=dt.UTC)
    with db.transaction() as session:
        for need_id in ids:
            need = needs.get_need(session, STAFF, need_id)
            record_alerts(session, need, [_alert(row)], limits, now=now)
            record_alerts(session, need, [_alert(row)], limits, now=now)  # a second time: nothing new
    with db.transaction(read_only=True) as session:
        deliveries = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        items = {
            d.id: len(session.scalars(select(DeliveryItem).where(DeliveryItem.delivery_id == d.id)).all())
            for d in deliveries
        }
        shape = [(d.period, items[d.id]) for d in deliveries]
        due = [d.due_at.replace(tzinfo=dt.UTC) for d in deliveries]
    assert shape == [("instant", 1)] * 3 + [("hourly", 4)]
    assert due[-1] == dt.datetime(2026, 11, 21, 11, tzinfo=dt.UTC)


def test_a_daily_subscription_fills_one_digest_until_it_is_claimed(db: Database) -> None:
    row, ids = _queue_needs(db, provider(db), 3, delivery="daily")
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        for need_id in ids[:2]:
            record_alerts(session, needs.get_need(session, STAFF, need_id), [_alert(row)], DEFAULTS, now=now)
    with db.transaction() as session:  # the digest goes out: it is claimed ...
        session.execute(Delivery.__table__.update().values(due_at=now - dt.timedelta(seconds=1)))
        assert len(claim(session, DEFAULTS)) == 1
    with db.transaction() as session:  # ... so a later need starts the next digest instead of joining it
        record_alerts(session, needs.get_need(session, STAFF, ids[2]), [_alert(row)], DEFAULTS, now=now)
    with db.transaction(read_only=True) as session:
        sizes = [
            len(session.scalars(select(DeliveryItem).where(DeliveryItem.delivery_id == d)).all())
            for d in session.scalars(select(Delivery.id).order_by(Delivery.id))
        ]
    assert sizes == [2, 1]


def test_settling_a_stale_attempt_changes_nothing(db: Database) -> None:
    row, ids = _queue_needs(db, provider(db), 1)
    with db.transaction() as session:
        record_alerts(session, needs.get_need(session, STAFF, ids[0]), [_alert(row)], DEFAULTS)
    past = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    with db.transaction() as session:
        (first,) = claim(session, DEFAULTS, now=past)
    later = past + dt.timedelta(seconds=DEFAULTS.lease_s + 1)  # the lease expired: another worker claims it
    with db.transaction() as session:
        assert claim(session, DEFAULTS, now=later) == [first]
    with db.transaction() as session:  # the first worker finally reports a failure for attempt 1
        assert settle(session, first, 1, DEFAULTS, error=DeliveryError("timeout")) is None
        assert settle(session, first, 2, DEFAULTS) == "delivered"
    with db.transaction(read_only=True) as session:
        delivery = session.get(Delivery, first)
        assert delivery is not None and (delivery.status, delivery.attempts) == ("delivered", 2)


def test_claims_by_concurrent_workers_never_overlap(db: Database) -> None:
    import threading

    row, ids = _queue_needs(db, provider(db), 40)
    with db.transaction() as session:
        for need_id in ids:
            record_alerts(
                session,
                needs.get_need(session, STAFF, need_id),
                [_alert(row)],
                NotificationSettings(instant_per_hour=1000),
            )
    small = NotificationSettings(batch_size=3)
    claimed: list[int] = []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    def worker() -> None:
        while True:
            got = db.run(lambda session: claim(session, small, now=later))
            if not got:
                return
            claimed.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 40


# ------------------------------------------------------------------------ the recipient's language


def _subscriber(db: Database, locale: str | None) -> Principal:
    """A provider person (with ``locale``, their language setting) of a new organisation."""
    with db.transaction() as session:
        org = Organisation(name=f"Provider speaking {locale}", org_type="ngo", country="FRA")
        session.add(org)
        session.flush()
        user = create_user(session, name=f"provider-{locale}", role="provider", organisation_id=org.id)
        user.locale = locale
        session.flush()
        return Principal(role="provider", user_id=user.id, organisation_id=org.id)


def _digest_for(db: Database, who: Principal) -> Digest:
    """The e-mail digest of a new instant e-mail subscription of ``who`` after one need alerted it."""
    mail = NotificationSettings(smtp=SmtpSettings(host="127.0.0.1"))
    row = create(db, who, mail, channels=["email"], email="alerts@provider.example", delivery="instant")
    explanation = Explanation(
        "Blue Coast Trust offers “Mangrove nurseries”.",
        ("Serves every region.",),
        summary_fact=Fact("offer", {"organisation": "Blue Coast Trust", "title": "Mangrove nurseries"}),
        reason_facts=(Fact("geography.global", {}),),
    )
    with db.transaction() as session:
        body = {
            "title": "Mangrove nursery for the delta",
            "description": "A need for the language of the digests, long enough.",
            "targets": [2],
            "assistance_types": ["training"],
            "party": "SEN",
        }
        need = needs.create_need(session, needs.plan_need(session, STAFF, body))
        alert = Alert(row.id, row.organisation_id, None, 0.7, {"semantic": 0.7}, explanation)
        record_alerts(session, need, [alert], mail)
    with db.transaction() as session:
        (delivery_id,) = claim(session, mail)
        message = prepare(session, delivery_id, mail)
    assert message is not None and not isinstance(message, Cancelled) and message.digest is not None
    return message.digest


def test_a_digest_is_in_the_language_of_the_person_who_subscribed(sqlite_db: Database) -> None:
    french = _digest_for(sqlite_db, _subscriber(sqlite_db, "fr"))
    assert french.locale == "fr"
    assert french.subscription_label == translations("fr").gettext("Needs your offers fit")
    (item,) = french.items
    offer = translations("fr").gettext("%(organisation)s offers “%(title)s”.")
    assert item.summary == offer % {"organisation": "Blue Coast Trust", "title": "Mangrove nurseries"}
    assert item.summary.startswith("Blue Coast Trust propose")
    assert item.reasons == (translations("fr").gettext("Serves every region."),)
    assert item.reasons != ("Serves every region.",)


@pytest.mark.parametrize("locale", [None, "de"])
def test_a_digest_of_someone_without_a_catalogue_language_is_in_english(
    sqlite_db: Database, locale: str | None
) -> None:
    english = _digest_for(sqlite_db, _subscriber(sqlite_db, locale))
    assert english.locale == "en"
    assert english.subscription_label == "Needs your offers fit"
    (item,) = english.items
    assert (item.summary, item.reasons) == (
        "Blue Coast Trust offers “Mangrove nurseries”.",
        ("Serves every region.",),
    )
