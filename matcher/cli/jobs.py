"""``pollinate jobs …``: queue, follow, cancel and retry batch jobs (run by ``pollinate worker``).

The command line acts as an administrator of the database it is pointed at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.orm import Session

from matcher.access.rules import Principal
from matcher.errors import PollinateError
from matcher.jobs import batch as jobs
from matcher.settings import Settings
from models.db import Database
from models.orm import JOB_KINDS, Job

jobs_app = typer.Typer(help="Batch jobs: re-rank open needs, re-embed texts (run by `pollinate worker`).")
OPERATOR = Principal(role="admin")
out = Console()
err = Console(stderr=True)


def _db(ctx: typer.Context) -> Database:
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    return settings.open_database()


def _summary(job: Job) -> str:
    progress = f"{job.done}/{job.total}" if job.total is not None else f"{job.done}"
    text = f"job {job.id} ({job.kind}): {job.status}, {progress}"
    if job.error:
        text += f" — {job.error}"
    return text


@jobs_app.command("submit")
def submit_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(JOB_KINDS)}.")],
    need: Annotated[list[int], typer.Option("--need", help="A need id (rerank_needs; repeat).")] = [],  # noqa: B006
    assign: Annotated[bool, typer.Option("--assign", help="Capacity-aware assignment after the re-rank.")] = False,
    per_need: Annotated[int, typer.Option(min=1, max=20, help="Assignment: providers per need at most.")] = 3,
    min_per_need: Annotated[int, typer.Option(min=0, max=20, help="Assignment: providers per need at least.")] = 1,
    south_south: Annotated[float, typer.Option(min=0, max=2, help="Assignment: South-South bonus.")] = 0.0,
    ldc_sids: Annotated[float, typer.Option(min=0, max=2, help="Assignment: LDC/SIDS priority bonus.")] = 0.0,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the job with a progress bar until it ends.")
    ] = False,
) -> None:
    """Queue a job; a running `pollinate worker` picks it up."""
    options = (
        {"per_need": per_need, "min_per_need": min_per_need, "south_south": south_south, "ldc_sids": ldc_sids}
        if assign
        else None
    )
    db = _db(ctx)
    try:
        with db.transaction() as session:
            job = jobs.submit(session, OPERATOR, kind, need_ids=need, assignment=options)
            job_id = job.id
        out.print(f"queued job {job_id} ({kind})")
        if wait:
            _follow(db, job_id)
    except PollinateError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()


@jobs_app.command("list")
def list_cmd(
    ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=500, help="How many.")] = 20
) -> None:
    """The most recent jobs."""
    db = _db(ctx)
    try:
        with db.transaction(read_only=True) as session:
            rows, total = jobs.list_jobs(session, OPERATOR, limit=limit, offset=0)
            table = Table("id", "kind", "status", "progress", "created", "finished")
            for job in rows:
                progress = f"{job.done}/{job.total}" if job.total is not None else str(job.done)
                table.add_row(
                    str(job.id),
                    job.kind,
                    job.status,
                    progress,
                    f"{job.created_at:%Y-%m-%d %H:%M}",
                    f"{job.finished_at:%Y-%m-%d %H:%M}" if job.finished_at else "",
                )
        out.print(table)
        out.print(f"{total} jobs in all")
    finally:
        db.dispose()


@jobs_app.command("show")
def show_cmd(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The job.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Progress bar until the job ends.")] = False,
) -> None:
    """A job's status, progress and result (JSON)."""
    db = _db(ctx)
    try:
        if follow:
            _follow(db, job_id)
        with db.transaction(read_only=True) as session:
            job = jobs.get_job(session, OPERATOR, job_id)
            eta = jobs.eta_seconds(job)
            payload = {
                "id": job.id,
                "kind": job.kind,
                "status": job.status,
                "total": job.total,
                "done": job.done,
                "eta_s": round(eta, 1) if eta is not None else None,
                "error": job.error,
                "result": job.result,
            }
        typer.echo(json.dumps(payload, indent=2, default=str))
    except PollinateError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()


@jobs_app.command("cancel")
def cancel_cmd(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="The job.")]) -> None:
    """Cancel a queued job, or stop a running one at its next checkpoint."""
    _change(ctx, job_id, jobs.cancel)


@jobs_app.command("retry")
def retry_cmd(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="The job.")]) -> None:
    """Queue a failed or cancelled job again (it resumes from its last checkpoint)."""
    _change(ctx, job_id, jobs.retry)


def _change(ctx: typer.Context, job_id: int, action: Callable[[Session, Principal, int], Job]) -> None:
    db = _db(ctx)
    try:
        with db.transaction() as session:
            job = action(session, OPERATOR, job_id)
            out.print(_summary(job))
    except PollinateError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()


def _follow(db: Database, job_id: int, *, poll_s: float = 0.5) -> None:
    """A progress bar fed by the job row until the job ends."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task(f"job {job_id}", total=None)
        while True:
            with db.transaction(read_only=True) as session:
                job = jobs.get_job(session, OPERATOR, job_id)
                status, done, total = job.status, job.done, job.total
            progress.update(task, completed=done, total=total, description=f"job {job_id} {status}")
            if status in jobs.FINISHED:
                break
            time.sleep(poll_s)
    out.print(f"job {job_id}: {status}")
    if status == "failed":
        raise typer.Exit(1)
