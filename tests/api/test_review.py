"""The secretariat's review workflow over HTTP: the queue, decisions on a match through its whole life, and the
audit log (JSON and CSV) that records every step.

Expectations are written out from the issue, not read from the code under test: a match goes suggested ->
shortlisted -> accepted/rejected -> contacted -> completed, and can be reopened; a need goes open -> under_review
-> matched as providers are shortlisted and accepted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from matcher.engine.explain import Explanation
from matcher.engine.service import Match, MatchResult
from matcher.engine.verdicts import load_calibration
from matcher.review.suggestions import store_suggestions
from models.orm import SuggestedMatch
from tests.api.conftest import NEED_BODY, ROLES, STAFF, Api, app_routes, unique

# The match state machine of the issue: state -> {action: the state it leads to}.
LIFE: dict[str, dict[str, str]] = {
    "suggested": {"shortlist": "shortlisted", "accept": "accepted", "reject": "rejected"},
    "shortlisted": {"accept": "accepted", "reject": "rejected", "reopen": "suggested"},
    "accepted": {"contact": "contacted", "reopen": "suggested"},
    "rejected": {"reopen": "suggested"},
    "contacted": {"complete": "completed", "reject": "rejected"},
    "completed": {},
}
ACTIONS = ("shortlist", "accept", "reject", "contact", "complete", "reopen")
# A walk that takes every legal transition at least once, with the need's status after each step: shortlisting
# puts an open need under review, accepting matches it, taking back its only chosen provider reopens its review.
WALK: list[tuple[str, dict[str, str], str, str]] = [
    ("shortlist", {}, "shortlisted", "under_review"),
    ("reopen", {}, "suggested", "under_review"),
    ("accept", {"note": "Fits the basin survey"}, "accepted", "matched"),
    ("reopen", {"note": "Accepted too early"}, "suggested", "under_review"),
    ("reject", {"reason": "geography", "note": "Does not work in East Africa"}, "rejected", "under_review"),
    ("reopen", {}, "suggested", "under_review"),
    ("shortlist", {}, "shortlisted", "under_review"),
    ("reject", {"reason": "capacity"}, "rejected", "under_review"),
    ("reopen", {}, "suggested", "under_review"),
    ("shortlist", {}, "shortlisted", "under_review"),
    ("accept", {}, "accepted", "matched"),
    ("contact", {"note": "E-mailed the coordinator"}, "contacted", "matched"),
    ("reject", {"reason": "other", "note": "The provider declined"}, "rejected", "under_review"),
    ("reopen", {}, "suggested", "under_review"),
    ("accept", {}, "accepted", "matched"),
    ("contact", {}, "contacted", "matched"),
    ("complete", {"note": "Training delivered"}, "completed", "matched"),
]
# How to bring a fresh match into each state.
PATHS: dict[str, list[dict[str, str]]] = {
    "suggested": [],
    "shortlisted": [{"action": "shortlist"}],
    "accepted": [{"action": "accept"}],
    "rejected": [{"action": "reject", "reason": "quality"}],
    "contacted": [{"action": "accept"}, {"action": "contact"}],
    "completed": [{"action": "accept"}, {"action": "contact"}, {"action": "complete"}],
}
OTHERS = tuple(role for role in ROLES if role not in STAFF and role != "anonymous")


def match_path(match_id: int) -> str:
    return f"/v1/matches/{match_id}"


def decide(api: Api, match_id: int, body: dict[str, Any], *, role: str = "secretariat") -> httpx.Response:
    """A decision as ``role``, naming the match's current version."""
    return api.post(
        role, f"{match_path(match_id)}/decision", json=body, headers={"If-Match": api.etag(match_path(match_id))}
    )


def history(api: Api, match_id: int) -> list[dict[str, Any]]:
    response = api.get("secretariat", f"{match_path(match_id)}/history")
    assert response.status_code == 200, response.text
    return list(response.json())


