"""The authorization matrix: every route × every role × owner/non-owner record, against ``matcher.access.rules``.

Each case names a route, the record it acts on and the status every role must get. Expectations are written
out from the spec (the table and rules in ``matcher.access``'s docstring), not computed from the code under test:

- anonymous callers get 401 on every write and on every read except active offers, ``/v1/me`` and vocabularies;
- a record the caller may see but not change answers 403; a record it may not see answers 404 (a confidential
  need to anyone but its Party and the staff, a paused offer to anyone but its organisation and the staff);
- the ranked providers of a need are for its Party and the staff; the needs an offer could serve are for its
  organisation and the staff;
- a need's shortlist and contact requests are its Party's and the staff's; providers are refused (403) and to
  another Party they do not exist (404), even for a public need;
- subscriptions, their deliveries and the notification feed belong to a provider organisation: only its providers
  create and change them; the staff read them, may delete a subscription and retry a delivery, but neither
  subscribe nor have a feed; to anyone else they do not exist (404). Listings that follow an organisation (its
  subscriptions, its deliveries, its feed) are refused to Parties (403): they act for no organisation;
- the unsubscribe link of an e-mail needs no key: its token is the credential, for anyone who holds it;
- the review queue, suggested matches (their decisions and history) and the audit log are the staff's: every
  other signed-in role is refused (403), whatever the record.

Every refused request must leave the record as it was (re-read by the secretariat); every accepted write must
have its effect. ``test_the_matrix_covers_every_route`` fails when a route is added without matrix entries.

Records (``Case.target``): ``public``/``confidential`` needs of Kenya (owner: ``party_ken``), ``active``/``paused``
offers of organisation A (owner: ``provider_a``), organisation A itself (in use) or an unused organisation;
for posts, the body names Kenya / organisation A (``for_KEN``, ``for_org_a``) or leaves them to the key (``own``).
Alert records of organisation A (written through the ORM, see ``Api.new_subscription``): a feed-only (``sub_a``)
or webhook (``webhook_sub_a``) subscription, a feed ``notification_a``, a ``dead_delivery_a`` and the unsubscribe
``token_a`` of a subscription (or an ``unknown_token``). A ``match`` is a fresh suggested match
(``Api.new_match``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from models.connectors import ConnectorRepository
from models.orm import ConnectorRun
from tests.api.conftest import NEED_BODY, OFFER_BODY, ROLES, STAFF, Api, app_routes, unique

NO_TARGET = "-"
ERROR_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid_input"}


def statuses(default: int, **by_role: int) -> dict[str, int]:
    """The expected status for every role: ``default`` unless the role is named."""
    assert set(by_role) <= set(ROLES), set(by_role) - set(ROLES)
    return {role: by_role.get(role, default) for role in ROLES}


def signed_in(status: int) -> dict[str, int]:
    """Every signed-in role gets ``status``; anonymous callers get 401."""
    return statuses(status, anonymous=401)


def follow_up(status: int) -> dict[str, int]:
    """A need's shortlist and contact requests: ``status`` for Kenya's Party and the staff, 403 for providers,
    404 for another Party."""
    return statuses(
        404, anonymous=401, party_ken=status, provider_a=403, provider_b=403, **dict.fromkeys(STAFF, status)
    )


def owners(status: int, *, others: int, **owner_roles: int) -> dict[str, int]:
    """``status`` for the staff and the named owner role, ``others`` for every other signed-in role."""
    return statuses(others, anonymous=401, secretariat=status, admin=status, **owner_roles)


@dataclass(frozen=True, slots=True)
class Case:
    """One route acting on one kind of record, and the status each role must get."""

    method: str
    route: str
    target: str
    expected: Mapping[str, int]
    query: str = ""


CASES = [
    Case("GET", "/v1/me", NO_TARGET, statuses(200)),
    Case("GET", "/v1/vocabularies/{name}", NO_TARGET, statuses(200)),
    # Organisations: a directory for signed-in callers; staff create and delete, a provider changes its own.
    Case("POST", "/v1/organisations", NO_TARGET, owners(201, others=403)),
    Case("GET", "/v1/organisations", NO_TARGET, signed_in(200)),
    Case("GET", "/v1/organisations/{organisation_id}", "org_a", signed_in(200)),
    Case("PATCH", "/v1/organisations/{organisation_id}", "org_a", owners(200, others=403, provider_a=200)),
    Case("DELETE", "/v1/organisations/{organisation_id}", "org_a", owners(409, others=403)),  # in use
    Case("DELETE", "/v1/organisations/{organisation_id}", "unused_org", owners(204, others=403)),
    # Needs: a Party posts for its own country; the staff for any (and must then name the party).
    Case("POST", "/v1/needs", "for_KEN", owners(201, others=403, party_ken=201)),
    # Without `party` a Party posts for its own country; the staff must name one; other roles never post needs.
    Case(
        "POST",
        "/v1/needs",
        "own",
        statuses(403, anonymous=401, party_ken=201, party_bra=201, **dict.fromkeys(STAFF, 422)),
    ),
    Case("GET", "/v1/needs", NO_TARGET, signed_in(200)),
    Case("GET", "/v1/needs/{need_id}", "public", signed_in(200)),
    Case("GET", "/v1/needs/{need_id}", "confidential", owners(200, others=404, party_ken=200)),
    Case("PATCH", "/v1/needs/{need_id}", "public", owners(200, others=403, party_ken=200)),
    Case("PATCH", "/v1/needs/{need_id}", "confidential", owners(200, others=404, party_ken=200)),
    Case("POST", "/v1/needs/{need_id}/withdraw", "public", owners(200, others=403, party_ken=200)),
    Case("POST", "/v1/needs/{need_id}/withdraw", "confidential", owners(200, others=404, party_ken=200)),
    Case("DELETE", "/v1/needs/{need_id}", "public", owners(204, others=403, party_ken=204)),
    Case("DELETE", "/v1/needs/{need_id}", "confidential", owners(204, others=404, party_ken=204)),
    Case("GET", "/v1/needs/{need_id}/matches", "public", owners(200, others=403, party_ken=200)),
    Case("GET", "/v1/needs/{need_id}/matches", "confidential", owners(200, others=404, party_ken=200)),
    Case("GET", "/v1/needs/{need_id}/matches", "public", owners(200, others=403, party_ken=200), "rerank=true"),
    Case(
        "GET", "/v1/needs/{need_id}/matches", "confidential", owners(200, others=404, party_ken=200), "rerank=true"
    ),
    # A need's follow-up: its Party's and the staff's; providers are refused; another Party finds nothing.
    *[
        Case(method, route, target, follow_up(status))
        for target in ("public", "confidential")
        for method, route, status in (
            ("GET", "/v1/needs/{need_id}/shortlist", 200),
            ("POST", "/v1/needs/{need_id}/shortlist", 201),
            ("DELETE", "/v1/needs/{need_id}/shortlist/{offer_id}", 204),
            ("GET", "/v1/needs/{need_id}/contact-requests", 200),
            ("POST", "/v1/needs/{need_id}/contact-requests", 201),
        )
    ],
    # Offers: a provider posts for its own organisation; anyone reads active offers; the owner sees the others.
    Case("POST", "/v1/offers", "for_org_a", owners(201, others=403, provider_a=201)),
    # Without `organisation_id` a provider posts for its own; the staff must name one; Parties never post offers.
    Case(
        "POST",
        "/v1/offers",
        "own",
        statuses(403, anonymous=401, provider_a=201, provider_b=201, **dict.fromkeys(STAFF, 422)),
    ),
    Case("GET", "/v1/offers", NO_TARGET, statuses(200)),
    Case("GET", "/v1/offers/{offer_id}", "active", statuses(200)),
    Case("GET", "/v1/offers/{offer_id}", "paused", statuses(404, provider_a=200, secretariat=200, admin=200)),
    Case("PATCH", "/v1/offers/{offer_id}", "active", owners(200, others=403, provider_a=200)),
    Case("PATCH", "/v1/offers/{offer_id}", "paused", owners(200, others=404, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/pause", "active", owners(200, others=403, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/pause", "paused", owners(200, others=404, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/resume", "active", owners(200, others=403, provider_a=200)),
    Case("POST", "/v1/offers/{offer_id}/resume", "paused", owners(200, others=404, provider_a=200)),
    Case("DELETE", "/v1/offers/{offer_id}", "active", owners(204, others=403, provider_a=204)),
    Case("DELETE", "/v1/offers/{offer_id}", "paused", owners(204, others=404, provider_a=204)),
    Case("GET", "/v1/offers/{offer_id}/needs", "active", owners(200, others=403, provider_a=200)),
    Case("GET", "/v1/offers/{offer_id}/needs", "paused", owners(200, others=404, provider_a=200)),
    Case("POST", "/v1/match", NO_TARGET, signed_in(200)),
    # The need-writing assistant: Parties (for their own country) and the staff; it writes nothing.
    Case("POST", "/v1/assist/need", NO_TARGET, statuses(200, anonymous=401, provider_a=403, provider_b=403)),
    # Subscriptions: a provider subscribes its own organisation; the staff read and delete (moderation) but do not
    # subscribe or change; to Parties and other organisations a subscription does not exist.
    Case("POST", "/v1/subscriptions", "own", statuses(403, anonymous=401, provider_a=201, provider_b=201)),
    Case("GET", "/v1/subscriptions", NO_TARGET, statuses(200, anonymous=401, party_ken=403, party_bra=403)),
    Case("GET", "/v1/subscriptions/{subscription_id}", "sub_a", owners(200, others=404, provider_a=200)),
    Case("PATCH", "/v1/subscriptions/{subscription_id}", "sub_a", owners(403, others=404, provider_a=200)),
    Case("DELETE", "/v1/subscriptions/{subscription_id}", "sub_a", owners(204, others=404, provider_a=204)),
    Case(
        "POST",
        "/v1/subscriptions/{subscription_id}/rotate-secret",
        "webhook_sub_a",
        owners(403, others=404, provider_a=200),
    ),
    # Without a webhook channel there is no secret to rotate: only the owner gets that far (the others are
    # answered by what they may see and do, before its channels are looked at).
    Case(
        "POST",
        "/v1/subscriptions/{subscription_id}/rotate-secret",
        "sub_a",
        owners(403, others=404, provider_a=422),
    ),
    Case(
        "GET",
        "/v1/subscriptions/{subscription_id}/deliveries",
        "webhook_sub_a",
        owners(200, others=404, provider_a=200),
    ),
    # The feed: providers only, each its own organisation's (another organisation's notifications do not exist).
    Case(
        "GET",
        "/v1/me/notifications",
        "notification_a",
        statuses(403, anonymous=401, provider_a=200, provider_b=200),
    ),
    Case(
        "POST",
        "/v1/me/notifications/read",
        "notification_a",
        statuses(403, anonymous=401, provider_a=200, provider_b=200),
    ),
    # Deliveries: a provider's own organisation's, every organisation's for the staff.
    Case("GET", "/v1/deliveries", NO_TARGET, statuses(200, anonymous=401, party_ken=403, party_bra=403)),
    Case("POST", "/v1/deliveries/{delivery_id}/retry", "dead_delivery_a", owners(200, others=404, provider_a=200)),
    # Unsubscribe links: the token is the credential, whoever holds it (a key, if sent, plays no part).
    Case("GET", "/v1/unsubscribe/{token}", "token_a", statuses(200)),
    Case("POST", "/v1/unsubscribe/{token}", "token_a", statuses(200)),
    Case("GET", "/v1/unsubscribe/{token}", "unknown_token", statuses(404)),
    Case("POST", "/v1/unsubscribe/{token}", "unknown_token", statuses(404)),
    # Review and audit: the secretariat's work; every other signed-in role is refused (403), whatever the record.
    Case("GET", "/v1/review/queue", NO_TARGET, owners(200, others=403)),
    Case("GET", "/v1/matches/{match_id}", "match", owners(200, others=403)),
    Case("POST", "/v1/matches/{match_id}/decision", "match", owners(200, others=403)),
    Case("GET", "/v1/matches/{match_id}/history", "match", owners(200, others=403)),
    Case("GET", "/v1/audit", NO_TARGET, owners(200, others=403)),
    Case("GET", "/v1/audit.csv", NO_TARGET, owners(200, others=403)),
    # Batch jobs: the secretariat's and admins' (403 for everyone else signed in).
    Case("POST", "/v1/jobs", NO_TARGET, owners(201, others=403)),
    Case("GET", "/v1/jobs", NO_TARGET, owners(200, others=403)),
    Case("GET", "/v1/jobs/{job_id}", "queued_job", owners(200, others=403)),
    Case("GET", "/v1/jobs/{job_id}/diffs", "queued_job", owners(200, others=403)),
    Case("POST", "/v1/jobs/{job_id}/cancel", "queued_job", owners(200, others=403)),
    Case("POST", "/v1/jobs/{job_id}/retry", "cancelled_job", owners(200, others=403)),
    # Feeds: open to anyone, without a key. Connectors and their runs: the secretariat's and admins'.
    Case("GET", "/v1/feeds/needs", NO_TARGET, statuses(200)),
    Case("GET", "/v1/feeds/offers", NO_TARGET, statuses(200)),
    Case("GET", "/v1/connectors", NO_TARGET, owners(200, others=403)),
    Case("POST", "/v1/connectors/{name}/runs", NO_TARGET, owners(404, others=403)),  # no such connector
    Case("GET", "/v1/connectors/runs", NO_TARGET, owners(200, others=403)),
    Case("GET", "/v1/connectors/runs/{run_id}", "connector_run", owners(200, others=403)),
    Case("GET", "/v1/duplicates", NO_TARGET, owners(200, others=403)),
    Case("POST", "/v1/duplicates/merge", "duplicate_offers", owners(200, others=403)),
    Case("POST", "/v1/duplicates/dismiss", "duplicate_offers", owners(204, others=403)),
]

# Routes that create records (found again by the marker in their name or title).
CREATES = {
    ("POST", "/v1/organisations"),
    ("POST", "/v1/needs"),
    ("POST", "/v1/offers"),
    ("POST", "/v1/subscriptions"),
}
NEW_STATUS = {"withdraw": "withdrawn", "pause": "paused", "resume": "active"}
PROVIDER_ORGS = {"provider_a": "org_a", "provider_b": "org_b"}


def test_the_matrix_covers_every_route(api: Api) -> None:
    covered = {(case.method, case.route) for case in CASES}
    assert covered == app_routes(api)


def test_the_matrix_covers_every_role_of_the_spec() -> None:
    for case in CASES:
        assert set(case.expected) == set(ROLES), case


# ----------------------------------------------------------------------------------------- the matrix


@dataclass(frozen=True, slots=True)
class Alerts:
    """Fixture alert records, read (never changed) by the cases and tests of this module."""

    sub_a: int  # organisation A's, feed only
    token_a: str  # its unsubscribe token
    webhook_sub_a: int  # organisation A's, feed and webhook
    notification_a: int  # in organisation A's feed (of ``sub_a``)
    delivery_a: int  # a dead webhook delivery of ``webhook_sub_a``
    sub_b: int  # organisation B's counterparts, so that provider_b's listings are not empty
    notification_b: int
    delivery_b: int


@pytest.fixture(scope="module")
def alerts(api: Api) -> Alerts:
    sub_a, webhook_sub_a = api.new_subscription(), api.new_subscription(webhook=True)
    sub_b = api.new_subscription(organisation_id=api.org_b, webhook=True)
    token_a = api.subscription_secrets(sub_a)
    assert token_a is not None
    return Alerts(
        sub_a=sub_a,
        token_a=token_a[0],
        webhook_sub_a=webhook_sub_a,
        notification_a=api.new_notification(sub_a, need_id=api.public_need),
        delivery_a=api.new_delivery(webhook_sub_a),
        sub_b=sub_b,
        notification_b=api.new_notification(sub_b, need_id=api.public_need),
        delivery_b=api.new_delivery(sub_b),
    )


def arrange(api: Api, alerts: Alerts, case: Case) -> dict[str, Any]:
    """Path parameters of the record the case acts on: the fixture records for reads, fresh ones for writes.

    Parameters the route does not name (``subscription_id`` of a token, ``notification_id``) say which record to
    observe.
    """
    target, read = case.target, case.method == "GET"
    if target in ("public", "confidential") and _follow_up(case):
        need_id = api.new_need(visibility=target, title=unique("Matrix need "))
        if read or case.method == "DELETE":  # something to read or to take off
            body = {"offer_id": api.offer_a, "message": "Matrix: please put us in contact."}
            assert api.post("secretariat", f"/v1/needs/{need_id}/contact-requests", json=body).status_code == 201
        return {"need_id": need_id, "offer_id": api.offer_a}
    if target in ("public", "confidential"):
        fixture = api.public_need if target == "public" else api.confidential_need
        return {"need_id": fixture if read else api.new_need(visibility=target, title=unique("Matrix need "))}
    if target in ("active", "paused"):
        fixture = api.offer_a if target == "active" else api.paused_offer_a
        return {"offer_id": fixture if read else api.new_offer(status=target, title=unique("Matrix offer "))}
    if target == "org_a":  # a provider's own organisation cannot be made per test: changes only touch `website`
        return {"organisation_id": api.org_a}
    if target == "unused_org":
        return {"organisation_id": api.new_organisation()}
    if target in ("sub_a", "webhook_sub_a"):
        fixture = alerts.sub_a if target == "sub_a" else alerts.webhook_sub_a
        return {"subscription_id": fixture if read else api.new_subscription(webhook=target == "webhook_sub_a")}
    if target == "notification_a":
        return {"notification_id": alerts.notification_a if read else api.new_notification(alerts.sub_a)}
    if target == "dead_delivery_a":
        return {"delivery_id": api.new_delivery(alerts.webhook_sub_a), "subscription_id": alerts.webhook_sub_a}
    if target == "token_a":
        subscription_id = alerts.sub_a if read else api.new_subscription()
        found = api.subscription_secrets(subscription_id)
        assert found is not None
        return {"token": found[0], "subscription_id": subscription_id}
    if target == "unknown_token":
        return {"token": secrets.token_urlsafe(32)}
    if target == "match":
        return {"match_id": api.new_match()}
    if target in ("queued_job", "cancelled_job"):
        return {"job_id": api.new_job(status=target.removesuffix("_job"))}
    if target == "duplicate_offers":  # two fresh offers; the second is the copy a merge withdraws
        survivor = api.new_offer(status="active", title=unique("Matrix duplicate "))
        return {
            "offer_id": api.new_offer(status="active", title=unique("Matrix duplicate ")),
            "survivor_id": survivor,
        }
    if target == "connector_run":
        with api.db.transaction() as session:
            run = ConnectorRepository(session).add_run(
                ConnectorRun(connector="matrix", status="succeeded", trigger="cli")
            )
            return {"run_id": run.id}
    return {"name": "targets"}


def _follow_up(case: Case) -> bool:
    """A route of a need's shortlist or contact requests."""
    return case.route.startswith(("/v1/needs/{need_id}/shortlist", "/v1/needs/{need_id}/contact-requests"))


