"""Batch jobs: keep every open need's suggestions fresh (re-rank) and the embedding cache full (re-embed).

Kinds
    ``rerank_all``: every open or under-review need that exists when the job starts, by ascending id;
    ``rerank_needs``: the needs named in ``params["need_ids"]``; ``reembed``: every offer, need and saved-search
    text whose embedding under the current model is missing (after a model change, all of them).

Resumable
    Work goes in chunks of ``jobs.chunk_size``. A chunk's results (suggestions and diffs), the job's ``done``
    and its ``cursor`` commit in one transaction, and only while the job is still at the attempt this worker
    claimed; so a worker killed at any point leaves the job at a chunk boundary, and the worker that resumes it
    (once the lease has passed) redoes at most the chunk in flight: no suggestion is lost or written twice, and
    the result equals an uninterrupted run's. The set of needs is fixed when the job starts (``up_to``: the
    largest need id then), so a resumed job does the same needs as an uninterrupted one.

Decisions are never overwritten: storing a ranking replaces only suggestions still awaiting review (see
``SuggestedMatchRepository.replace_suggestions``). Each re-ranked need gets a diff: offers that appeared,
disappeared or moved.

Capacity-aware assignment (``params["assignment"]``) runs after a re-rank over the open needs' current
suggestions; its result (pairs, totals, and why any need is short) is stored in ``result["assignment"]``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.engine.query import NeedQuery
from matcher.engine.service import MatchResult, MatchService, need_from_stored, need_text, offer_text
from matcher.errors import ConflictError, InvalidInputError, NotFoundError
from matcher.jobs.assignment import Assignment, Candidate, NeedSlot, OfferSlot, Preferences, assign
from matcher.records.needs import OPEN_STATUSES
from matcher.review.suggestions import store_suggestions
from matcher.settings import JobSettings
from models.jobs import JobRepository
from models.orm import JOB_KINDS, Job, JobNeedDiff, utcnow
from models.outbox import SubscriptionRepository
from models.repositories import CatalogRepository, NeedRepository, OfferRepository, SuggestedMatchRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

MAX_NEED_IDS = 10_000
FINISHED = ("succeeded", "failed", "cancelled")


class RankingExecutor(Protocol):
    """Where the embedding and search stages of a re-rank run: in this process, or on a cluster."""

    def rank(self, needs: Sequence[NeedQuery], *, k: int) -> list[MatchResult]:
        """The ranked providers of each need (explanations included)."""
        ...


class InProcessExecutor:
    """Ranks with the worker's own matching service."""

    def __init__(self, service: MatchService) -> None:
        self.service = service

    def rank(self, needs: Sequence[NeedQuery], *, k: int) -> list[MatchResult]:
        return self.service.match_batch(needs, k=k) if needs else []


# -------------------------------------------------------------------------------------- submitting


def submit(
    session: Session,
    principal: Principal,
    kind: str,
    *,
    need_ids: Sequence[int] = (),
    assignment: Mapping[str, Any] | None = None,
    k: int | None = None,
) -> Job:
    """Queue a job (the secretariat and admins)."""
    access.check_staff(principal, "run batch jobs")
    if kind not in JOB_KINDS:
        raise InvalidInputError(f"unknown job kind {kind!r}; one of {', '.join(JOB_KINDS)}", field="kind")
    params: dict[str, Any] = {}
    if kind == "rerank_needs":
        ids = sorted(set(need_ids))
        if not ids:
            raise InvalidInputError("a rerank_needs job needs 'need_ids'", field="need_ids")
        if len(ids) > MAX_NEED_IDS:
            raise InvalidInputError(f"at most {MAX_NEED_IDS} need ids; use rerank_all", field="need_ids")
        known = NeedRepository(session).present_ids(ids)
        if unknown := [i for i in ids if i not in known]:
            raise InvalidInputError(f"no needs with ids {unknown[:10]}", field="need_ids")
        params["need_ids"] = ids
    elif need_ids:
        raise InvalidInputError(f"'need_ids' is for rerank_needs jobs, not {kind}", field="need_ids")
    if assignment is not None:
        if kind == "reembed":
            raise InvalidInputError("assignment runs after a re-rank, not a re-embed", field="assignment")
        params["assignment"] = dict(assignment)
    if k is not None:
        params["k"] = k
    return JobRepository(session).add(Job(kind=kind, params=params, created_by=principal.user_id))