def audit(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Every audit event matching ``params``, newest first."""
    items: list[dict[str, Any]] = []
    while True:
        page = api.get("secretariat", "/v1/audit", params={**params, "limit": 200, "offset": len(items)})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if len(items) >= page.json()["total"]:
            return items


def need_status(api: Api, need_id: int) -> str:
    return str(api.get("secretariat", f"/v1/needs/{need_id}").json()["status"])


# ------------------------------------------------------------------------------------ the life of a match


def test_the_state_machine_of_the_walk_covers_every_legal_transition() -> None:
    walked, state = set(), "suggested"
    for action, _, after, _ in WALK:
        assert LIFE[state][action] == after
        walked.add((state, action))
        state = after
    assert walked == {(state, action) for state, actions in LIFE.items() for action in actions}


def test_the_full_life_of_a_match_is_decided_step_by_step_and_audited(api: Api) -> None:
    need_id = api.new_need(title=unique("Life of a match "))
    match_id = api.new_match(need_id=need_id)
    assert need_status(api, need_id) == "open"
    secretariat = api.get("secretariat", "/v1/me").json()["user_id"]
    state = "suggested"
    for action, extra, after, need_after in WALK:
        before = api.get("secretariat", match_path(match_id)).json()
        response = decide(api, match_id, {"action": action, **extra})
        assert response.status_code == 200, (action, response.text)
        body = response.json()
        assert (body["status"], body["reason"], body["note"]) == (after, extra.get("reason"), extra.get("note"))
        assert body["allowed_actions"] == [a for a in ACTIONS if a in LIFE[after]]
        assert body["decided_by"] == secretariat
        assert body["version"] == before["version"] + 1
        assert response.headers["ETag"] == f'"{body["version"]}"'
        assert (body["need"]["id"], body["need"]["status"]) == (need_id, need_after)
        assert need_status(api, need_id) == need_after
        state = after
    assert state == "completed"

    # Every step is in the match's history, in order, with its status before and after.
    events = history(api, match_id)
    assert len(events) == len(WALK)
    state = "suggested"
    for event, (action, extra, after, _) in zip(events, WALK, strict=True):
        assert (event["entity"], event["entity_id"], event["action"]) == ("match", match_id, "decision")
        assert event["changes"]["status"] == [state, after]
        assert (event["actor_user_id"], event["actor_role"], event["actor_label"]) == (
            secretariat,
            "secretariat",
            "secretariat",
        )
        assert event["note"] == f"match {match_id}: {action}"
        if "reason" in extra:
            assert event["changes"]["reason"] == [None, extra["reason"]]
        if "note" in extra:
            assert event["changes"]["note"][1] == extra["note"]
        state = after
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)

    # The need's moves are in the log too, each attributed to the decision that made it.
    moves = [e for e in reversed(audit(api, entity="need", entity_id=need_id)) if e["action"] == "update"]
    assert [e["changes"]["status"] for e in moves] == [
        ["open", "under_review"],
        ["under_review", "matched"],
        ["matched", "under_review"],
        ["under_review", "matched"],
        ["matched", "under_review"],
        ["under_review", "matched"],
    ]
    assert [e["note"] for e in moves] == [
        f"match {match_id}: {a}" for a in ("shortlist", "accept", "reopen", "accept", "reject", "accept")
    ]


@pytest.mark.parametrize("state", list(LIFE))
def test_every_illegal_transition_is_refused_naming_the_allowed_ones(api: Api, state: str) -> None:
    match_id = api.new_match()
    for body in PATHS[state]:
        assert decide(api, match_id, body).status_code == 200
    before = api.get("secretariat", match_path(match_id)).json()
    assert before["status"] == state
    decided = len(history(api, match_id))
    allowed = [a for a in ACTIONS if a in LIFE[state]]
    for action in ACTIONS:
        if action in LIFE[state]:
            continue
        body = {"action": action, **({"reason": "other"} if action == "reject" else {})}
        response = decide(api, match_id, body)
        assert response.status_code == 422, (state, action, response.text)
        assert response.json()["error"] == "invalid_input"
        assert response.json()["field"] == "action"
        detail = response.json()["detail"]
        assert f"is {state}" in detail
        assert "allowed actions: " + (", ".join(allowed) if allowed else "none") in detail, detail
        assert api.get("secretariat", match_path(match_id)).json() == before
    assert len(history(api, match_id)) == decided  # nothing refused is in the log


def test_a_rejection_needs_a_reason_from_the_vocabulary_and_other_decisions_have_none(api: Api) -> None:
    match_id = api.new_match()
    for body, field in (
        ({"action": "reject"}, "reason"),
        ({"action": "reject", "reason": "too_far"}, "reason"),
        ({"action": "accept", "reason": "geography"}, "reason"),
        ({"action": "reject", "reason": "geography", "note": "n" * 2001}, "note"),
        ({"action": "reject", "reason": "geography", "rating": 3}, "rating"),
        ({"action": "approve"}, "action"),
    ):
        response = decide(api, match_id, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, response.json()
    assert api.get("secretariat", match_path(match_id)).json()["status"] == "suggested"
    accepted = decide(api, match_id, {"action": "reject", "reason": "duplicate", "note": "n" * 2000})
    assert accepted.status_code == 200, accepted.text


def test_a_decision_needs_the_current_version(api: Api) -> None:
    match_id = api.new_match()
    path = f"{match_path(match_id)}/decision"
    missing = api.post("secretariat", path, json={"action": "shortlist"})
    assert missing.status_code == 428, missing.text
    old = api.etag(match_path(match_id))
    assert decide(api, match_id, {"action": "shortlist"}).status_code == 200
    stale = api.post("secretariat", path, json={"action": "accept"}, headers={"If-Match": old})
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"] == "stale_version"
    assert api.get("secretariat", match_path(match_id)).json()["status"] == "shortlisted"


@pytest.mark.parametrize("status", ["withdrawn", "closed"])
def test_the_matches_of_a_withdrawn_or_closed_need_are_not_decided(api: Api, status: str) -> None:
    need_id = api.new_need()
    match_id = api.new_match(need_id=need_id)
    path = f"/v1/needs/{need_id}"
    for step in ["withdrawn"] if status == "withdrawn" else ["matched", "closed"]:
        moved = api.call("secretariat", "PATCH", path, json={"status": step}, headers={"If-Match": api.etag(path)})
        assert moved.status_code == 200, moved.text
    refused = decide(api, match_id, {"action": "shortlist"})
    assert refused.status_code == 422, refused.text
    assert f"need {need_id} is {status}" in refused.json()["detail"]
    assert "reopen the need" in refused.json()["detail"]


def test_the_secretariat_moves_needs_only_along_the_need_state_machine(api: Api) -> None:
    need_id = api.new_need()
    path = f"/v1/needs/{need_id}"

    def patch(status: str) -> httpx.Response:
        return api.call("admin", "PATCH", path, json={"status": status}, headers={"If-Match": api.etag(path)})

    assert patch("closed").status_code == 422  # an open need is not closed without being matched
    assert "allowed: matched, under_review, withdrawn" in patch("closed").json()["detail"]
    for status in ("under_review", "matched", "closed"):
        assert patch(status).status_code == 200
    refused = patch("withdrawn")
    assert refused.status_code == 422
    assert refused.json()["detail"].endswith("(allowed: open)")
    assert patch("open").status_code == 200


@pytest.mark.parametrize("role", [*OTHERS, "anonymous"])
def test_only_the_secretariat_reviews_and_reads_the_audit_log(api: Api, role: str) -> None:
    match_id = api.new_match()
    before = api.get("secretariat", match_path(match_id)).json()
    expected = 401 if role == "anonymous" else 403
    etag = {"If-Match": f'"{before["version"]}"'}
    for method, path, body in (
        ("GET", "/v1/review/queue", None),
        ("GET", match_path(match_id), None),
        ("POST", f"{match_path(match_id)}/decision", {"action": "accept"}),
        ("GET", f"{match_path(match_id)}/history", None),
        ("GET", "/v1/audit", None),
        ("GET", "/v1/audit.csv", None),
    ):
        response = api.call(role, method, path, json=body, headers=etag if method == "POST" else {})
        assert response.status_code == expected, (path, response.text)
        assert response.json()["error"] == ("unauthenticated" if role == "anonymous" else "forbidden")
    assert api.get("secretariat", match_path(match_id)).json() == before


def test_no_route_changes_the_audit_log(api: Api) -> None:
    assert {(m, p) for m, p in app_routes(api) if p.startswith("/v1/audit")} == {
        ("GET", "/v1/audit"),
        ("GET", "/v1/audit.csv"),
    }


# ------------------------------------------------------------------------------------------ the queue


def queue(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Every item of the review queue for ``params``."""
    items: list[dict[str, Any]] = []
    while True:
        page = api.get("secretariat", "/v1/review/queue", params={**params, "limit": 200, "offset": len(items)})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if len(items) >= page.json()["total"]:
            return items


def test_the_queue_shows_matches_awaiting_review_with_scores_and_explanations(api: Api) -> None:
    need_id = api.new_need(title=unique("Queued need "))
    offers = [api.offer_a, *(api.new_offer(title=unique("Queued offer ")) for _ in range(3))]
    ids = [
        api.new_match(need_id=need_id, offer_id=o, score=s)
        for o, s in zip(offers, (0.3, 0.9, 0.5, 0.7), strict=True)
    ]
    assert decide(api, ids[3], {"action": "reject", "reason": "out_of_scope"}).status_code == 200
    assert decide(api, ids[0], {"action": "shortlist"}).status_code == 200

    items = queue(api, need_id=need_id)
    assert [i["id"] for i in items] == [ids[1], ids[2], ids[0]]  # best score first; the rejection is decided
    first = items[0]
    assert (first["need"]["id"], first["need"]["party"], first["need"]["region"]) == (
        need_id,
        "KEN",
        "Eastern Africa",
    )
    assert first["need"]["targets"] == NEED_BODY["targets"]
    assert (first["offer"]["id"], first["score"], first["components"]) == (offers[1], 0.9, {"semantic": 0.9})
    # The verdict is read from the stored components (semantic 0.9 alone: the shipped calibration's reading).
    fit = load_calibration().assess({"semantic": 0.9})
    assert (first["probability"], first["verdict"], first["weak_topical_fit"]) == (
        fit.probability,
        fit.verdict,
        False,
    )
    assert first["explanation"]["text"]
    assert first["allowed_actions"] == ["shortlist", "accept", "reject"]
    assert [i["id"] for i in queue(api, need_id=need_id, sort="score")] == [ids[0], ids[2], ids[1]]
    assert [i["id"] for i in queue(api, need_id=need_id, status="rejected")] == [ids[3]]
    shortlisted = queue(api, need_id=need_id, status=["shortlisted", "rejected"])
    assert {i["id"] for i in shortlisted} == {ids[0], ids[3]}
    page = api.get("secretariat", "/v1/review/queue", params={"need_id": need_id, "limit": 1, "offset": 1}).json()
    assert (page["total"], [i["id"] for i in page["items"]]) == (3, [ids[2]])


def test_the_queue_leaves_out_needs_no_longer_served_unless_asked(api: Api) -> None:
    need_id = api.new_need()
    match_id = api.new_match(need_id=need_id)
    path = f"/v1/needs/{need_id}"
    api.call("secretariat", "PATCH", path, json={"status": "withdrawn"}, headers={"If-Match": api.etag(path)})
    assert match_id not in {i["id"] for i in queue(api, need_id=need_id)}
    assert [i["id"] for i in queue(api, need_id=need_id, need_status="withdrawn")] == [match_id]


def test_the_queue_filters_and_sorts_by_region_target_and_age(api: Api) -> None:
    kenya = api.new_need(title=unique("Kenyan need "), targets=[7, 3])
    brazil = api.new_need(party="BRA", title=unique("Brazilian need "), targets=[2])
    kenya_match, brazil_match = api.new_match(need_id=kenya), api.new_match(need_id=brazil)

    south_america = queue(api, region="South America")
    assert brazil_match in {i["id"] for i in south_america}
    assert kenya_match not in {i["id"] for i in south_america}
    assert {i["need"]["region"] for i in south_america} == {"South America"}
    on_target_7 = queue(api, target=7)
    assert kenya_match in {i["id"] for i in on_target_7}
    assert all(7 in i["need"]["targets"] for i in on_target_7)

    regions = [i["need"]["region"] for i in queue(api, sort="region")]
    assert regions == sorted(regions)
    assert [i["need"]["region"] for i in queue(api, sort="-region")] == sorted(regions, reverse=True)
    lowest = [min(i["need"]["targets"]) for i in queue(api, sort="target")]
    assert lowest == sorted(lowest)
    created = [dt.datetime.fromisoformat(i["need"]["created_at"]) for i in queue(api, sort="need_age")]
    assert created == sorted(created, reverse=True)  # youngest first
    created = [dt.datetime.fromisoformat(i["need"]["created_at"]) for i in queue(api, sort="-need_age")]
    assert created == sorted(created)

    for params, field in (
        ({"sort": "age"}, "sort"),
        ({"status": "done"}, "status"),
        ({"region": "Mars"}, "region"),
    ):
        refused = api.get("secretariat", "/v1/review/queue", params=params)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field


# --------------------------------------------------------------------------------- re-ranking and decisions


def ranking(*scored: tuple[int, float]) -> MatchResult:
    """A ranking of the given offers, best first (as the ranker returns one)."""
    matches = [
        Match(
            offer_id=offer_id,
            external_id=None,
            organisation="Fixture organisation",
            title="Fixture offer",
            score=score,
            components={"semantic": score},
            explanation=Explanation(summary="Ranked by the test", reasons=("fixture",)),
            organisation_id=0,
            probability=0.5,
            verdict="good",
            weak_topical_fit=False,
        )
        for offer_id, score in scored
    ]
    return MatchResult(matches=matches, allowed=len(matches))


def test_a_rerank_never_overwrites_a_decision(api: Api) -> None:
    need_id = api.new_need(title=unique("Re-ranked need "))
    offers = [api.new_offer(title=unique("Ranked offer ")) for _ in range(4)]
    with api.db.transaction() as session:
        stored = store_suggestions(
            session, need_id, ranking(*zip(offers, (0.9, 0.8, 0.7, 0.6), strict=True)), model_id="v1"
        )
        ids = {m.offer_id: m.id for m in stored}
    rejected, accepted, reopened, untouched = (ids[o] for o in offers)
    assert decide(
        api, rejected, {"action": "reject", "reason": "conflict_of_interest", "note": "Same board"}
    ).is_success
    assert decide(api, accepted, {"action": "accept", "note": "Right team"}).is_success
    assert decide(api, reopened, {"action": "shortlist"}).is_success
    assert decide(api, reopened, {"action": "reopen"}).is_success

    # A new ranking without any of them, then one that ranks the accepted offer again, lower.
    with api.db.transaction() as session:
        store_suggestions(session, need_id, ranking((api.offer_a, 0.95)), model_id="v2")
    with api.db.transaction() as session:
        store_suggestions(session, need_id, ranking((api.offer_a, 0.95), (offers[1], 0.4)), model_id="v3")
    with api.db.transaction(read_only=True) as session:
        rows = {m.id: m for m in session.scalars(select(SuggestedMatch).where(SuggestedMatch.need_id == need_id))}
    assert (rows[rejected].status, rows[rejected].reason, rows[rejected].note) == (
        "rejected",
        "conflict_of_interest",
        "Same board",
    )
    assert (rows[accepted].status, rows[accepted].note, rows[accepted].score) == ("accepted", "Right team", 0.4)
    assert rows[accepted].model_id == "v3"  # the ranking is refreshed, the decision kept
    assert rows[reopened].status == "suggested"  # reopened, with its history: kept
    assert untouched not in rows  # never reviewed: replaced by the new ranking
    assert need_status(api, need_id) == "matched"
    assert len(history(api, accepted)) == 1  # re-ranking is not a decision


# ------------------------------------------------------------------------------------------ the audit log


def test_changes_to_needs_and_offers_are_audited_with_who_and_before_and_after(api: Api) -> None:
    posted = api.post("party_ken", "/v1/needs", json={**NEED_BODY, "title": unique("Audited need ")})
    assert posted.status_code == 201, posted.text
    need = posted.json()["need"]
    path = f"/v1/needs/{need['id']}"
    change = {"title": unique("Renamed need "), "targets": [3, 8]}
    patched = api.call("party_ken", "PATCH", path, json=change, headers={"If-Match": posted.headers["ETag"]})
    assert patched.status_code == 200, patched.text
    party = api.get("party_ken", "/v1/me").json()["user_id"]

    created, updated = reversed(audit(api, entity="need", entity_id=need["id"]))
    assert (created["action"], created["actor_user_id"], created["actor_role"]) == ("create", party, "party")
    assert created["actor_label"] == "party-ken"
    assert created["changes"]["title"] == [None, need["title"]]
    assert created["changes"]["targets"] == [None, [1, 3]]
    assert updated["action"] == "update"
    assert updated["changes"] == {"title": [need["title"], change["title"]], "targets": [[1, 3], [3, 8]]}

    offer_id = api.new_offer(title=unique("Audited offer "))
    assert api.post("provider_a", f"/v1/offers/{offer_id}/pause").status_code == 200
    assert api.call("provider_a", "DELETE", f"/v1/offers/{offer_id}").status_code == 204
    deleted, paused, made = audit(api, entity="offer", entity_id=offer_id)
    assert (made["action"], made["actor_role"]) == ("create", "secretariat")  # made through the services
    assert (paused["action"], paused["changes"], paused["actor_label"]) == (
        "update",
        {"status": ["active", "paused"]},
        "provider-a",
    )
    assert deleted["action"] == "delete"
    assert deleted["changes"]["status"] == ["paused", None]
    assert deleted["changes"]["regions_served"] == [["Africa"], None]

    by_party = audit(api, actor_user_id=party, entity="need", action="update")
    assert updated["id"] in {e["id"] for e in by_party}
    assert all(e["actor_user_id"] == party and e["action"] == "update" for e in by_party)
    since = dt.datetime.fromisoformat(updated["at"])
    window = audit(api, since=since.isoformat(), until=(since + dt.timedelta(microseconds=1)).isoformat())
    assert updated["id"] in {e["id"] for e in window}
    assert created["id"] not in {e["id"] for e in window}
    later = audit(api, since=(since + dt.timedelta(hours=1)).isoformat())
    assert later == []
    for params, field in (({"entity": "user"}, "entity"), ({"action": "edit"}, "action")):
        refused = api.get("secretariat", "/v1/audit", params=params)
        assert (refused.status_code, refused.json()["field"]) == (422, field)


def test_the_audit_log_exports_as_csv(api: Api) -> None:
    match_id = api.new_match()
    for body in (
        {"action": "shortlist", "note": 'Quotes "and", commas'},
        {"action": "reject", "reason": "quality"},
    ):
        assert decide(api, match_id, body).status_code == 200
    response = api.get("secretariat", "/v1/audit.csv", params={"entity": "match", "entity_id": match_id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    events = audit(api, entity="match", entity_id=match_id)
    assert len(rows) == len(events) == 2
    for row, event in zip(rows, events, strict=True):  # both newest first
        assert dt.datetime.fromisoformat(row["at"]) == dt.datetime.fromisoformat(event["at"])
        assert (row["actor"], row["entity"], row["entity_id"], row["action"]) == (
            "secretariat",
            "match",
            str(match_id),
            "decision",
        )
        assert json.loads(row["changes"]) == event["changes"]
        assert row["note"] == event["note"]
    assert json.loads(rows[1]["changes"])["note"] == [None, 'Quotes "and", commas']
    assert json.loads(rows[0]["changes"])["status"] == ["shortlisted", "rejected"]
    everything = api.get("secretariat", "/v1/audit.csv")
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == len(audit(api))
