"""Idempotency records expire: a user's expired records are purged by its next idempotent request."""

from __future__ import annotations

import datetime as dt
import json

from api.security import IdempotencyRequest, idempotent
from matcher.access import accounts
from matcher.access.rules import Principal
from models import migrate
from models.db import Database
from models.orm import IdempotencyRecord, utcnow
from models.repositories import IdempotencyRepository


def _record(user_id: int, key: str, age_hours: float) -> IdempotencyRecord:
    return IdempotencyRecord(
        user_id=user_id,
        key=key,
        method="POST",
        path="/v1/offers",
        request_hash="h",
        status_code=201,
        response_body="{}",
        response_headers={},
        created_at=utcnow() - dt.timedelta(hours=age_hours),
    )


def test_expired_records_are_purged_and_an_expired_key_can_be_reused(sqlite_db: Database) -> None:
    migrate.upgrade(sqlite_db)
    with sqlite_db.transaction() as session:
        me = accounts.create_user(session, name="me", role="secretariat")
        other = accounts.create_user(session, name="other", role="secretariat")
        ids = (me.id, other.id)
        for user_id in ids:
            session.add_all([_record(user_id, "old", 30), _record(user_id, "recent", 1)])
    principal = Principal(role="secretariat", user_id=ids[0])
    request = IdempotencyRequest("old", "POST", "/v1/offers", "fingerprint")

    response = idempotent(
        sqlite_db, 24, principal, request, lambda _session: (201, {"done": True}, {"ETag": '"1"'})
    )

    assert response.status_code == 201 and json.loads(response.body) == {"done": True}
    with sqlite_db.transaction(read_only=True) as session:
        repo = IdempotencyRepository(session)
        reused = repo.get(ids[0], "old")
        assert reused is not None and reused.request_hash == "fingerprint"  # the expired one was replaced
        assert repo.get(ids[0], "recent") is not None
        assert repo.get(ids[1], "old") is not None  # other users' records are theirs to purge
