"""``pollinate worker``'s log holds what an operator reads — deliveries, job starts and ends — and nothing per
scheduler tick: no APScheduler run lines, no warnings about a busy drain skipping ticks, no webhook URLs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from matcher.access.rules import Principal
from matcher.alerts.outbox import record_alerts
from matcher.alerts.reverse import Alert
from matcher.alerts.webhooks import new_secret
from matcher.engine.explain import Explanation
from matcher.jobs import batch as jobs
from matcher.records import needs
from matcher.records.seed import seed_demo
from matcher.settings import NotificationSettings
from models import migrate
from models.db import Database, sqlite_url
from models.orm import Delivery, Job, Organisation, Subscription
from tests.loopback import Receiver

STAFF = Principal(role="secretariat")
ADMIN = Principal(role="admin")
POLL_S = 0.1
LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<message>.*)$")


def queue_delivery(db: Database, url: str) -> None:
    """One instant webhook delivery in the outbox."""
    with db.transaction() as session:
        provider = Organisation(name="Log-test provider", org_type="ngo", country="FRA")
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
            unsubscribe_token="log-test-token-" + "x" * 20,
            filters={},
        )
        session.add(subscription)
        session.flush()
        body = {
            "title": "A need for the worker log test",
            "description": "A need written for the worker log test, with enough words to be a valid need.",
            "targets": [3],
            "assistance_types": ["training"],
            "party": "KEN",
        }
        need = needs.create_need(session, needs.plan_need(session, STAFF, body))
        alert = Alert(subscription.id, provider.id, None, 0.5, {"semantic": 0.5}, Explanation("Fits.", ()))
        assert len(record_alerts(session, need, [alert], NotificationSettings())) == 1


def wait_for(condition: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def test_the_worker_log_has_events_not_scheduler_ticks(tmp_path: Path) -> None:
    db_path = tmp_path / "pollinate.db"
    db = Database(sqlite_url(db_path))
    migrate.upgrade(db)
    seed_demo(db)
    # The receiver holds each request for a second: the drain stays busy across ~10 ticks of POLL_S.
    receiver = Receiver(delay_s=1.0).start()
    queue_delivery(db, receiver.url())
    with db.transaction() as session:
        job_id = jobs.submit(session, ADMIN, "rerank_all").id

    env = {
        **os.environ,
        "POLLINATE_DATA_DIR": str(tmp_path),
        "POLLINATE_DATABASE__URL": sqlite_url(db_path),
        "POLLINATE_EMBEDDING__MODEL": "hashing",
        "POLLINATE_NOTIFICATIONS__WEBHOOK_ALLOW_HTTP": "true",
        "POLLINATE_NOTIFICATIONS__WEBHOOK_ALLOW_PRIVATE": "true",
        "POLLINATE_NOTIFICATIONS__POLL_S": str(POLL_S),
        "POLLINATE_JOBS__POLL_S": str(POLL_S),
        "OMP_NUM_THREADS": "1",
    }
    log = tmp_path / "worker.log"
    command = [sys.executable, "-c", "from matcher.cli.main import main; main()", "worker", "--threads", "1"]
    with log.open("wb") as out:
        worker = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:

        def settled() -> bool:
            with db.transaction(read_only=True) as session:
                delivery = session.scalars(select(Delivery)).one()
                job = session.get(Job, job_id)
                assert job is not None
                return delivery.status == "delivered" and job.status == "succeeded"

        wait_for(settled, "the delivery and the job", log)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        receiver.stop()
        db.dispose()

    records = [m.groupdict() for m in map(LINE.match, log.read_text().splitlines()) if m]
    messages = [r["message"] for r in records]
    assert any(m.startswith("delivered ") and m.endswith("(webhook)") for m in messages), messages
    assert f"job {job_id} (rerank_all) started, attempt 1" in messages
    assert any(m.startswith(f"job {job_id} (rerank_all) succeeded: ") for m in messages), messages
    noise = [
        r for r in records if r["logger"].startswith(("apscheduler", "httpx", "httpcore")) or r["level"] == "DEBUG"
    ]
    assert noise == []
    assert not any(receiver.url() in m for m in messages)
