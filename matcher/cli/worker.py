"""The worker (``pollinate worker``): delivers alerts, runs batch jobs, keeps house.

A separate process from the API. APScheduler runs:

- ``deliver`` every ``notifications.poll_s`` seconds: drains every due delivery, a batch at a time (instant
  alerts, digests whose time has come, retries whose backoff has passed). Digests need no timer of their own:
  each is a delivery due at its digest time, so a worker that was down then sends it when it comes back;
- ``jobs`` every ``jobs.poll_s`` seconds: runs queued batch jobs (and resumes abandoned ones) one after the
  other, see :mod:`matcher.jobs`; the model and the index are loaded the first time a job needs them;
- ``nightly`` at ``jobs.nightly_hour`` (when set): queues a re-rank of every open need, unless one is queued
  or running already;
- ``connectors`` every ``connectors.poll_s`` seconds: runs the connectors whose schedule is due (see
  :mod:`matcher.connectors`), one after the other, each in its own all-or-nothing run;
- ``housekeeping`` every hour: expired idempotency records, old settled deliveries.

Within a batch, deliveries are sent by a small thread pool (one slow webhook does not hold up the others);
every delivery is settled in its own transaction as soon as it is sent. Any number of workers may run against
one database (see :mod:`matcher.alerts.outbox` for claiming and at-least-once delivery).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from matcher.alerts import outbox
from matcher.alerts.mail import SmtpMailer, render_digest
from matcher.alerts.outbox import Cancelled, Message
from matcher.alerts.webhooks import WebhookPolicy, send_webhook
from matcher.connectors import service as connectors
from matcher.engine.service import MatchService, create_embedder
from matcher.errors import DeliveryError
from matcher.jobs.batch import JobRunner
from matcher.jobs.executors import make_executor
from matcher.settings import Settings
from models.db import Database
from models.jobs import JobRepository
from models.orm import Job, utcnow
from models.outbox import DeliveryRepository
from models.repositories import IdempotencyRepository

log = logging.getLogger(__name__)

SETTLED_RETENTION = dt.timedelta(days=30)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """The worker's log, kept to what an operator reads: deliveries sent and failed, job starts and ends,
    housekeeping that removed something, warnings and errors.

    Left at INFO, APScheduler writes two lines per scheduled run ("Running job", "executed successfully"), so
    every ``poll_s`` (1,058 of a run's 1,067 lines), and a warning per tick while a long drain or job holds its
    single instance (``max_instances=1`` is the design, not a fault); httpx writes a line per webhook request
    with its URL, which may carry a receiver's token (delivery errors keep URLs out of the log for that reason);
    bm25s sets its own logger to DEBUG when imported (already done: this module imports the engine), a line per
    lexical index build.
    """
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(_expected_overlap)
    for name in ("httpx", "httpcore", "bm25s"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _expected_overlap(record: logging.LogRecord) -> bool:
    """False for APScheduler's "skipped: maximum number of running instances reached" (see above)."""
    return not (isinstance(record.msg, str) and "maximum number of running instances reached" in record.msg)


def _poll(
    scheduler: BlockingScheduler, func: Callable[[], object], *, name: str, seconds: float, start: dt.datetime
) -> None:
    """Schedule the polling job ``name``: every ``seconds`` from ``start``, never two runs of it at once, and
    the runs it missed while one was busy folded into one (a queue of missed polls would find nothing to do)."""
    scheduler.add_job(
        func, "interval", seconds=seconds, id=name, max_instances=1, coalesce=True, next_run_time=start
    )


class DeliveryWorker:
    """Claims, sends and settles deliveries; runs batch jobs.

    Args:
        db: the database holding the outbox.
        settings: all settings (``notifications`` for delivery, ``api`` for idempotency retention).
        policy: webhook policy (default: from the settings).
        mailer: e-mail sender (default: SMTP from the settings).
        threads: deliveries sent concurrently.
        run_batch_jobs: also run batch jobs (and the nightly schedule).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        policy: WebhookPolicy | None = None,
        mailer: SmtpMailer | None = None,
        threads: int = 4,
        run_batch_jobs: bool = True,
    ) -> None:
        self.db = db
        self.settings = settings
        self.notifications = settings.notifications
        self.policy = policy or WebhookPolicy.from_settings(self.notifications)
        self.mailer = mailer or SmtpMailer(self.notifications.smtp)
        self.threads = threads
        self.run_batch_jobs = run_batch_jobs
        self._rng = random.Random()  # noqa: S311 - retry jitter, not crypto
        self._stop = threading.Event()
        self.sent = 0
        self._runner: JobRunner | None = None
        self._runner_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ rounds

    def run_once(self) -> int:
        """Claim one batch of due deliveries and send it; returns how many were claimed."""
        with self.db.transaction() as session:
            ids = outbox.claim(session, self.notifications)
        if not ids:
            return 0
        with ThreadPoolExecutor(max_workers=min(self.threads, len(ids)), thread_name_prefix="deliver") as pool:
            list(pool.map(self.deliver, ids))
        return len(ids)

    def drain(self) -> int:
        """Send every due delivery (batch after batch) unless stopped; returns how many were claimed."""
        total = 0
        while not self._stop.is_set():
            claimed = self.run_once()
            total += claimed
            if claimed < self.notifications.batch_size:
                break
        return total

    def deliver(self, delivery_id: int) -> str | None:
        """Send one claimed delivery and settle it; returns its new status."""
        try:
            with self.db.transaction(read_only=True) as session:
                message = outbox.prepare(session, delivery_id, self.notifications)
        except Exception:
            log.exception("could not prepare delivery %d; it will be retried after its lease", delivery_id)
            return None
        if message is None:
            return None
        if isinstance(message, Cancelled):
            return self._settle(
                message.delivery_id, message.attempt, cancelled=message.reason, requeue=message.requeue
            )
        try:
            status_code = self._send(message)
        except DeliveryError as exc:
            # The message names the target URL, which may embed a receiver's token: it goes to the delivery
            # record (seen by the subscriber), not to the logs.
            log.warning(
                "delivery %s (%s) failed (status %s, retryable %s)",
                message.uid,
                message.channel,
                exc.status_code,
                exc.retryable,
            )
            return self._settle(message.delivery_id, message.attempt, error=exc)
        except Exception as exc:  # a bug must not kill the worker; the delivery is retried
            log.exception("delivery %s (%s) raised", message.uid, message.channel)
            error = DeliveryError(f"unexpected error while sending: {type(exc).__name__}", retryable=True)
            return self._settle(message.delivery_id, message.attempt, error=error)
        self.sent += 1
        log.info("delivered %s (%s)", message.uid, message.channel)
        return self._settle(message.delivery_id, message.attempt, status_code=status_code)

    def _send(self, message: Message) -> int | None:
        if message.channel == "webhook":
            assert message.body is not None
            assert message.secret is not None
            return send_webhook(
                message.target,
                secret=message.secret,
                delivery_id=message.uid,
                body=message.body,
                policy=self.policy,
            )
        assert message.digest is not None
        self.mailer.send(render_digest(message.digest, sender=self.notifications.smtp.sender))
        return None

    def _settle(
        self,
        delivery_id: int,
        attempt: int,
        *,
        error: DeliveryError | None = None,
        cancelled: str | None = None,
        requeue: tuple[int, ...] = (),
        status_code: int | None = None,
    ) -> str | None:
        def work(session):  # type: ignore[no-untyped-def]
            return outbox.settle(
                session,
                delivery_id,
                attempt,
                self.notifications,
                error=error,
                cancelled=cancelled,
                requeue=requeue,
                status_code=status_code,
                rng=self._rng,
            )

        result: str | None = self.db.run(work)
        return result

    # ------------------------------------------------------------------------------------------ jobs

    def runner(self) -> JobRunner:
        """The job runner, with the matching service started on first use (model and index load once)."""
        with self._runner_lock:
            if self._runner is None:
                service = MatchService.from_settings(self.settings, self.db, create_embedder(self.settings))
                service.start()
                self._runner = JobRunner(
                    service, self.settings.jobs, executor=make_executor(self.settings, service), stop=self._stop
                )
            return self._runner

    def run_jobs(self) -> int:
        """Run every claimable job, one after the other, until none is left or the worker stops."""
        ran = 0
        while not self._stop.is_set():
            with self.db.transaction(read_only=True) as session:
                pending = JobRepository(session).claimable(utcnow()) is not None
            if not pending or self.runner().run_next() is None:
                break
            ran += 1
        return ran

    def queue_nightly(self) -> None:
        """Queue the scheduled re-rank of every open need (not if one is queued or running)."""
        with self.db.transaction() as session:
            if JobRepository(session).unfinished("rerank_all"):
                log.info("nightly re-rank skipped: one is queued or running")
                return
            job = JobRepository(session).add(Job(kind="rerank_all", params={"scheduled": True}))
            log.info("nightly re-rank queued as job %d", job.id)

    def harvest(self) -> int:
        """Run every connector whose schedule is due; returns how many ran (a failed run is logged and
        recorded by the connector, and does not stop the others)."""
        reports = connectors.run_due(self.db, self.settings)
        for report in reports:
            if report.status == "failed":
                log.warning("%s", report.summary())
        return len(reports)

    def housekeeping(self) -> None:
        """Forget expired idempotency records and deliveries settled long ago (notifications stay)."""
        now = utcnow()
        with self.db.transaction() as session:
            records = IdempotencyRepository(session).purge_all_before(
                now - dt.timedelta(hours=self.settings.api.idempotency_hours)
            )
            deliveries = DeliveryRepository(session).purge_delivered_before(now - SETTLED_RETENTION)
        if records or deliveries:
            log.info("housekeeping: %d idempotency records, %d settled deliveries removed", records, deliveries)

    # -------------------------------------------------------------------------------------- process

    def run(self, *, install_signals: bool = True, on_start: Callable[[], None] | None = None) -> None:
        """Run until SIGTERM/SIGINT (or :meth:`stop`): deliver every ``poll_s``, housekeeping hourly."""
        scheduler = BlockingScheduler(timezone=dt.UTC)
        now = dt.datetime.now(dt.UTC)
        _poll(scheduler, self.drain, name="deliver", seconds=self.notifications.poll_s, start=now)
        scheduler.add_job(self.housekeeping, "interval", hours=1, id="housekeeping", next_run_time=now)
        _poll(scheduler, self.harvest, name="connectors", seconds=self.settings.connectors.poll_s, start=now)
        if self.run_batch_jobs:
            _poll(scheduler, self.run_jobs, name="jobs", seconds=self.settings.jobs.poll_s, start=now)
            if self.settings.jobs.nightly_hour is not None:
                scheduler.add_job(self.queue_nightly, "cron", hour=self.settings.jobs.nightly_hour, id="nightly")

        def shutdown(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: finishing the current batch and stopping", signum)
            self._stop.set()
            scheduler.shutdown(wait=False)

        if install_signals:
            signal.signal(signal.SIGTERM, shutdown)
            signal.signal(signal.SIGINT, shutdown)
        self._scheduler = scheduler
        if on_start is not None:
            on_start()
        scheduler.start()

    def stop(self) -> None:
        self._stop.set()
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