def request_body(case: Case, api: Api, params: Mapping[str, Any], marker: str) -> dict[str, Any] | None:
    """A valid body for the case's route (``marker`` makes what it creates or changes findable)."""
    key = (case.method, case.route)
    if key == ("POST", "/v1/needs/{need_id}/shortlist"):
        return {"offer_id": params["offer_id"]}
    if key == ("POST", "/v1/needs/{need_id}/contact-requests"):
        return {"offer_id": params["offer_id"], "message": f"Matrix request {marker}"}
    if key == ("POST", "/v1/organisations"):
        return {"name": f"Matrix organisation {marker}", "org_type": "ngo", "country": "KEN"}
    if key == ("PATCH", "/v1/organisations/{organisation_id}"):
        return {"website": f"https://example.org/{marker}"}
    if key == ("POST", "/v1/needs"):
        party = {"party": "KEN"} if case.target == "for_KEN" else {}
        return {**NEED_BODY, "title": f"Matrix need {marker}", **party}
    if key == ("POST", "/v1/offers"):
        organisation = {"organisation_id": api.org_a} if case.target == "for_org_a" else {}
        return {**OFFER_BODY, "title": f"Matrix offer {marker}", **organisation}
    if key == ("POST", "/v1/subscriptions"):
        return {"label": f"Matrix {marker}", "channels": ["feed"]}
    if key == ("PATCH", "/v1/subscriptions/{subscription_id}"):
        return {"label": f"Changed {marker}"}
    if case.method == "PATCH":
        return {"title": f"Changed {marker}"}
    if key == ("POST", "/v1/match"):
        return {"text": "wetland mapping and protected area design", "k": 3}
    if key == ("POST", "/v1/assist/need"):
        return {"title": f"Matrix draft {marker}", "description": "Mapping wetlands to design protected areas."}
    if key == ("POST", "/v1/me/notifications/read"):
        return {"ids": [params["notification_id"]]}
    if key == ("POST", "/v1/jobs"):
        return {"kind": "rerank_needs", "need_ids": [api.public_need]}
    if key == ("POST", "/v1/duplicates/merge"):
        return {"kind": "offers", "survivor_id": params["survivor_id"], "merged_id": params["offer_id"]}
    if key == ("POST", "/v1/duplicates/dismiss"):
        return {"kind": "offers", "left_id": params["survivor_id"], "right_id": params["offer_id"]}
    if key == ("POST", "/v1/matches/{match_id}/decision"):
        return {"action": "shortlist", "note": f"Matrix {marker}"}
    return None


