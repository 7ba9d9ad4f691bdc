"""At least once, never lost: 200 pending webhook deliveries, the worker process killed with SIGKILL half-way
and started again. Every notification arrives; a duplicate carries the id (and bytes) of the original."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from matcher.access.rules import Principal
from matcher.alerts.outbox import record_alerts
from matcher.alerts.reverse import Alert
from matcher.alerts.webhooks import new_secret
from matcher.engine.explain import Explanation
from matcher.records import needs
from matcher.settings import NotificationSettings
from models import migrate
from models.db import Database
from models.orm import Delivery, Organisation, Subscription
from tests.loopback import Receiver

PENDING = 200
STAFF = Principal(role="secretariat")


def queue(db: Database, url: str) -> None:
    """One subscription and 200 needs that each satisfied it: 200 instant webhook deliveries in the outbox."""
    settings = NotificationSettings(instant_per_hour=10_000)
    with db.transaction() as session:
        provider = Organisation(name="Crash-test provider", org_type="ngo", country="FRA")
        session.add(provider)
        session.flush()
        subscription = Subscription(
            organisation_id=provider.id,
            kind="offers",
            rule="top_n",
            top_n=10,
            delivery="instant",
            channels=["webhook"],
            webhook_url=url,
            webhook_secret=new_secret(),
            unsubscribe_token="crash-test-token-" + "x" * 20,
            filters={},
        )
        session.add(subscription)
        session.flush()
        for i in range(PENDING):
            body = {
                "title": f"Need number {i} for the crash test",
                "description": "A need written for the worker crash test, with enough words to be valid.",
                "targets": [1 + i % 23],
                "assistance_types": ["training"],
                "party": "KEN",
            }
            need = needs.create_need(session, needs.plan_need(session, STAFF, body))
            alert = Alert(subscription.id, provider.id, None, 0.5, {"semantic": 0.5}, Explanation("Fits.", ()))
            assert len(record_alerts(session, need, [alert], settings)) == 1


def start_worker(db_url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "POLLINATE_DATA_DIR": str(data_dir),
        "POLLINATE_DATABASE__URL": db_url,
        "POLLINATE_NOTIFICATIONS__WEBHOOK_ALLOW_HTTP": "true",
        "POLLINATE_NOTIFICATIONS__WEBHOOK_ALLOW_PRIVATE": "true",
        "POLLINATE_NOTIFICATIONS__POLL_S": "0.1",
        "POLLINATE_NOTIFICATIONS__LEASE_S": "2",
        "POLLINATE_NOTIFICATIONS__BATCH_SIZE": "10",
    }
    command = [sys.executable, "-c", "from matcher.cli.main import main; main()", "worker", "--threads", "2"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def delivered(db: Database) -> int:
    with db.transaction(read_only=True) as session:
        stmt = select(func.count()).where(Delivery.status == "delivered")
        return int(session.scalar(stmt) or 0)


def wait_for(condition: object, timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.timeout(300)
def test_sigkill_mid_batch_loses_nothing_and_duplicates_keep_their_id(db_url: str, tmp_path: Path) -> None:
    receiver = Receiver(status=204, delay_s=0.02).start()  # slow enough to kill the worker mid-way
    db = Database(db_url)
    log = tmp_path / "worker.log"
    try:
        migrate.upgrade(db)
        queue(db, receiver.url())

        first = start_worker(db_url, tmp_path, log)
        wait_for(lambda: len(receiver.requests) >= PENDING // 3, 120, "the first deliveries", log)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = delivered(db)
        assert at_kill < PENDING, "the worker finished before it was killed: nothing was tested"

        second = start_worker(db_url, tmp_path, log)
        try:
            wait_for(lambda: delivered(db) == PENDING, 180, "every delivery to be settled", log)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)

        with db.transaction(read_only=True) as session:
            rows = session.execute(select(Delivery.uid, Delivery.status)).all()
        uids = {uid for uid, _ in rows}
        assert len(uids) == PENDING
        assert {status for _, status in rows} == {"delivered"}
        bodies: dict[str, set[bytes]] = defaultdict(set)
        for request in receiver.requests:
            bodies[request.headers["webhook-id"]].add(request.body)
        assert set(bodies) == uids  # none lost, nothing foreign
        assert all(len(b) == 1 for b in bodies.values())  # a resend is the same message, byte for byte
        duplicates = len(receiver.requests) - PENDING
        print(f"delivered at kill: {at_kill}; received {len(receiver.requests)} requests, {duplicates} duplicates")
    finally:
        receiver.stop()
        db.dispose()