def get_job(session: Session, principal: Principal, job_id: int) -> Job:
    access.check_staff(principal, "see batch jobs")
    job = JobRepository(session).get(job_id)
    if job is None:
        raise NotFoundError(f"no job with id {job_id}")
    return job


def list_jobs(
    session: Session, principal: Principal, *, statuses: Sequence[str] = (), limit: int, offset: int
) -> tuple[list[Job], int]:
    access.check_staff(principal, "see batch jobs")
    return JobRepository(session).listing(statuses=statuses, limit=limit, offset=offset)


def job_diffs(
    session: Session, principal: Principal, job_id: int, *, changed_only: bool, limit: int, offset: int
) -> tuple[list[JobNeedDiff], int]:
    get_job(session, principal, job_id)
    return JobRepository(session).diffs(job_id, changed_only=changed_only, limit=limit, offset=offset)


def cancel(session: Session, principal: Principal, job_id: int) -> Job:
    """Cancel a queued job at once, a running one at its next chunk boundary (what is done stays done)."""
    job = get_job(session, principal, job_id)
    if job.status in FINISHED:
        raise ConflictError(f"job {job_id} is {job.status}; only queued or running jobs can be cancelled")
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", utcnow()
    else:
        job.cancel_requested = True
    session.flush()
    return job


def retry(session: Session, principal: Principal, job_id: int) -> Job:
    """Queue a failed or cancelled job again; it resumes from its last checkpoint."""
    job = get_job(session, principal, job_id)
    if job.status not in ("failed", "cancelled"):
        raise ConflictError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
    job.status, job.error, job.cancel_requested, job.finished_at = "queued", None, False, None
    session.flush()
    return job


def eta_seconds(job: Job, now: dt.datetime | None = None) -> float | None:
    """Seconds left at the pace of the current run (``None`` before there is a pace to go by)."""
    if job.status != "running" or not job.total or job.resumed_at is None:
        return None
    now = now or utcnow()
    resumed = job.resumed_at if job.resumed_at.tzinfo else job.resumed_at.replace(tzinfo=dt.UTC)
    elapsed = (now - resumed).total_seconds()
    done_now = job.done - job.done_at_resume
    if done_now <= 0 or elapsed <= 0:
        return None
    return max(0.0, (job.total - job.done) * elapsed / done_now)


# ------------------------------------------------------------------------------------------ running


class LeaseLostError(Exception):
    """Another worker took the job over (this one was presumed dead): stop without writing."""


@dataclass(frozen=True, slots=True)
class Claimed:
    job_id: int
    attempt: int
    kind: str