def find_delivery(api: Api, subscription_id: int, delivery_id: int) -> dict[str, Any] | None:
    """A delivery as the secretariat sees it among its subscription's deliveries."""
    items = every_item(api, "secretariat", f"/v1/subscriptions/{subscription_id}/deliveries")
    return next((d for d in items if d["id"] == delivery_id), None)


def observe(api: Api, case: Case, params: Mapping[str, Any], marker: str) -> Any:
    """What the secretariat sees of the record a request acts on, or of the records it would create.

    A subscription comes with its stored unsubscribe token and webhook secret, which no response shows again;
    a notification is its read time, which no staff listing shows (the staff have no feed).
    """
    if _follow_up(case):  # the offers on the need's shortlist, and its contact requests' messages
        shortlist = api.get("secretariat", f"/v1/needs/{params['need_id']}/shortlist").json()
        requests = api.get("secretariat", f"/v1/needs/{params['need_id']}/contact-requests").json()
        return [e["offer"]["id"] for e in shortlist], [(c["offer"]["id"], c["message"]) for c in requests]
    if "delivery_id" in params:
        return find_delivery(api, params["subscription_id"], params["delivery_id"])
    if "notification_id" in params:
        return api.notification_read_at(params["notification_id"])
    if "subscription_id" in params:
        return observe_subscription(api, params["subscription_id"])
    if "match_id" in params:
        response = api.get("secretariat", f"/v1/matches/{params['match_id']}")
        return response.status_code, response.json()
    if "job_id" in params:
        response = api.get("secretariat", f"/v1/jobs/{params['job_id']}")
        return response.status_code, response.json()
    if (case.method, case.route) == ("POST", "/v1/jobs"):  # no text search: how many jobs there are
        return api.get("secretariat", "/v1/jobs").json()["total"]
    for name, collection in (("need_id", "needs"), ("offer_id", "offers"), ("organisation_id", "organisations")):
        if name in params:
            response = api.get("secretariat", f"/v1/{collection}/{params[name]}")
            return response.status_code, response.json()
    if (case.method, case.route) == ("POST", "/v1/subscriptions"):  # no text search: every subscription
        return [s["organisation_id"] for s in every_item(api, "secretariat", case.route) if marker in s["label"]]
    if (case.method, case.route) in CREATES:
        listing = api.get("secretariat", case.route, params={"q": marker})
        assert listing.status_code == 200, listing.text
        return listing.json()["total"]
    return None


