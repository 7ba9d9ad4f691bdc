"""A re-rank of 5,000 needs over 20,000 synthetic offers, its worker process killed with SIGKILL half-way and
started again: the job finishes, and its suggestions equal those of an uninterrupted run.

Both runs are ``pollinate worker`` processes with the same environment (one OpenMP thread), on copies of one
database: scores then agree to the last bit. (A run in the test process, with another thread count, sums some
dot products in another order: scores differ by ~1e-7 and a near-tie at rank 10 can flip.) Slow: about three
minutes on two cores, so it runs in CI's slow suite (``make slow``), not in ``make test``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from embeddings import FakeEmbedder
from evaluation.bench.corpus import synthetic_offers
from matcher.access.rules import Principal
from matcher.engine.service import MatchService
from matcher.jobs import batch as jobs
from matcher.records.bulk import ImportReport, RecordWriter
from matcher.records.interchange import NeedRecord
from models import migrate
from models import vocabularies as vocab
from models.db import Database, sqlite_url
from models.orm import Job, SuggestedMatch

OFFERS, NEEDS, CHUNK = 20_000, 5_000, 250
ADMIN = Principal(role="admin")


def build(path: Path) -> None:
    """The corpus: synthetic offers, needs written from other synthetic offers' texts, embeddings cached."""
    db = Database(sqlite_url(path))
    migrate.upgrade(db)
    generated = list(synthetic_offers(OFFERS + NEEDS, seed=11))
    countries = sorted(vocab.countries())
    for start in range(0, OFFERS, 2_000):
        chunk = [o.record for o in generated[start : start + 2_000]]
        with db.transaction() as session:
            writer = RecordWriter(session)
            for record in {(r.organisation, r.country): r for r in chunk}.values():
                writer.organisation_id(record.organisation, record.org_type, record.country)
            writer.upsert("offers", chunk, ImportReport(kind="offers"))
    needs = [
        NeedRecord.model_validate(
            {
                "id": f"crash-need-{i:05d}",
                "party": countries[i % len(countries)],
                "requesting_organisation": f"Ministry of Environment of {countries[i % len(countries)]}",
                "title": o.record.title,
                "description": o.record.description,
                "targets": o.record.targets,
                "assistance_types": o.record.assistance_types,
                "language": o.language,
            }
        )
        for i, o in enumerate(generated[OFFERS:])
    ]
    for start in range(0, NEEDS, 2_000):
        with db.transaction() as session:
            RecordWriter(session).upsert("needs", needs[start : start + 2_000], ImportReport(kind="needs"))
    MatchService(db, FakeEmbedder(dim=384)).start()  # fills the embedding cache both runs share
    db.dispose()


def queue(db: Database) -> int:
    with db.transaction() as session:
        return jobs.submit(session, ADMIN, "rerank_all").id


def job_state(db: Database, job_id: int) -> tuple[str, int, int | None, int]:
    with db.transaction(read_only=True) as session:
        row = session.get(Job, job_id)
        assert row is not None
        return row.status, row.done, row.total, row.attempt


def suggestions(db: Database) -> set[tuple[int, int, int, float]]:
    with db.transaction(read_only=True) as session:
        rows = session.execute(
            select(SuggestedMatch.need_id, SuggestedMatch.offer_id, SuggestedMatch.rank, SuggestedMatch.score)
        ).all()
    return {(n, o, r, round(s, 5)) for n, o, r, s in rows}


def start_worker(path: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "POLLINATE_DATA_DIR": str(path.parent),
        "POLLINATE_DATABASE__URL": sqlite_url(path),
        "POLLINATE_EMBEDDING__MODEL": "hashing",
        "POLLINATE_JOBS__CHUNK_SIZE": str(CHUNK),
        "POLLINATE_JOBS__LEASE_S": "3",
        "POLLINATE_JOBS__POLL_S": "0.2",
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-c", "from matcher.cli.main import main; main()", "worker", "--threads", "1"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_rerank_killed_half_way_finishes_with_the_uninterrupted_result(tmp_path: Path) -> None:
    base = tmp_path / "base" / "pollinate.db"
    base.parent.mkdir()
    build(base)
    (tmp_path / "reference").mkdir()
    (tmp_path / "crash").mkdir()
    reference_path, crash_path = tmp_path / "reference" / "pollinate.db", tmp_path / "crash" / "pollinate.db"
    shutil.copy(base, reference_path)
    shutil.copy(base, crash_path)

    reference, crash = Database(sqlite_url(reference_path)), Database(sqlite_url(crash_path))
    reference_job, job_id = queue(reference), queue(crash)
    log = tmp_path / "worker.log"
    uninterrupted = start_worker(reference_path, tmp_path / "reference.log")
    first = start_worker(crash_path, log)
    wait_for(lambda: job_state(crash, job_id)[1] >= NEEDS // 2, 600, "half of the job", log)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    status, done_at_kill, _, _ = job_state(crash, job_id)
    assert status == "running" and done_at_kill < NEEDS

    second = start_worker(crash_path, log)
    try:
        wait_for(lambda: job_state(crash, job_id)[0] == "succeeded", 600, "the resumed job to finish", log)
        wait_for(lambda: job_state(reference, reference_job)[0] == "succeeded", 600, "the reference", log)
    finally:
        for process in (second, uninterrupted):
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    assert job_state(reference, reference_job)[1:3] == (NEEDS, NEEDS)
    status, done, total, attempt = job_state(crash, job_id)
    assert (status, done, total, attempt) == ("succeeded", NEEDS, NEEDS, 2)
    assert suggestions(crash) == suggestions(reference)
    print(f"killed at {done_at_kill}/{NEEDS} needs; resumed by attempt {attempt}")
    crash.dispose()
    reference.dispose()