class JobRunner:
    """Claims queued (or abandoned) jobs and runs them chunk by chunk.

    Args:
        service: the matching service (its database, embedder and index).
        settings: job settings.
        executor: where ranking runs (default: in this process).
        stop: set to stop at the next chunk boundary (the job is resumed later).
    """

    def __init__(
        self,
        service: MatchService,
        settings: JobSettings,
        *,
        executor: RankingExecutor | None = None,
        stop: threading.Event | None = None,
        on_chunk: Callable[[Job], None] | None = None,
    ) -> None:
        self.service = service
        self.db = service.db
        self.settings = settings
        self.executor = executor or InProcessExecutor(service)
        self.stop = stop or threading.Event()
        self.on_chunk = on_chunk

    def claim(self, now: dt.datetime | None = None) -> Claimed | None:
        """Take the oldest queued job, or one whose worker stopped renewing its lease."""
        now = now or utcnow()

        def work(session: Session) -> Claimed | None:
            job = JobRepository(session).claimable(now)
            if job is None:
                return None
            job.attempt += 1
            job.status = "running"
            job.leased_until = now + dt.timedelta(seconds=self.settings.lease_s)
            job.started_at = job.started_at or now
            job.resumed_at, job.done_at_resume = now, job.done
            return Claimed(job.id, job.attempt, job.kind)

        return self.db.run(work)

    def run_next(self) -> int | None:
        """Claim and run one job to its end (or to a stop); returns its id, ``None`` when none was due."""
        claimed = self.claim()
        if claimed is None:
            return None
        self.run(claimed)
        return claimed.job_id

    def run(self, claimed: Claimed) -> None:
        log.info("job %d (%s) started, attempt %d", claimed.job_id, claimed.kind, claimed.attempt)
        try:
            if claimed.kind == "reembed":
                self._reembed(claimed)
            else:
                self._rerank(claimed)
        except LeaseLostError:
            log.warning("job %d was taken over by another worker; stopping", claimed.job_id)
        except Exception as exc:
            log.exception("job %d failed", claimed.job_id)
            self._finish(claimed, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])

    # -------------------------------------------------------------------------------------- re-rank

    def _rerank(self, claimed: Claimed) -> None:
        job = self._load(claimed)
        k = int(job.params.get("k", self.settings.k))
        if "up_to" not in job.cursor:
            job = self._start_rerank(claimed, job)
        while True:
            ids = self._next_needs(job)
            if not ids:
                break
            if self._should_stop(claimed):
                return
            with self.db.transaction(read_only=True) as session:
                rows = NeedRepository(session)
                stored = [rows.get(i) for i in ids]
                queries = [need_from_stored(n) for n in stored if n is not None and n.status in OPEN_STATUSES]
            results = self.executor.rank(queries, k=k)
            job = self._commit_chunk(claimed, ids, queries, results)
        if job.params.get("assignment") is not None:
            result = {**job.result, "assignment": assignment_json(self._assign(job.params["assignment"]))}
            self._finish(claimed, "succeeded", result=result)
        else:
            self._finish(claimed, "succeeded")

    def _start_rerank(self, claimed: Claimed, job: Job) -> Job:
        def work(session: Session) -> Job:
            row = self._owned(session, claimed)
            repo = JobRepository(session)
            if row.kind == "rerank_all":
                up_to = repo.max_need_id()
                row.total = repo.count_open_needs(OPEN_STATUSES, up_to=up_to)
                row.cursor = {"up_to": up_to, "after": 0}
            else:
                row.total = len(row.params["need_ids"])
                row.cursor = {"up_to": len(row.params["need_ids"]), "after": 0}  # positions in the id list
            row.result = {"model_id": self.service.store.model_id, "changed_needs": 0}
            return row

        return self.db.run(work)

    def _next_needs(self, job: Job) -> list[int]:
        after, up_to, size = int(job.cursor["after"]), int(job.cursor["up_to"]), self.settings.chunk_size
        if job.kind == "rerank_needs":
            return list(job.params["need_ids"][after : min(after + size, up_to)])
        with self.db.transaction(read_only=True) as session:
            return JobRepository(session).open_need_ids(OPEN_STATUSES, after=after, up_to=up_to, limit=size)

    def _commit_chunk(
        self, claimed: Claimed, ids: list[int], queries: list[NeedQuery], results: list[MatchResult]
    ) -> Job:
        model_id = self.service.store.model_id

        def work(session: Session) -> Job:
            job = self._owned(session, claimed)
            repo, matches = JobRepository(session), SuggestedMatchRepository(session)
            stored = NeedRepository(session)
            changed = 0
            for query, result in zip(queries, results, strict=True):
                assert query.need_id is not None
                if stored.get(query.need_id) is None:
                    continue  # deleted while the chunk was ranked
                before = {m.offer_id: m.rank for m in matches.for_need(query.need_id)}
                after = {
                    m.offer_id: m.rank
                    for m in store_suggestions(session, query.need_id, result, model_id=model_id)
                }
                diff = need_diff(job.id, query.need_id, before, after)
                changed += diff.changed
                repo.add_diff(diff)
            job.done += len(ids)
            position = ids[-1] if job.kind == "rerank_all" else int(job.cursor["after"]) + len(ids)
            job.cursor = {**job.cursor, "after": position}
            job.result = {**job.result, "changed_needs": int(job.result.get("changed_needs", 0)) + changed}
            now = utcnow()
            job.progressed_at = now
            job.leased_until = now + dt.timedelta(seconds=self.settings.lease_s)
            return job

        job = self.db.run(work)
        if self.on_chunk is not None:
            self.on_chunk(job)
        return job

    def _assign(self, options: Mapping[str, Any]) -> Assignment:
        """Providers for the open needs under offer capacities, from their current suggestions."""
        with self.db.transaction(read_only=True) as session:
            rows = SuggestedMatchRepository(session).scored_pairs(
                need_statuses=OPEN_STATUSES, statuses=("suggested", "shortlisted")
            )
            need_repo = NeedRepository(session)
            need_ids = sorted({r.need_id for r in rows} | set(need_repo.ids_in_statuses(OPEN_STATUSES)))
            needs = need_repo.by_ids(need_ids)
            offers = OfferRepository(session).capacities(sorted({r.offer_id for r in rows}))
        return assign(
            [NeedSlot(i, needs[i].party, needs[i].title) for i in need_ids if i in needs],
            [OfferSlot(o.id, o.capacity, o.country, o.title) for o in offers],
            [Candidate(r.need_id, r.offer_id, float(r.score)) for r in rows],
            per_need=int(options.get("per_need", 3)),
            min_per_need=int(options.get("min_per_need", 1)),
            preferences=Preferences(
                south_south=float(options.get("south_south", 0.0)), ldc_sids=float(options.get("ldc_sids", 0.0))
            ),
        )

    # ------------------------------------------------------------------------------------- re-embed

    def _reembed(self, claimed: Claimed) -> None:
        job = self._load(claimed)
        if "stage" not in job.cursor:
            job = self._start_reembed(claimed)
        stages = ("offers", "needs", "queries")
        while job.cursor["stage"] in stages:
            if self._should_stop(claimed):
                return
            stage, after = job.cursor["stage"], int(job.cursor["after"])
            ids, texts = self._texts(stage, after)
            before = self.service.store.embedded
            if texts:
                self.service.store.get(texts)
            embedded = self.service.store.embedded - before

            def work(session: Session, stage: str = stage, ids: list[int] = ids, embedded: int = embedded) -> Job:
                row = self._owned(session, claimed)
                if ids:
                    row.cursor = {"stage": stage, "after": ids[-1]}
                else:
                    following = stages.index(stage) + 1
                    row.cursor = {"stage": stages[following] if following < len(stages) else "done", "after": 0}
                row.done += len(ids)
                row.result = {**row.result, "embedded": int(row.result.get("embedded", 0)) + embedded}
                now = utcnow()
                row.progressed_at, row.leased_until = now, now + dt.timedelta(seconds=self.settings.lease_s)
                return row

            job = self.db.run(work)
            if self.on_chunk is not None:
                self.on_chunk(job)
        self._finish(claimed, "succeeded")

    def _start_reembed(self, claimed: Claimed) -> Job:
        def work(session: Session) -> Job:
            row = self._owned(session, claimed)
            offers = CatalogRepository(session).versions()
            needs = NeedRepository(session).count()
            queries = SubscriptionRepository(session).count_queries()
            row.total = len(offers) + needs + queries
            row.cursor = {"stage": "offers", "after": 0}
            row.result = {"model_id": self.service.store.model_id, "embedded": 0}
            return row

        return self.db.run(work)

    def _texts(self, stage: str, after: int) -> tuple[list[int], list[str]]:
        size = self.settings.chunk_size
        with self.db.transaction(read_only=True) as session:
            if stage == "offers":
                ids = OfferRepository(session).ids_after(after, limit=size)
                snapshots = CatalogRepository(session).snapshots(ids)
                return ids, [offer_text(s) for s in snapshots]
            if stage == "needs":
                rows = NeedRepository(session).page_after(after, limit=size)
                return [n.id for n in rows], [need_text(need_from_stored(n)) for n in rows]
            subs = SubscriptionRepository(session).queries_after(after, limit=size)
            return [s.id for s in subs], [s.query_text or "" for s in subs]

    # ------------------------------------------------------------------------------------ bookkeeping

    def _load(self, claimed: Claimed) -> Job:
        with self.db.transaction(read_only=True) as session:
            job = JobRepository(session).get(claimed.job_id)
            if job is None or job.attempt != claimed.attempt:
                raise LeaseLostError
            return job

    @staticmethod
    def _owned(session: Session, claimed: Claimed) -> Job:
        job = JobRepository(session).locked(claimed.job_id)
        if job is None or job.attempt != claimed.attempt or job.status != "running":
            raise LeaseLostError
        return job

    def _should_stop(self, claimed: Claimed) -> bool:
        """Stop at this chunk boundary: cancelled (the job ends) or the worker is stopping (it resumes later)."""
        if self.stop.is_set():

            def release(session: Session) -> tuple[int, int | None]:
                job = self._owned(session, claimed)
                job.leased_until = utcnow()  # another worker may resume it at once
                return job.done, job.total

            done, total = self.db.run(release)
            log.info(
                "job %d (%s) paused at %d of %s: the worker is stopping", claimed.job_id, claimed.kind, done, total
            )
            return True
        with self.db.transaction(read_only=True) as session:
            job = JobRepository(session).get(claimed.job_id)
            cancelled = job is not None and job.cancel_requested
        if cancelled:
            self._finish(claimed, "cancelled")
        return cancelled

    def _finish(
        self, claimed: Claimed, status: str, *, error: str | None = None, result: dict[str, Any] | None = None
    ) -> None:
        def work(session: Session) -> tuple[int, int | None]:
            job = self._owned(session, claimed)
            job.status, job.error, job.finished_at, job.leased_until = status, error, utcnow(), None
            if result is not None:
                job.result = result
            return job.done, job.total

        try:
            done, total = self.db.run(work)
        except LeaseLostError:
            log.warning("job %d: another worker owns it; not marking it %s", claimed.job_id, status)
            return
        log.info("job %d (%s) %s: %d of %s done", claimed.job_id, claimed.kind, status, done, total)


