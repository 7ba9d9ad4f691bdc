"""Provider alerts end to end on loopback: subscribe through the API, post needs, run the delivery worker, and
check what a webhook receiver and an SMTP server get (and what they must not get)."""

from __future__ import annotations

import datetime as dt
import email
import json
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update
from standardwebhooks import Webhook

from matcher.cli.worker import DeliveryWorker
from models.orm import Delivery
from models.repositories import UserRepository
from tests.api.conftest import NEED_BODY, TEST_NOTIFICATIONS, Api, start_api, unique
from tests.loopback import Collector, Receiver, free_port

# A need on another subject altogether: no wetland offer should rank among its top providers.
UNRELATED_NEED: dict[str, Any] = {
    "title": "Customs controls on wildlife trade at airports",
    "description": (
        "Our customs officers need training to identify protected reptiles and birds in airline cargo and "
        "passenger luggage, and to apply CITES permits at the two international airports."
    ),
    "targets": [5],
    "assistance_types": ["training"],
}


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Controller, Collector]]:
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, collector
    controller.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Controller, Collector]) -> Iterator[Api]:
    controller, _ = smtp
    notifications = {
        **TEST_NOTIFICATIONS,
        "public_url": "https://pollinate.test",
        "smtp": {"host": "127.0.0.1", "port": controller.port, "security": "none"},
    }
    yield from start_api(tmp_path_factory.mktemp("alerts"), notifications=notifications)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(status=204).start()
    yield started
    started.stop()


def drain(api: Api) -> int:
    """Run the delivery worker over everything due (in this process: the crash test runs it as a process)."""
    return DeliveryWorker(api.db, api.settings, threads=2).drain()