def observe_subscription(api: Api, subscription_id: int) -> tuple[int, Any, tuple[str, str | None] | None]:
    """A subscription as the secretariat reads it, with its stored unsubscribe token and webhook secret."""
    response = api.get("secretariat", f"/v1/subscriptions/{subscription_id}")
    return response.status_code, response.json(), api.subscription_secrets(subscription_id)


def check_effect(
    api: Api, role: str, case: Case, before: Any, after: Any, marker: str, response: httpx.Response
) -> None:
    """An accepted write did what it says."""
    if _follow_up(case):
        (shortlist_before, requests_before), (shortlist_after, requests_after) = before, after
        offer = api.offer_a
        if case.method == "DELETE":
            assert (shortlist_before, shortlist_after) == ([offer], [])
            assert requests_after == requests_before  # the request stays: it was sent
        elif case.route.endswith("/shortlist"):
            assert (shortlist_before, shortlist_after) == ([], [offer])
            assert response.json()["offer"]["id"] == offer
        else:
            assert requests_before == []
            assert requests_after == [(offer, f"Matrix request {marker}")]
            assert shortlist_after == [offer]  # asking for contact shortlists the provider
    elif (case.method, case.route) == ("POST", "/v1/jobs"):
        assert after == before + 1
        assert response.json()["status"] == "queued"
    elif case.route.startswith("/v1/jobs/"):
        wanted = {"cancel": ("queued", "cancelled"), "retry": ("cancelled", "queued")}[
            case.route.rsplit("/", 1)[-1]
        ]
        assert (before[1]["status"], after[1]["status"]) == wanted
    elif (case.method, case.route) == ("POST", "/v1/subscriptions"):
        own = getattr(api, PROVIDER_ORGS[role])
        assert (before, after) == ([], [own])
        assert response.json()["organisation_id"] == own
        assert response.headers["Location"] == f"/v1/subscriptions/{response.json()['id']}"
    elif (case.method, case.route) in CREATES:
        assert (before, after) == (0, 1)
    elif case.method == "DELETE":
        assert before[0] == 200
        assert after[0] == 404
    elif case.method == "PATCH":
        assert after[1]["version"] == before[1]["version"] + 1
        changed = next(after[1][name] for name in ("title", "label", "website") if name in after[1])
        assert marker in changed
    elif (action := case.route.rsplit("/", 1)[-1]) in NEW_STATUS:
        assert after[1]["status"] == NEW_STATUS[action]
    elif action == "decision":
        assert (before[1]["status"], after[1]["status"]) == ("suggested", "shortlisted")
        assert marker in after[1]["note"]
        assert after[1]["version"] == before[1]["version"] + 1
    elif action == "rotate-secret":
        (token, old_secret), (_, new_secret) = before[2], after[2]
        assert response.json()["webhook_secret"] == new_secret
        assert new_secret.startswith("whsec_")
        assert new_secret != old_secret
        assert after[2][0] == token
    elif action == "retry":
        assert before["status"] == "dead"
        assert (after["status"], after["attempts"], after["uid"]) == ("pending", 0, before["uid"])
        assert response.json()["id"] == before["id"]
    elif case.route == "/v1/duplicates/merge":
        assert (before[1]["status"], after[1]["status"]) == ("active", "expired")
        assert response.json()["merged_id"] == after[1]["id"]
    elif case.route == "/v1/duplicates/dismiss":
        assert after == before  # only the decision is stored: the records stay as they are
        assert response.status_code == 204
    elif case.route == "/v1/me/notifications/read":
        mine = role == "provider_a"  # another organisation's notification does not exist for provider_b
        assert response.json() == {"marked": 1 if mine else 0}
        assert before is None
        assert (after is not None) == mine
    elif case.route == "/v1/unsubscribe/{token}":
        assert before[1]["active"]
        assert not after[1]["active"]
        assert response.headers["content-type"].startswith("text/html")
        assert "Unsubscribed" in response.text


