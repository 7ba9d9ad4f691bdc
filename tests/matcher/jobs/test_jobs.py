"""Batch jobs in process: re-rank with diffs and decisions kept, cancel, resume after a lost worker, re-embed,
capacity-aware assignment, and the Dask executor giving the same suggestions as the worker process."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from embeddings import FakeEmbedder
from matcher.access.rules import Principal
from matcher.engine.service import MatchResult, MatchService, need_from_stored, need_text, offer_text
from matcher.errors import ConflictError, InvalidInputError, PermissionDeniedError
from matcher.jobs import batch as jobs
from matcher.jobs.batch import JobRunner
from matcher.records.seed import seed_demo
from matcher.settings import JobSettings, Settings
from models import migrate
from models.db import Database, sqlite_url
from models.orm import Embedding, Job, JobNeedDiff, Need, Offer, SuggestedMatch
from models.repositories import CatalogRepository

ADMIN = Principal(role="admin")
SMALL_CHUNKS = JobSettings(chunk_size=7, lease_s=60)


def settings_for(path: Path) -> Settings:
    return Settings(data_dir=path.parent, database={"url": sqlite_url(path)}, embedding={"model": "hashing"})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo database (172 offers, 42 open needs), copied by each test."""
    path = tmp_path_factory.mktemp("jobs") / "seeded.db"
    db = Database(sqlite_url(path))
    migrate.upgrade(db)
    seed_demo(db)
    db.dispose()
    return path


@pytest.fixture
def db_path(seeded: Path, tmp_path: Path) -> Path:
    path = tmp_path / "pollinate.db"
    shutil.copy(seeded, path)
    return path


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database(sqlite_url(db_path))
    yield database
    database.dispose()


def make_service(db: Database) -> MatchService:
    service = MatchService(db, FakeEmbedder(dim=384))
    service.start()
    return service


def queue(db: Database, kind: str = "rerank_all", **options: Any) -> int:
    with db.transaction() as session:
        return jobs.submit(session, ADMIN, kind, **options).id


def job(db: Database, job_id: int) -> Job:
    with db.transaction(read_only=True) as session:
        row = session.get(Job, job_id)
        assert row is not None
        return row


def suggestions(db: Database) -> set[tuple[int, int, int, float, str]]:
    with db.transaction(read_only=True) as session:
        rows = session.scalars(select(SuggestedMatch)).all()
        return {(m.need_id, m.offer_id, m.rank, round(m.score, 5), m.status) for m in rows}


def open_needs(db: Database) -> list[int]:
    with db.transaction(read_only=True) as session:
        return list(session.scalars(select(Need.id).where(Need.status.in_(["open", "under_review"]))))


def test_a_rerank_stores_every_open_needs_ranking_with_diffs(db: Database) -> None:
    service = make_service(db)
    job_id = queue(db)
    JobRunner(service, SMALL_CHUNKS).run_next()

    row = job(db, job_id)
    needs = open_needs(db)
    assert (row.status, row.done, row.total) == ("succeeded", len(needs), len(needs))
    with db.transaction(read_only=True) as session:
        for need_id in needs:
            need = session.get(Need, need_id)
            assert need is not None
            expected = service.match(need_from_stored(need), k=10)
            stored = session.scalars(
                select(SuggestedMatch).where(SuggestedMatch.need_id == need_id).order_by(SuggestedMatch.rank)
            ).all()
            assert [m.offer_id for m in stored] == [m.offer_id for m in expected.matches]
        diffs = session.scalars(select(JobNeedDiff).where(JobNeedDiff.job_id == job_id)).all()
    assert {d.need_id for d in diffs} == set(needs)
    assert all(d.changed and len(d.appeared) == 10 for d in diffs)  # nothing was stored before
    assert row.result["changed_needs"] == len(needs)