def subscribe(api: Api, role: str = "provider_a", **body: Any) -> dict[str, Any]:
    response = api.post(role, "/v1/subscriptions", json={"label": unique("Alerts "), **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def post_need(api: Api, role: str = "party_ken", **body: Any) -> dict[str, Any]:
    response = api.post(role, "/v1/needs", json={**NEED_BODY, "title": unique("Wetland mapping "), **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def organisations_ranked(api: Api, posted: dict[str, Any]) -> set[str]:
    return {m["organisation"] for m in posted["ranking"]["matches"]}


def name_of(api: Api, organisation_id: int) -> str:
    return str(api.get("secretariat", f"/v1/organisations/{organisation_id}").json()["name"])


def test_a_matching_need_reaches_the_subscriber_once_signed_and_nothing_else_does(
    api: Api, receiver: Receiver
) -> None:
    drain(api)  # anything queued by earlier tests goes first
    subscription = subscribe(api, channels=["feed", "webhook"], webhook_url=receiver.url())
    secret = subscription["webhook_secret"]
    assert secret.startswith("whsec_")
    assert api.get("provider_a", f"/v1/subscriptions/{subscription['id']}").json().get("webhook_secret") is None

    matching = post_need(api)
    assert name_of(api, api.org_a) in organisations_ranked(api, matching)  # precondition: org A ranks
    unrelated = post_need(api, **{**UNRELATED_NEED, "title": unique("Wildlife trade ")})
    assert name_of(api, api.org_a) not in organisations_ranked(api, unrelated)  # precondition: it does not
    own = post_need(api, "secretariat", party="KEN", organisation_id=api.org_a)  # organisation A's own need
    confidential = post_need(api, visibility="confidential")

    assert drain(api) >= 1
    assert len(receiver.requests) == 1, [r.body for r in receiver.requests]
    seen = receiver.requests[0]
    payload = Webhook(secret).verify(seen.body, seen.headers)  # raises unless correctly signed
    assert seen.headers["webhook-id"].startswith("msg_")
    notified = [n["need"]["id"] for n in payload["data"]["notifications"]]
    assert notified == [matching["need"]["id"]]
    item = payload["data"]["notifications"][0]
    assert item["need"]["url"] == f"https://pollinate.test/v1/needs/{matching['need']['id']}"
    assert item["explanation"]["summary"] and item["components"]
    facts = item["explanation"]["facts"]  # kept for readers of other languages
    assert facts["summary"]["code"] in {"offer", "offer.ranked"}
    assert len(facts["reasons"]) == len(item["explanation"]["reasons"])
    assert payload["data"]["subscription_id"] == subscription["id"]

    feed = api.get("provider_a", "/v1/me/notifications", params={"unread": True}).json()
    mine = [n for n in feed["items"] if n["subscription_id"] == subscription["id"]]
    assert [n["need"]["id"] for n in mine] == [matching["need"]["id"]]
    for need in (unrelated, own, confidential):
        assert need["need"]["id"] not in {n["need"]["id"] for n in feed["items"]}
    deliveries = api.get("provider_a", f"/v1/subscriptions/{subscription['id']}/deliveries").json()
    assert [(d["status"], d["uid"]) for d in deliveries["items"]] == [("delivered", seen.headers["webhook-id"])]


def test_an_own_need_alerts_no_saved_search_of_the_organisation(api: Api, receiver: Receiver) -> None:
    drain(api)
    query = "mapping wetlands and peatlands to design protected area networks"
    subscription = subscribe(
        api, kind="query", query=query, min_score=0.1, channels=["feed", "webhook"], webhook_url=receiver.url()
    )
    own = post_need(api, "secretariat", party="KEN", organisation_id=api.org_a)
    drain(api)
    assert receiver.requests == []
    other = post_need(api)  # the same text from Kenya's government does alert the saved search
    drain(api)
    assert len(receiver.requests) == 1
    payload = Webhook(subscription["webhook_secret"]).verify(
        receiver.requests[0].body, receiver.requests[0].headers
    )
    assert [n["need"]["id"] for n in payload["data"]["notifications"]] == [other["need"]["id"]]
    assert own["need"]["id"] != other["need"]["id"]
    assert "saved search" in payload["data"]["notifications"][0]["explanation"]["summary"]
    assert payload["data"]["notifications"][0]["explanation"]["facts"]["summary"]["code"] == "saved_search"


def test_changing_a_need_alerts_only_subscriptions_it_newly_satisfies(api: Api, receiver: Receiver) -> None:
    drain(api)
    subscription = subscribe(api, "provider_b", channels=["webhook"], webhook_url=receiver.url(), top_n=50)
    need = post_need(api, **{**UNRELATED_NEED, "title": unique("Wildlife trade ")})
    drain(api)
    before = len(receiver.requests)
    path = f"/v1/needs/{need['need']['id']}"
    changed = api.call(
        "party_ken",
        "PATCH",
        path,
        json={k: v for k, v in NEED_BODY.items() if k != "title"},
        headers={"If-Match": api.etag(path)},
    )
    assert changed.status_code == 200, changed.text
    drain(api)
    again = api.call(
        "party_ken", "PATCH", path, json={"title": unique("Retitled ")}, headers={"If-Match": api.etag(path)}
    )
    assert again.status_code == 200
    drain(api)
    ids = [
        n["need"]["id"]
        for r in receiver.requests
        for n in Webhook(subscription["webhook_secret"]).verify(r.body, r.headers)["data"]["notifications"]
    ]
    assert ids.count(need["need"]["id"]) <= 1  # never twice for one need
    assert len(receiver.requests) >= before


def test_a_daily_digest_by_email_names_the_needs_and_why(api: Api, smtp: tuple[Controller, Collector]) -> None:
    _, collector = smtp
    drain(api)
    address = f"{unique('alerts-')}@provider-a.example"
    subscription = subscribe(api, delivery="daily", channels=["email"], email=address)
    first = post_need(api)
    second = post_need(api, description=NEED_BODY["description"] + " Field teams also need GPS units.")
    drain(api)
    assert not [e for e in collector.envelopes if address in e.rcpt_tos]  # a digest waits for its hour
    with api.db.transaction() as session:  # the digest hour comes
        session.execute(
            update(Delivery)
            .where(Delivery.subscription_id == subscription["id"])
            .values(due_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    drain(api)
    received = [e for e in collector.envelopes if address in e.rcpt_tos]
    assert len(received) == 1
    message = email.message_from_bytes(received[0].content, policy=policy.default)  # type: ignore[arg-type]
    assert "daily digest" in message["Subject"]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for need in (first, second):
        assert need["need"]["title"] in text and need["need"]["title"] in html
    assert "KMGBF target" in text  # the reasons: shared targets, geography, ...
    assert "/v1/unsubscribe/" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    token = message["List-Unsubscribe"].strip().strip("<>").rsplit("/", 1)[-1]
    assert api.client.post(f"/v1/unsubscribe/{token}").status_code == 200  # one click, no key
    assert api.get("provider_a", f"/v1/subscriptions/{subscription['id']}").json()["active"] is False


def test_a_digest_of_a_subscription_made_with_a_spanish_speakers_key_is_in_spanish(
    api: Api, smtp: tuple[Controller, Collector]
) -> None:
    _, collector = smtp
    drain(api)
    with api.db.transaction() as session:  # the person behind provider_a's key reads Spanish
        owner = UserRepository(session).by_name("provider-a")
        assert owner is not None
        owner.locale = "es"
    try:
        address = f"{unique('alertas-')}@provider-a.example"
        subscribe(api, delivery="instant", channels=["email"], email=address)
        posted = post_need(api)
        drain(api)
    finally:
        with api.db.transaction() as session:
            owner = UserRepository(session).by_name("provider-a")
            assert owner is not None
            owner.locale = None
    received = [e for e in collector.envelopes if address in e.rcpt_tos]
    assert len(received) == 1
    message = email.message_from_bytes(received[0].content, policy=policy.default)  # type: ignore[arg-type]
    title = posted["need"]["title"]
    assert message["Subject"] == f"Pollinate: una nueva necesidad coincide con sus ofertas: {title}"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Hola, ") and 'lang="es"' in html
    assert "Abrir la necesidad:" in text and "Parte: Kenia (KEN)" in text
    # The reasons too, from the stored explanation's facts: no English sentence of the engine is left.
    assert "KMGBF target" not in text and "Serves " not in text and "Provides " not in text


def test_failing_webhooks_retry_with_the_same_id_then_go_to_the_dead_letters(api: Api, tmp_path: Path) -> None:
    failing = Receiver(status=503).start()
    try:
        drain(api)
        subscription = subscribe(api, channels=["webhook"], webhook_url=failing.url())
        post_need(api)
        settings = api.settings.model_copy(
            update={
                "notifications": api.settings.notifications.model_copy(
                    update={"backoff_base_s": 0.01, "max_attempts": 3}
                )
            }
        )
        worker = DeliveryWorker(api.db, settings, threads=1)
        for _ in range(50):
            worker.drain()
            path = f"/v1/subscriptions/{subscription['id']}/deliveries"
            if api.get("provider_a", path, params={"status": "dead"}).json()["total"]:
                break
        dead = api.get("provider_a", path, params={"status": "dead"}).json()["items"]
        assert len(dead) == 1
        assert dead[0]["attempts"] == 3 and dead[0]["last_status"] == 503 and "503" in dead[0]["last_error"]
        assert len(failing.requests) == 3
        assert len({r.headers["webhook-id"] for r in failing.requests}) == 1  # one message, three attempts
        assert dead[0]["uid"] == failing.requests[0].headers["webhook-id"]
        assert dead[0]["id"] in {
            d["id"] for d in api.get("admin", "/v1/deliveries", params={"status": "dead"}).json()["items"]
        }

        failing.status = 204  # the receiver is fixed: the subscriber retries the dead letter
        retried = api.post("provider_a", f"/v1/deliveries/{dead[0]['id']}/retry")
        assert retried.status_code == 200, retried.text
        worker.drain()
        assert api.get("provider_a", path, params={"status": "delivered"}).json()["total"] == 1
        assert {r.headers["webhook-id"] for r in failing.requests} == {dead[0]["uid"]}
        body = json.loads(failing.requests[-1].body)
        assert body == json.loads(failing.requests[0].body)  # every attempt sends the same bytes
    finally:
        failing.stop()


def test_unsafe_webhook_targets_are_refused_when_subscribing(api: Api) -> None:
    # This app allows loopback receivers (a test setting); the production defaults are checked in
    # tests/matcher/test_subscriptions.py. A bad scheme or a URL with credentials is refused either way.
    for url in ("ftp://example.org/hook", "http://user:pw@127.0.0.1:9/hook"):
        response = api.post("provider_a", "/v1/subscriptions", json={"channels": ["webhook"], "webhook_url": url})
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "webhook_url"


def test_a_need_made_confidential_leaves_the_feed_of_the_providers_it_alerted(api: Api) -> None:
    subscribe(api, channels=["feed"])
    need_id = post_need(api)["need"]["id"]
    path = f"/v1/needs/{need_id}"
    feed = api.get("provider_a", "/v1/me/notifications").json()
    notification = next(n for n in feed["items"] if n["need"]["id"] == need_id)  # precondition: alerted

    secret = unique("Confidential retitled ")
    changed = api.call(
        "party_ken",
        "PATCH",
        path,
        json={"visibility": "confidential", "title": secret},
        headers={"If-Match": api.etag(path)},
    )
    assert changed.status_code == 200, changed.text
    assert api.get("provider_a", path).status_code == 404

    hidden = api.get("provider_a", "/v1/me/notifications")
    assert hidden.status_code == 200
    assert need_id not in {n["need"]["id"] for n in hidden.json()["items"]}
    assert secret not in hidden.text
    alerted = sum(1 for n in feed["items"] if n["need"]["id"] == need_id)  # one per subscription it satisfied
    assert hidden.json()["total"] == feed["total"] - alerted
    # It does not exist for the provider, so it cannot be marked read either.
    marked = api.post("provider_a", "/v1/me/notifications/read", json={"ids": [notification["id"]]})
    assert marked.json()["marked"] == 0

    public = api.call(
        "party_ken", "PATCH", path, json={"visibility": "public"}, headers={"If-Match": api.etag(path)}
    )
    assert public.status_code == 200, public.text
    shown = api.get("provider_a", "/v1/me/notifications").json()
    assert [n["need"]["title"] for n in shown["items"] if n["id"] == notification["id"]] == [secret]


def due_now(api: Api, subscription_id: int) -> None:
    """Make the subscription's pending deliveries due (a digest's hour, a retry's backoff)."""
    with api.db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.subscription_id == subscription_id, Delivery.status == "pending")
            .values(due_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )


def test_a_retry_sends_the_bytes_of_the_first_attempt_even_after_the_need_changed(api: Api) -> None:
    failing = Receiver(status=503).start()
    try:
        drain(api)
        subscription = subscribe(api, channels=["webhook"], webhook_url=failing.url())
        need = post_need(api)
        drain(api)
        assert len(failing.requests) == 1
        path = f"/v1/needs/{need['need']['id']}"
        edited = unique("Edited between attempts ")
        changed = api.call(
            "party_ken", "PATCH", path, json={"title": edited}, headers={"If-Match": api.etag(path)}
        )
        assert changed.status_code == 200, changed.text

        failing.status = 204
        due_now(api, subscription["id"])
        drain(api)

        assert len(failing.requests) == 2
        first, second = failing.requests
        assert second.body == first.body  # byte for byte
        assert second.headers["webhook-id"] == first.headers["webhook-id"]
        for seen in (first, second):  # each signature is over the bytes sent
            Webhook(subscription["webhook_secret"]).verify(seen.body, seen.headers)
        assert need["need"]["title"].encode() in second.body and edited.encode() not in second.body
    finally:
        failing.stop()


def test_a_retry_whose_need_turned_confidential_is_cancelled_and_its_other_needs_are_sent_anew(api: Api) -> None:
    failing = Receiver(status=503).start()
    try:
        drain(api)
        subscription = subscribe(api, delivery="daily", channels=["webhook"], webhook_url=failing.url())
        hidden = post_need(api)["need"]
        kept = post_need(api, description=NEED_BODY["description"] + " Field teams also need GPS units.")["need"]
        due_now(api, subscription["id"])
        drain(api)
        assert len(failing.requests) == 1
        verify = Webhook(subscription["webhook_secret"]).verify
        sent = verify(failing.requests[0].body, failing.requests[0].headers)["data"]["notifications"]
        assert {n["need"]["id"] for n in sent} == {hidden["id"], kept["id"]}  # precondition: one digest of two

        secret = unique("Confidential now ")
        path = f"/v1/needs/{hidden['id']}"
        changed = api.call(
            "party_ken",
            "PATCH",
            path,
            json={"visibility": "confidential", "title": secret},
            headers={"If-Match": api.etag(path)},
        )
        assert changed.status_code == 200, changed.text
        failing.status = 204
        due_now(api, subscription["id"])
        drain(api)  # the retry is cancelled
        drain(api)  # the new delivery it left goes out

        deliveries = api.get("provider_a", f"/v1/subscriptions/{subscription['id']}/deliveries").json()["items"]
        original = next(d for d in deliveries if d["uid"] == failing.requests[0].headers["webhook-id"])
        assert original["status"] == "cancelled" and "no longer visible" in original["last_error"]
        assert len(failing.requests) == 2
        resent = failing.requests[1]
        assert resent.headers["webhook-id"] != original["uid"]  # a new message, not a retry of the old bytes
        assert [n["need"]["id"] for n in verify(resent.body, resent.headers)["data"]["notifications"]] == [
            kept["id"]
        ]
        assert secret.encode() not in resent.body and hidden["title"].encode() not in resent.body
        assert {d["status"] for d in deliveries if d["uid"] == resent.headers["webhook-id"]} == {"delivered"}
    finally:
        failing.stop()


def test_the_least_verdict_round_trips_and_unknown_values_are_refused(api: Api) -> None:
    made = subscribe(api, min_verdict="strong")
    assert made["min_verdict"] == "strong"
    path = f"/v1/subscriptions/{made['id']}"
    assert api.get("provider_a", path).json()["min_verdict"] == "strong"
    changed = api.call(
        "provider_a", "PATCH", path, json={"min_verdict": "good"}, headers={"If-Match": api.etag(path)}
    )
    assert changed.status_code == 200, changed.text
    assert api.get("provider_a", path).json()["min_verdict"] == "good"
    assert subscribe(api)["min_verdict"] == "possible"  # the documented default for offers
    for bad in ("weak", "STRONG", "excellent", 3):
        refused = api.post("provider_a", "/v1/subscriptions", json={"min_verdict": bad})
        assert refused.status_code == 422, (bad, refused.text)
    refused = api.call(
        "provider_a", "PATCH", path, json={"min_verdict": "weak"}, headers={"If-Match": api.etag(path)}
    )
    assert refused.status_code == 422, refused.text
    query = api.post(
        "provider_a", "/v1/subscriptions", json={"kind": "query", "query": "wetlands", "min_verdict": "good"}
    )
    assert query.status_code == 422 and "min_verdict" in query.text, query.text
    assert subscribe(api, kind="query", query="wetland mapping")["min_verdict"] is None
