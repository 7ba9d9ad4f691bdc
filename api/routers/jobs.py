"""``/v1/jobs``: batch re-ranking and re-embedding, run by ``pollinate worker`` (the secretariat and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.deps import DatabaseDep, SettingsDep
from api.routers.common import ERRORS, LIMIT, OFFSET, JobStatus, RecordId
from api.schemas import JobCreate, JobDiffOut, JobOut, PageOut, job_diff_out, job_out
from api.security import IdempotencyDep, SignedInDep, idempotent, rate_limited
from matcher.jobs import batch as jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERRORS)


@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Queue a batch job",
)
def post_job(
    body: JobCreate, principal: SignedInDep, db: DatabaseDep, settings: SettingsDep, idem: IdempotencyDep
) -> JSONResponse:
    """The worker picks it up within ``POLLINATE_JOBS__POLL_S`` seconds; follow it with ``GET /v1/jobs/{id}``.
    Re-ranks keep every decision already taken and record what changed per need (``/diffs``)."""

    def work(session):  # type: ignore[no-untyped-def]
        job = jobs.submit(
            session,
            principal,
            body.kind,
            need_ids=body.need_ids,
            assignment=body.assignment.model_dump() if body.assignment else None,
            k=body.k,
        )
        return 201, job_out(job).model_dump(mode="json"), {"Location": f"/v1/jobs/{job.id}"}

    return idempotent(db, settings.api.idempotency_hours, principal, idem, work)


@router.get("", response_model=PageOut[JobOut], summary="List jobs (newest first)")
def list_jobs(
    principal: SignedInDep,
    db: DatabaseDep,
    status: Annotated[list[JobStatus], Query(max_length=5)] = [],  # noqa: B006
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[JobOut]:
    with db.transaction(read_only=True) as session:
        rows, total = jobs.list_jobs(session, principal, statuses=tuple(status), limit=limit, offset=offset)
        return PageOut[JobOut](items=[job_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut, summary="A job: status, progress, ETA, result")
def get_job(job_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> JobOut:
    with db.transaction(read_only=True) as session:
        return job_out(jobs.get_job(session, principal, job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Cancel a job (a running one stops at its next checkpoint)",
)
def cancel_job(job_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> JobOut:
    with db.transaction() as session:
        return job_out(jobs.cancel(session, principal, job_id))


@router.post(
    "/{job_id}/retry",
    response_model=JobOut,
    dependencies=[Depends(rate_limited("write"))],
    summary="Queue a failed or cancelled job again (it resumes from its last checkpoint)",
)
def retry_job(job_id: RecordId, principal: SignedInDep, db: DatabaseDep) -> JobOut:
    with db.transaction() as session:
        return job_out(jobs.retry(session, principal, job_id))


@router.get("/{job_id}/diffs", response_model=PageOut[JobDiffOut], summary="What a re-rank changed, per need")
def job_diffs(
    job_id: RecordId,
    principal: SignedInDep,
    db: DatabaseDep,
    changed: Annotated[bool, Query(description="Only needs whose suggestions changed.")] = False,
    limit: LIMIT = 50,
    offset: OFFSET = 0,
) -> PageOut[JobDiffOut]:
    with db.transaction(read_only=True) as session:
        rows, total = jobs.job_diffs(session, principal, job_id, changed_only=changed, limit=limit, offset=offset)
        return PageOut[JobDiffOut](items=[job_diff_out(r) for r in rows], total=total, limit=limit, offset=offset)