def test_a_second_rerank_reports_what_moved_and_keeps_decisions(db: Database) -> None:
    service = make_service(db)
    queue(db)
    JobRunner(service, SMALL_CHUNKS).run_next()
    need_id = open_needs(db)[0]
    with db.transaction() as session:
        first, second = session.scalars(
            select(SuggestedMatch).where(SuggestedMatch.need_id == need_id).order_by(SuggestedMatch.rank).limit(2)
        ).all()
        first.status = "accepted"  # a decision taken since
        kept = first.offer_id
        loser = second.offer_id
        offer = session.get(Offer, loser)
        assert offer is not None
        offer.status = "paused"  # the second provider goes away: it must disappear and the rest move up
    job_id = queue(db)
    JobRunner(service, SMALL_CHUNKS).run_next()
    with db.transaction(read_only=True) as session:
        diff = session.get(JobNeedDiff, (job_id, need_id))
        decided = session.scalars(
            select(SuggestedMatch).where(SuggestedMatch.need_id == need_id, SuggestedMatch.offer_id == kept)
        ).one()
    assert diff is not None and diff.changed
    assert loser in diff.disappeared
    assert any(offer_id != kept for offer_id, _, _ in diff.moved)
    assert decided.status == "accepted"


def test_cancelling_stops_at_the_next_checkpoint(db: Database) -> None:
    service = make_service(db)
    job_id = queue(db)

    def cancel_after_first_chunk(row: Job) -> None:
        with db.transaction() as session:
            jobs.cancel(session, ADMIN, job_id)

    JobRunner(service, SMALL_CHUNKS, on_chunk=cancel_after_first_chunk).run_next()
    row = job(db, job_id)
    assert row.status == "cancelled" and row.done == SMALL_CHUNKS.chunk_size
    with db.transaction() as session:
        with pytest.raises(ConflictError):
            jobs.cancel(session, ADMIN, job_id)
        jobs.retry(session, ADMIN, job_id)
    JobRunner(service, SMALL_CHUNKS).run_next()
    row = job(db, job_id)
    assert row.status == "succeeded" and row.done == row.total == len(open_needs(db))


def test_a_job_abandoned_by_its_worker_resumes_and_ends_as_an_uninterrupted_run(
    db: Database, db_path: Path, tmp_path: Path
) -> None:
    reference_path = tmp_path / "reference.db"
    shutil.copy(db_path, reference_path)
    reference = Database(sqlite_url(reference_path))
    queue(reference)
    JobRunner(make_service(reference), SMALL_CHUNKS).run_next()

    service = make_service(db)
    job_id = queue(db)
    stop = threading.Event()
    chunks = 0

    def die_after_two_chunks(row: Job) -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 2:
            stop.set()  # the worker goes away at the next checkpoint, its lease released

    JobRunner(service, SMALL_CHUNKS, stop=stop, on_chunk=die_after_two_chunks).run_next()
    halfway = job(db, job_id)
    assert halfway.status == "running" and halfway.done == 2 * SMALL_CHUNKS.chunk_size
    JobRunner(make_service(db), SMALL_CHUNKS).run_next()  # another worker takes it over
    row = job(db, job_id)
    assert row.status == "succeeded" and row.attempt == 2 and row.done == row.total
    assert suggestions(db) == suggestions(reference)
    reference.dispose()


def test_a_worker_that_lost_its_lease_writes_nothing(db: Database) -> None:
    service = make_service(db)
    queue(db)
    runner = JobRunner(service, SMALL_CHUNKS)
    claimed = runner.claim()
    assert claimed is not None
    with db.transaction() as session:  # presumed dead: another worker claimed the job meanwhile
        session.execute(update(Job).where(Job.id == claimed.job_id).values(attempt=Job.attempt + 1))
    runner.run(claimed)
    assert suggestions(db) == set()
    assert job(db, claimed.job_id).status == "running"  # left to the worker that owns it


def test_rerank_needs_does_only_those_needs(db: Database) -> None:
    needs = open_needs(db)[:3]
    job_id = queue(db, "rerank_needs", need_ids=needs)
    JobRunner(make_service(db), SMALL_CHUNKS).run_next()
    assert job(db, job_id).status == "succeeded"
    assert {s[0] for s in suggestions(db)} == set(needs)


def test_submission_is_checked(db: Database) -> None:
    with db.transaction() as session:
        with pytest.raises(PermissionDeniedError):
            jobs.submit(session, Principal(role="provider", organisation_id=1), "rerank_all")
        with pytest.raises(InvalidInputError, match="need_ids"):
            jobs.submit(session, ADMIN, "rerank_needs")
        with pytest.raises(InvalidInputError, match="no needs"):
            jobs.submit(session, ADMIN, "rerank_needs", need_ids=[10_000_000])
        with pytest.raises(InvalidInputError, match="re-embed"):
            jobs.submit(session, ADMIN, "reembed", assignment={"per_need": 1})