def check_error_shape(response: httpx.Response) -> None:
    body = response.json()
    assert set(body) <= {"error", "detail", "field"}, body
    assert body["error"] == ERROR_CODES[response.status_code], body
    assert body["detail"], body
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def every_item(api: Api, role: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a listing, page by page."""
    items: list[dict[str, Any]] = []
    while True:
        page = api.get(role, path, params={**params, "limit": 200, "offset": len(items)})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if len(items) >= page.json()["total"] or not page.json()["items"]:
            assert len(items) == page.json()["total"]
            return items


def own_subscriptions(api: Api, role: str) -> set[int]:
    """Ids of the subscriptions of a provider's organisation (as the secretariat lists them)."""
    org = getattr(api, PROVIDER_ORGS[role])
    return {s["id"] for s in every_item(api, "secretariat", "/v1/subscriptions") if s["organisation_id"] == org}


def check_read(api: Api, alerts: Alerts, role: str, case: Case, response: httpx.Response) -> None:
    """What an accepted read returns for this role."""
    if case.route == "/v1/unsubscribe/{token}":  # a page asking to confirm (link scanners follow GET links)
        assert response.headers["content-type"].startswith("text/html")
        assert f'action="/v1/unsubscribe/{alerts.token_a}"' in response.text
        return
    if case.route == "/v1/audit.csv":
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text.startswith("at,actor,")
        return
    body = response.json()
    staff = role in STAFF
    if case.route == "/v1/me":
        assert body["role"] == ("anonymous" if role == "anonymous" else role.split("_")[0])
    elif case.route == "/v1/needs":
        items = every_item(api, role, case.route)
        ids = {need["id"] for need in items}
        assert all(
            n["visibility"] == "public" or staff or (role, n["party"]) == ("party_ken", "KEN") for n in items
        )
        assert (api.confidential_need in ids) == (staff or role == "party_ken")
        assert api.public_need in ids
    elif case.route == "/v1/offers":
        items = every_item(api, role, case.route)
        ids = {offer["id"] for offer in items}
        owner = staff or role == "provider_a"
        assert all(o["status"] == "active" or owner for o in items)
        assert (api.paused_offer_a in ids) == owner
        assert api.offer_a in ids
    elif _follow_up(case):
        assert [item["offer"]["id"] for item in body] == [api.offer_a]
    elif case.route.endswith("/matches"):
        assert body["matches"]  # stored when the fixture need was posted, or ranked again now
    elif case.route == "/v1/offers/{offer_id}/needs":
        assert isinstance(body, list)
        assert api.confidential_need not in {n["need_id"] for n in body} or staff
    elif case.route == "/v1/subscriptions":
        items = every_item(api, role, case.route)
        ids = {s["id"] for s in items}
        if staff:
            assert {alerts.sub_a, alerts.webhook_sub_a, alerts.sub_b} <= ids
        else:
            assert {s["organisation_id"] for s in items} == {getattr(api, PROVIDER_ORGS[role])}
            assert (alerts.sub_a in ids) == (role == "provider_a")
        assert all("webhook_secret" not in s for s in items)  # shown once, when made or rotated
    elif case.route == "/v1/subscriptions/{subscription_id}":
        assert (body["id"], body["organisation_id"]) == (alerts.sub_a, api.org_a)
        assert response.headers["ETag"] == f'"{body["version"]}"'
        assert "webhook_secret" not in body
    elif case.route == "/v1/subscriptions/{subscription_id}/deliveries":
        items = every_item(api, role, response.url.path)
        assert alerts.delivery_a in {d["id"] for d in items}
        assert {d["subscription_id"] for d in items} == {alerts.webhook_sub_a}
    elif case.route == "/v1/me/notifications":
        items = every_item(api, role, case.route)
        ids = {n["id"] for n in items}
        assert {n["subscription_id"] for n in items} <= own_subscriptions(api, role)
        assert (alerts.notification_a in ids) == (role == "provider_a")
        assert (alerts.notification_b in ids) == (role == "provider_b")
    elif case.route == "/v1/review/queue":
        assert {m["status"] for m in body["items"]} <= {"suggested", "shortlisted"}
        assert body["total"] >= len(body["items"]) > 0
    elif case.route == "/v1/matches/{match_id}":
        assert response.headers["ETag"] == f'"{body["version"]}"'
        assert body["status"] == "suggested"
    elif case.route.endswith("/history"):
        assert body == []  # a fresh match: nothing decided yet
    elif case.route == "/v1/audit":
        assert body["total"] >= len(body["items"]) > 0
    elif case.route == "/v1/deliveries":
        items = every_item(api, role, case.route)
        ids = {d["id"] for d in items}
        if not staff:
            assert {d["subscription_id"] for d in items} <= own_subscriptions(api, role)
        assert (alerts.delivery_a in ids) == (staff or role == "provider_a")
        assert (alerts.delivery_b in ids) == (staff or role == "provider_b")


# Cases where the application disagrees with the spec: (method, route, target, role) -> what it does instead.
DISCREPANCIES: dict[tuple[str, str, str, str], str] = {}


def _param(case: Case, role: str) -> Any:
    query = "?" + case.query if case.query else ""
    known = DISCREPANCIES.get((case.method, case.route, case.target, role))
    marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
    return pytest.param(case, role, id=f"{case.method} {case.route}{query} [{case.target}] {role}", marks=marks)


MATRIX = [_param(case, role) for case in CASES for role in ROLES]


@pytest.mark.parametrize(("case", "role"), MATRIX)
def test_route_role_record(api: Api, alerts: Alerts, case: Case, role: str) -> None:
    params = arrange(api, alerts, case)
    path = case.route.format(**params)
    marker = unique()
    headers = {}
    if case.method == "PATCH":
        headers["If-Match"] = api.etag(path)
    elif case.route.endswith("/decision"):  # a decision names the version of the match it decides on
        headers["If-Match"] = api.etag(path.removesuffix("/decision"))
    before = observe(api, case, params, marker)
    url = f"{path}?{case.query}" if case.query else path

    response = api.call(role, case.method, url, json=request_body(case, api, params, marker), headers=headers)

    expected = case.expected[role]
    assert response.status_code == expected, response.text
    after = observe(api, case, params, marker)
    if expected >= 400 or case.method == "GET":
        assert after == before  # refused (or read): nothing changed
    if expected >= 400:
        check_error_shape(response)
    elif case.method == "GET":
        check_read(api, alerts, role, case, response)
    elif (case.method, case.route) == ("POST", "/v1/match"):
        assert response.json()["matches"]
    elif (case.method, case.route) == ("POST", "/v1/assist/need"):
        assert after == before  # a draft is never stored
        assert response.json()["targets"]
    elif not _no_op(case):
        check_effect(api, role, case, before, after, marker, response)


def _no_op(case: Case) -> bool:
    """Pausing a paused offer or resuming an active one changes nothing."""
    return (case.route.endswith("/pause") and case.target == "paused") or (
        case.route.endswith("/resume") and case.target == "active"
    )


# --------------------------------------------------------------------- confidential needs do not leak


NON_OWNERS = ("party_bra", "provider_a", "provider_b")


@pytest.mark.parametrize("role", NON_OWNERS)
def test_a_confidential_need_is_answered_like_a_missing_one(api: Api, role: str) -> None:
    missing = 10_000_000
    for suffix in ("", "/matches", "/matches?rerank=true"):
        hidden = api.get(role, f"/v1/needs/{api.confidential_need}{suffix}")
        absent = api.get(role, f"/v1/needs/{missing}{suffix}")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json() == {
            **absent.json(),
            "detail": absent.json()["detail"].replace(str(missing), str(api.confidential_need)),
        }


@pytest.mark.parametrize("role", NON_OWNERS)
def test_a_confidential_need_never_appears_in_listings_for_non_owners(api: Api, role: str) -> None:
    for params in (
        {"q": api.confidential_title},
        {"country": "KEN", "limit": 200},
        {"target": 3, "region": "Eastern Africa", "limit": 200},
        {"status": "open", "language": "en", "limit": 200},
    ):
        listing = api.get(role, "/v1/needs", params=params)
        assert listing.status_code == 200, listing.text
        assert api.confidential_need not in {n["id"] for n in listing.json()["items"]}
        assert all(n["visibility"] == "public" for n in listing.json()["items"])
    assert api.get(role, "/v1/needs", params={"q": api.confidential_title}).json()["total"] == 0


@pytest.mark.parametrize("role", ["party_ken", *STAFF])
def test_a_confidential_need_is_listed_for_its_party_and_the_staff(api: Api, role: str) -> None:
    listing = api.get(role, "/v1/needs", params={"q": api.confidential_title})
    assert [n["id"] for n in listing.json()["items"]] == [api.confidential_need]
    assert listing.json()["total"] == 1


def test_a_provider_never_sees_confidential_needs_among_the_needs_its_offer_could_serve(api: Api) -> None:
    text = {k: OFFER_BODY[k] for k in ("title", "description", "targets", "assistance_types")}
    hidden = api.new_need(visibility="confidential", **text)  # the offer's own words: it would rank first
    path = f"/v1/offers/{api.offer_a}/needs"
    provider = api.get("provider_a", path, params={"k": 3})
    staff = api.get("secretariat", path, params={"k": 3})
    assert provider.status_code == staff.status_code == 200, provider.text
    assert len(provider.json()) == 3
    assert hidden not in {n["need_id"] for n in provider.json()}
    assert staff.json()[0]["need_id"] == hidden  # the staff see every need


# --------------------------------------------------------------- refusals that depend on the body


def test_a_party_cannot_post_a_need_for_another_country(api: Api) -> None:
    title = unique("Need for another country ")
    response = api.post("party_bra", "/v1/needs", json={**NEED_BODY, "title": title, "party": "KEN"})
    assert response.status_code == 403, response.text
    assert "BRA" in response.json()["detail"]
    assert api.get("secretariat", "/v1/needs", params={"q": title}).json()["total"] == 0


def test_a_party_cannot_file_its_need_under_another_countrys_institution(api: Api) -> None:
    title = unique("Need under a foreign institution ")
    body = {**NEED_BODY, "title": title, "organisation_id": api.org_a}  # organisation A is not Brazilian
    response = api.post("party_bra", "/v1/needs", json=body)
    assert response.status_code == 403, response.text
    assert api.get("secretariat", "/v1/needs", params={"q": title}).json()["total"] == 0


def test_a_provider_cannot_post_an_offer_for_another_organisation(api: Api) -> None:
    title = unique("Offer for another organisation ")
    response = api.post(
        "provider_b", "/v1/offers", json={**OFFER_BODY, "title": title, "organisation_id": api.org_a}
    )
    assert response.status_code == 403, response.text
    assert api.get("secretariat", "/v1/offers", params={"q": title}).json()["total"] == 0


@pytest.mark.parametrize(("field", "value"), [("country", "BRA"), ("org_type", "iplc_organisation")])
def test_a_provider_cannot_change_its_organisations_country_or_type(api: Api, field: str, value: str) -> None:
    path = f"/v1/organisations/{api.org_a}"
    before = api.get("secretariat", path).json()
    assert before[field] != value
    response = api.call("provider_a", "PATCH", path, json={field: value}, headers={"If-Match": api.etag(path)})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field  # the error names the field the caller must drop
    assert api.get("secretariat", path).json() == before


def test_a_party_cannot_move_its_need_to_a_status_reserved_to_the_secretariat(api: Api) -> None:
    need_id = api.new_need()
    path = f"/v1/needs/{need_id}"
    before = api.get("secretariat", path).json()
    refused = api.call(
        "party_ken", "PATCH", path, json={"status": "matched"}, headers={"If-Match": api.etag(path)}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "status"
    assert api.get("secretariat", path).json() == before
    accepted = api.call(
        "secretariat", "PATCH", path, json={"status": "matched"}, headers={"If-Match": api.etag(path)}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "matched"


def test_a_stale_etag_from_a_non_owner_still_answers_by_visibility(api: Api) -> None:
    """Authorization is checked before the version, so a stale If-Match cannot probe a hidden record."""
    need_id = api.new_need(visibility="confidential")
    response = api.call(
        "party_bra", "PATCH", f"/v1/needs/{need_id}", json={"title": "Probe"}, headers={"If-Match": '"99"'}
    )
    assert response.status_code == 404, response.text


# ------------------------------------------------------------- alert records belong to one organisation


def test_provider_b_never_sees_organisation_a_alert_records(api: Api, alerts: Alerts) -> None:
    subscriptions = every_item(api, "provider_b", "/v1/subscriptions")
    assert {s["organisation_id"] for s in subscriptions} == {api.org_b}
    assert alerts.sub_b in {s["id"] for s in subscriptions}
    own = {s["id"] for s in subscriptions}
    assert not {alerts.sub_a, alerts.webhook_sub_a} & own
    for params in ({}, {"status": "dead"}):
        deliveries = every_item(api, "provider_b", "/v1/deliveries", **params)
        assert alerts.delivery_b in {d["id"] for d in deliveries}
        assert alerts.delivery_a not in {d["id"] for d in deliveries}
        assert {d["subscription_id"] for d in deliveries} <= own
    for params in ({}, {"unread": "true"}):
        feed = every_item(api, "provider_b", "/v1/me/notifications", **params)
        assert alerts.notification_b in {n["id"] for n in feed}
        assert {n["subscription_id"] for n in feed} <= own
        assert alerts.notification_a not in {n["id"] for n in feed}


def test_the_secretariat_sees_every_organisations_alert_records(api: Api, alerts: Alerts) -> None:
    subscriptions = {s["id"]: s for s in every_item(api, "secretariat", "/v1/subscriptions")}
    assert subscriptions[alerts.sub_a]["organisation_id"] == api.org_a
    assert subscriptions[alerts.webhook_sub_a]["organisation_id"] == api.org_a
    assert subscriptions[alerts.sub_b]["organisation_id"] == api.org_b
    dead = {d["id"]: d for d in every_item(api, "secretariat", "/v1/deliveries", status="dead")}
    assert {alerts.delivery_a, alerts.delivery_b} <= set(dead)  # every organisation's dead letters
    assert all(d["status"] == "dead" for d in dead.values())
    path = f"/v1/subscriptions/{alerts.webhook_sub_a}/deliveries"
    assert alerts.delivery_a in {d["id"] for d in every_item(api, "secretariat", path, status="dead")}


@pytest.mark.parametrize("role", ["party_ken", "party_bra", "provider_b"])
def test_another_organisations_subscription_is_answered_like_a_missing_one(
    api: Api, alerts: Alerts, role: str
) -> None:
    missing = 10_000_000
    before = observe_subscription(api, alerts.webhook_sub_a)
    for method, suffix, body in (
        ("GET", "", None),
        ("GET", "/deliveries", None),
        ("PATCH", "", {"label": "Probe"}),
        ("DELETE", "", None),
        ("POST", "/rotate-secret", None),
    ):
        headers = {"If-Match": '"1"'} if method == "PATCH" else {}
        hidden = api.call(
            role, method, f"/v1/subscriptions/{alerts.webhook_sub_a}{suffix}", json=body, headers=headers
        )
        absent = api.call(role, method, f"/v1/subscriptions/{missing}{suffix}", json=body, headers=headers)
        assert hidden.status_code == absent.status_code == 404, (method, suffix, hidden.text)
        assert hidden.json() == {
            **absent.json(),
            "detail": absent.json()["detail"].replace(str(missing), str(alerts.webhook_sub_a)),
        }
    hidden = api.post(role, f"/v1/deliveries/{alerts.delivery_a}/retry")
    absent = api.post(role, f"/v1/deliveries/{missing}/retry")
    assert hidden.status_code == absent.status_code == 404, hidden.text
    assert hidden.json()["detail"] == absent.json()["detail"].replace(str(missing), str(alerts.delivery_a))
    assert observe_subscription(api, alerts.webhook_sub_a) == before
    delivery = find_delivery(api, alerts.webhook_sub_a, alerts.delivery_a)
    assert delivery is not None
    assert delivery["status"] == "dead"


def test_a_stale_etag_on_a_subscription_still_answers_by_authorization(api: Api) -> None:
    """Authorization is checked before the version: a stale If-Match neither probes nor hides a refusal."""
    subscription_id = api.new_subscription()
    path = f"/v1/subscriptions/{subscription_id}"
    stale = {"If-Match": '"99"'}
    assert api.call("provider_b", "PATCH", path, json={"label": "Probe"}, headers=stale).status_code == 404
    assert api.call("secretariat", "PATCH", path, json={"label": "Probe"}, headers=stale).status_code == 403
    assert api.call("provider_a", "PATCH", path, json={"label": "Probe"}, headers=stale).status_code == 412


def test_only_a_dead_delivery_is_retried_and_only_its_owners_learn_that(api: Api, alerts: Alerts) -> None:
    pending = api.new_delivery(alerts.webhook_sub_a, status="pending", attempts=1)
    assert api.post("provider_b", f"/v1/deliveries/{pending}/retry").status_code == 404
    refused = api.post("provider_a", f"/v1/deliveries/{pending}/retry")
    assert refused.status_code == 422, refused.text
    check_error_shape(refused)
    delivery = find_delivery(api, alerts.webhook_sub_a, pending)
    assert delivery is not None
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