def need_diff(job_id: int, need_id: int, before: Mapping[int, int], after: Mapping[int, int]) -> JobNeedDiff:
    """What changed in a need's suggestions (offer id -> rank before and after)."""
    appeared = sorted(set(after) - set(before))
    disappeared = sorted(set(before) - set(after))
    moved = [[o, before[o], after[o]] for o in sorted(set(before) & set(after)) if before[o] != after[o]]
    return JobNeedDiff(
        job_id=job_id,
        need_id=need_id,
        appeared=appeared,
        disappeared=disappeared,
        moved=moved,
        changed=bool(appeared or disappeared or moved),
    )


def assignment_json(result: Assignment) -> dict[str, Any]:
    """The stored form of an assignment (job results)."""
    return {
        "feasible": result.feasible,
        "message": result.message,
        "total_score": result.total_score,
        "total_adjusted": result.total_adjusted,
        "pairs": [[p.need_id, p.offer_id, round(p.score, 6)] for p in result.pairs],
        "shortfalls": [
            {"need_id": s.need_id, "got": s.got, "wanted": s.wanted, "reason": s.reason} for s in result.shortfalls
        ],
        "bottlenecks": [
            {"offer_id": b.offer_id, "capacity": b.capacity, "need_ids": list(b.need_ids)}
            for b in result.bottlenecks
        ],
    }