def test_reembed_embeds_only_what_the_current_model_lacks(db: Database) -> None:
    service = MatchService(db, FakeEmbedder(dim=128))  # "a new model" ...
    with db.transaction() as session:  # ... with nothing cached yet
        session.execute(delete(Embedding).where(Embedding.model_id == service.store.model_id))
    with db.transaction(read_only=True) as session:
        texts = {offer_text(s) for s in CatalogRepository(session).snapshots()}
        texts |= {need_text(need_from_stored(n)) for n in session.scalars(select(Need))}
    first = queue(db, "reembed")
    JobRunner(service, SMALL_CHUNKS).run_next()
    row = job(db, first)
    assert row.status == "succeeded" and row.done == row.total
    assert row.result["embedded"] == len(texts)  # every distinct offer and need text, once
    second = queue(db, "reembed")
    JobRunner(service, SMALL_CHUNKS).run_next()
    assert job(db, second).result["embedded"] == 0


def test_assignment_after_a_rerank_respects_capacities(db: Database) -> None:
    with db.transaction() as session:
        session.execute(update(Offer).values(capacity=1))
    job_id = queue(db, assignment={"per_need": 2, "min_per_need": 1})
    JobRunner(make_service(db), SMALL_CHUNKS).run_next()
    result = job(db, job_id).result["assignment"]
    pairs = result["pairs"]
    offers = [offer for _, offer, _ in pairs]
    assert len(offers) == len(set(offers))  # capacity 1 each
    per_need: dict[int, int] = {}
    for need, _, _ in pairs:
        per_need[need] = per_need.get(need, 0) + 1
    assert max(per_need.values()) <= 2
    assert result["feasible"] == (not result["shortfalls"])


@pytest.mark.timeout(300)
def test_the_dask_executor_gives_the_in_process_suggestions(db_path: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from matcher.jobs.executors import DaskExecutor

    reference_path = tmp_path / "reference.db"
    shutil.copy(db_path, reference_path)
    reference = Database(sqlite_url(reference_path))
    queue(reference)
    JobRunner(make_service(reference), SMALL_CHUNKS).run_next()

    settings = settings_for(db_path)
    db = settings.open_database()
    queue(db)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = DaskExecutor(settings, client, min_partition=1)  # several partitions per chunk
        JobRunner(make_service(db), SMALL_CHUNKS, executor=executor).run_next()
        workers_used = client.run(
            lambda: len(__import__("matcher.jobs.executors").jobs.executors.worker_services())
        )
    assert sum(workers_used.values()) >= 1  # the ranking did run on the cluster
    assert suggestions(db) == suggestions(reference)
    db.dispose()
    reference.dispose()


def test_an_offer_deleted_while_a_chunk_is_ranked_is_left_out_and_the_job_succeeds(db_url: str) -> None:
    """The re-rank commits a chunk after ranking it: an offer deleted in between must not fail the job."""
    database = Database(db_url)
    migrate.upgrade(database)
    seed_demo(database)
    try:
        service = make_service(database)
        need_ids = open_needs(database)[:3]
        deleted: list[int] = []

        class DeletingExecutor:
            def rank(self, needs: Any, *, k: int) -> list[MatchResult]:
                results = service.match_batch(needs, k=k)
                victim = results[0].matches[0].offer_id
                with database.transaction() as session:
                    session.delete(session.get(Offer, victim))
                deleted.append(victim)
                return results

        job_id = queue(database, "rerank_needs", need_ids=need_ids)
        JobRunner(service, SMALL_CHUNKS, executor=DeletingExecutor()).run_next()

        row = job(database, job_id)
        assert (row.status, row.error, row.done) == ("succeeded", None, 3)
        assert len(deleted) == 1
        stored = suggestions(database)
        assert {need for need, *_ in stored} == set(need_ids)
        assert deleted[0] not in {offer for _, offer, *_ in stored}
        for need_id in need_ids:
            ranks = sorted(rank for need, _, rank, *_ in stored if need == need_id)
            assert ranks == list(range(1, len(ranks) + 1))
    finally:
        database.dispose()
