"""Repository of batch jobs and the per-need diffs their re-ranks produce.

Claiming a job follows the outbox's rule: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a ``BEGIN IMMEDIATE``
transaction on SQLite; the claim bumps ``attempt`` and sets a lease before any work starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.orm import Job, JobNeedDiff, Need


class JobRepository:
    """Jobs, oldest first."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def add(self, job: Job) -> Job:
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: int) -> Job | None:
        return self.session.get(Job, job_id)

    def locked(self, job_id: int) -> Job | None:
        """The job, its row locked until commit on PostgreSQL (SQLite's write transactions are exclusive)."""
        stmt = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
        if self._postgres:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).first()

    def listing(self, *, statuses: Sequence[str] = (), limit: int, offset: int) -> tuple[list[Job], int]:
        stmt = select(Job)
        if statuses:
            stmt = stmt.where(Job.status.in_(list(statuses)))
        total = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        items = list(
            self.session.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset))
        )
        return items, total

    def claimable(self, now: dt.datetime) -> Job | None:
        """The oldest queued job, or a running one whose worker stopped renewing its lease."""
        stmt = (
            select(Job)
            .where(
                or_(
                    Job.status == "queued",
                    (Job.status == "running") & (Job.leased_until < now),
                )
            )
            .order_by(Job.created_at, Job.id)
            .limit(1)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return self.session.scalars(stmt).first()

    def unfinished(self, kind: str) -> list[Job]:
        """Queued or running jobs of one kind (so that a schedule does not pile up identical jobs)."""
        stmt = select(Job).where(Job.kind == kind, Job.status.in_(["queued", "running"]))
        return list(self.session.scalars(stmt))

    # ------------------------------------------------------------------------------------ needs to do

    def open_need_ids(self, statuses: Sequence[str], *, after: int, up_to: int, limit: int) -> list[int]:
        """Ids of needs in ``statuses`` in ``(after, up_to]``, ascending."""
        stmt = (
            select(Need.id)
            .where(Need.status.in_(list(statuses)), Need.id > after, Need.id <= up_to)
            .order_by(Need.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def count_open_needs(self, statuses: Sequence[str], *, up_to: int) -> int:
        stmt = select(func.count()).where(Need.status.in_(list(statuses)), Need.id <= up_to)
        return self.session.scalar(stmt) or 0

    def max_need_id(self) -> int:
        return int(self.session.scalar(select(func.max(Need.id))) or 0)

    # ------------------------------------------------------------------------------------------ diffs

    def add_diff(self, diff: JobNeedDiff) -> None:
        self.session.add(diff)

    def diffs(self, job_id: int, *, changed_only: bool, limit: int, offset: int) -> tuple[list[JobNeedDiff], int]:
        stmt = select(JobNeedDiff).where(JobNeedDiff.job_id == job_id)
        if changed_only:
            stmt = stmt.where(JobNeedDiff.changed)
        total = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        items = list(self.session.scalars(stmt.order_by(JobNeedDiff.need_id).limit(limit).offset(offset)))
        return items, total
