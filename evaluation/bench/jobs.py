"""Batch-job benchmark: needs re-ranked per second by a ``rerank_all`` job, in process and on a local Dask cluster.

The benchmark builds one throwaway SQLite database — synthetic offers and needs, their embeddings already in
the cache — and copies it for each run, so that both runs start from the same state (no suggestions). Each run
queues a ``rerank_all`` job and has a :class:`~matcher.jobs.JobRunner` run it to the end: read a chunk of open
needs, rank them, store each need's suggestions and diff, commit the checkpoint.

In process
    The job process's own :class:`~matcher.engine.service.MatchService` ranks (as ``pollinate worker`` does with
    ``POLLINATE_JOBS__EXECUTOR=inprocess``), one BLAS and OpenMP thread (threadpoolctl).

Dask
    A ``distributed.LocalCluster`` of ``--dask-workers`` processes with one thread each, on loopback, and the
    :class:`~matcher.jobs.executors.DaskExecutor`: each chunk is split into partitions that the Dask workers rank,
    each with a matching service of its own (model and index), built on first use; storing stays with the job
    process. The job process builds no index here, since a Dask re-rank never searches in it (``pollinate
    worker`` builds one all the same). The scheduler and the nannies of a ``LocalCluster`` run in this
    process; the nannies start the workers with ``OMP_NUM_THREADS=1`` (and the MKL and OpenBLAS
    equivalents), and the report shows what the workers saw.

Setup is measured apart from the run. In process: loading the model, building the index from the cache and
ranking a few needs once. On Dask: starting the cluster, then every worker loading the model, building its
index and ranking a few needs (the warm-up is sent to each worker by address), in parallel.

Embeddings
    As in ``pollinate bench api`` (:mod:`evaluation.bench.api`), whose corpus this reuses: offers and needs
    are assembled from a pool of real sentences, the pool sentences (the explanations' evidence) and the demo
    texts (language centring) are embedded by the model, and each offer's and need's vector is synthesised
    from its sentences' vectors and cached under the model's id. Needs are synthetic offers of another seed,
    written as needs. So a run calls the model for nothing — the report counts the texts each service embedded
    to prove it — and the figures are ranking (retrieval, exact re-scoring, explanations) plus storing, never
    model embedding.

What is reported
    Per run: setup (and its parts), the run's wall time, needs per second over the run and the median over
    its chunks (the chunk figure is steadier on a shared machine), the time spent in the executor's ``rank``
    (the rest of a chunk is reading needs, storing suggestions and diffs, and committing), model calls, and
    memory: the resident memory the in-process service added to this process (the model was loaded before);
    the peak resident memory of each Dask worker, which holds its own model and index, and their sum. The CPU
    time of this process over the run. For Dask, the seconds the workers spent computing tasks (Dask's task
    stream) per need against the CPU time the worker processes used (compute well above CPU time means the
    workers waited for a core), and how busy they were while the job waited for ``rank`` (the rest is
    scheduling and serialising needs and results, explanations included). The load average at the start
    and after each chunk: other users of the machine change every figure. Then the speed-up
    of Dask over in process (overall and median chunk), and whether both runs stored identical suggestions
    (need, offer, rank, score to 5 decimals).

Cost
    The default run (10,000 needs, 100,000 offers) took 27 minutes on this shared 2-core machine: 5 writing
    the corpus (the offers through the ORM, as ``pollinate bench api`` does), 8 re-ranking in process, 11 on
    Dask, 1 comparing. ``--needs 2000`` takes about 11 minutes, most of it writing the offers;
    ``--offers 20000 --needs 2000`` about 4. Since ``match_batch`` ranks a batch together (one retrieval for
    all its needs), re-ranking in process took 4 minutes, 1.5 of them ranking (8.9 ms per need, with a load
    average of 4 to 5 from other work on the machine; 94 ms per need before, also under load).

    The Dask executor gives each worker partitions of at least ``matcher.jobs.executors.MIN_PARTITION`` needs (a
    batch needs a few hundred needs for its shared retrieval to pay): with the default chunk of 500 needs a
    chunk is one partition and one worker ranks at a time; ``--chunk 1000`` or more keeps both busy.

The figures are measurements of one machine at one moment; tests only ever assert the shape of the report and
that both runs agree.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.table import Table
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from embeddings import Embedder, l2_normalise
from evaluation.bench.corpus import (
    OFFER_NOISE,
    Layout,
    SyntheticOffer,
    cache_layout,
    prepare,
    put_cached,
    reference_vectors,
    synthetic_offers,
)
from evaluation.bench.measure import high_water_mb, rss_bytes
from evaluation.options import benchmark_errors, command_settings, emit_report, progress
from matcher.access.rules import Principal
from matcher.engine.query import NeedQuery
from matcher.engine.service import MatchResult, MatchService, create_embedder, need_from_stored, need_text
from matcher.engine.store import text_hash
from matcher.jobs import batch as jobs
from matcher.jobs.batch import InProcessExecutor, JobRunner, RankingExecutor
from matcher.records.bulk import ImportReport, RecordWriter
from matcher.records.interchange import NeedRecord
from matcher.records.needs import OPEN_STATUSES
from matcher.settings import JobSettings, Settings
from models import vocabularies as vocab
from models.db import Database, sqlite_url
from models.jobs import JobRepository
from models.orm import Job
from models.repositories import EmbeddingRepository, NeedRepository, SuggestedMatchRepository

__all__ = ["jobs_cmd", "run_jobs_benchmark"]

ProgressFn = Callable[[str], None]
# A stored suggestion as both runs must agree on it: (need id, offer id, rank, score to 5 decimals).
Suggestion = tuple[int, int, int, float]

_ADMIN = Principal(role="admin")
# Needs written, and their cache entries, per transaction.
_WRITE_CHUNK = 2_000
# Needs ranked once by each service before the timed run (per Dask worker), so that setup is all paid.
_WARMUP_NEEDS = 2
_DATABASE = "pollinate.db"
# Thread pools held to one thread: in process by threadpoolctl, in the Dask workers by the nanny (measured).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# ---------------------------------------------------------------------------------------- the database


def _need_record(number: int, offer: SyntheticOffer, countries: Mapping[str, vocab.Country]) -> NeedRecord:
    """A synthetic offer written as a need of its organisation's country, by that country's ministry."""
    party = offer.record.country
    return NeedRecord(
        id=f"bench-need-{number:07d}",
        party=party,
        requesting_organisation=f"Ministry of Environment – {countries[party].name}",
        title=offer.record.title,
        description=offer.record.description,
        targets=offer.record.targets,
        assistance_types=offer.record.assistance_types,
        language=offer.language,
    )


def _write_needs(
    db: Database,
    offers: Iterable[SyntheticOffer],
    *,
    sentence_vectors: Mapping[str, NDArray[np.float32]],
    layout: Layout,
    seed: int,
) -> int:
    """Write the needs and cache a synthesised embedding of each need's text under each encoder of ``layout``
    (:func:`~evaluation.bench.corpus.cache_layout`); returns the needs written.

    A need's vector is made like an offer's in :mod:`evaluation.bench.api` (mean of its sentences' vectors plus
    noise, normalised). It is cached under the text the job embeds, ``need_text`` of the stored need.
    """
    rng = np.random.default_rng(seed)
    dim = len(next(iter(sentence_vectors.values())))
    countries = vocab.countries()
    written = 0
    for batch in _batches(offers, _WRITE_CHUNK):
        records = [_need_record(written + i, offer, countries) for i, offer in enumerate(batch)]
        means = np.stack([np.mean([sentence_vectors[s] for s in o.sentences], axis=0) for o in batch])
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        vectors = l2_normalise(means + rng.standard_normal(means.shape) * (OFFER_NOISE * norms / np.sqrt(dim)))
        with db.transaction() as session:
            RecordWriter(session).upsert("needs", records, ImportReport(kind="needs"))
            stored = NeedRepository(session).by_external_ids(r.id for r in records)
            hashes = [text_hash(need_text(need_from_stored(stored[record.id]))) for record in records]
            put_cached(EmbeddingRepository(session), layout, (hashes, vectors, [o.language for o in batch]))
        written += len(batch)
    return written


def _batches(items: Iterable[SyntheticOffer], size: int) -> Iterator[list[SyntheticOffer]]:
    batch: list[SyntheticOffer] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_database(source: Path, target_dir: Path) -> Path:
    """A copy of a closed SQLite database (and its WAL file, if one is left) in ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / _DATABASE
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


def _run_settings(settings: Settings, data_dir: Path) -> Settings:
    """The bench's settings for one run: its own database copy and data directory, whatever was configured."""
    database = settings.database.model_copy(update={"url": sqlite_url(data_dir / _DATABASE)})
    return settings.model_copy(update={"data_dir": data_dir, "database": database})


def _open_needs(db: Database, limit: int) -> list[NeedQuery]:
    """The first ``limit`` open needs (the warm-up ranks them; nothing is stored)."""
    with db.transaction(read_only=True) as session:
        repo = JobRepository(session)
        ids = repo.open_need_ids(OPEN_STATUSES, after=0, up_to=repo.max_need_id(), limit=limit)
        needs = NeedRepository(session)
        return [need_from_stored(n) for n in (needs.get(i) for i in ids) if n is not None]


def _suggestions(db: Database) -> set[Suggestion]:
    """Every stored suggestion of every open need."""
    with db.transaction(read_only=True) as session:
        repo = JobRepository(session)
        ids = repo.open_need_ids(OPEN_STATUSES, after=0, up_to=repo.max_need_id(), limit=sys.maxsize)
        matches = SuggestedMatchRepository(session)
        return {(m.need_id, m.offer_id, m.rank, round(m.score, 5)) for i in ids for m in matches.for_need(i)}


# ------------------------------------------------------------------------------------------------ a run


@dataclass(slots=True)
class _TimedExecutor:
    """Wraps an executor to time each ``rank`` call (one per chunk)."""

    inner: RankingExecutor
    durations: list[float] = field(default_factory=list)

    def rank(self, needs: Sequence[NeedQuery], *, k: int) -> list[MatchResult]:
        started = time.perf_counter()
        try:
            return self.inner.rank(needs, k=k)
        finally:
            self.durations.append(time.perf_counter() - started)


def _rerank(
    service: MatchService, executor: RankingExecutor, *, chunk_size: int, k: int, label: str, say: ProgressFn
) -> dict[str, Any]:
    """Queue a ``rerank_all`` job and run it to its end; its timings, chunk by chunk.

    Raises:
        RuntimeError: the job did not succeed (with its error).
    """
    with service.db.transaction() as session:
        job_id = jobs.submit(session, _ADMIN, "rerank_all", k=k).id
    timed = _TimedExecutor(executor)
    stamps: list[tuple[float, int]] = []
    loads: list[float | None] = []

    def on_chunk(job: Job) -> None:
        stamps.append((time.perf_counter(), job.done))
        loads.append(_load_average())
        say(f"{label}: {job.done:,} of {job.total:,} needs, {job.done / (stamps[-1][0] - started):.1f} needs/s")

    runner = JobRunner(service, JobSettings(chunk_size=chunk_size, k=k), executor=timed, on_chunk=on_chunk)
    load = _load_average()
    started, cpu = time.perf_counter(), time.process_time()
    ran = runner.run_next()
    run_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    with service.db.transaction(read_only=True) as session:
        job = JobRepository(session).get(job_id)
        assert job is not None
        assert ran == job_id
        status, error, done, total = job.status, job.error, job.done, job.total
    if status != "succeeded":
        raise RuntimeError(f"the rerank_all job {status}: {error}")
    chunk_s, chunk_needs, previous, previous_done = [], [], started, 0
    for stamp, done_then in stamps:
        chunk_s.append(stamp - previous)
        chunk_needs.append(done_then - previous_done)
        previous, previous_done = stamp, done_then
    rank_s = sum(timed.durations)
    return {
        "needs": done,
        "total": total,
        "run_s": round(run_s, 3),
        "needs_per_s": round(done / run_s, 2),
        "median_chunk_needs_per_s": round(
            statistics.median(n / s for n, s in zip(chunk_needs, chunk_s, strict=True)), 2
        ),
        "chunks": len(chunk_s),
        "chunk_s": [round(s, 3) for s in chunk_s],
        "chunk_load_average": loads,
        "rank_s": round(rank_s, 3),
        "rank_share": round(rank_s / run_s, 3),
        "rank_ms_per_need": round(1e3 * rank_s / done, 2),
        # CPU time of this process over the run, every thread (in the Dask run: the scheduler and nannies too).
        "cpu_s": round(cpu_s, 3),
        "load_average": load,
    }


def _in_process_run(
    settings: Settings, embedder: Embedder, *, model_load_s: float, chunk_size: int, k: int, say: ProgressFn
) -> dict[str, Any]:
    """The re-rank ranked by the job process's own service."""
    db = settings.open_database()
    # One thread from start to end, as each Dask worker (threadpoolctl: BLAS and OpenMP pools already started).
    limits = threadpool_limits(limits=1)
    try:
        rss_before = rss_bytes()
        say("in process: building the index from the embedding cache")
        started = time.perf_counter()
        service = MatchService.from_settings(settings, db, embedder)
        service.index_path = None  # nothing to reuse: each run builds its index from the cache, as Dask workers do
        service.start()
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        service.match_batch(_open_needs(db, _WARMUP_NEEDS), k=k)
        warmup_s = time.perf_counter() - started
        embedded_before = service.store.embedded
        say(f"in process: re-ranking every open need ({chunk_size} per chunk)")
        run = _rerank(service, InProcessExecutor(service), chunk_size=chunk_size, k=k, label="in process", say=say)
        rss_after = rss_bytes()
        return {
            **run,
            "setup_s": round(model_load_s + build_s + warmup_s, 3),
            "setup": {
                "model_load_s": round(model_load_s, 3),
                "index_build_s": round(build_s, 3),
                "warmup_s": round(warmup_s, 3),
            },
            "offers_indexed": len(service.index),
            "model_calls": service.store.embedded - embedded_before,
            "rss_added_mb": (
                None if rss_before is None or rss_after is None else round((rss_after - rss_before) / 2**20, 1)
            ),
        }
    finally:
        limits.restore_original_limits()
        db.dispose()


def _dask_run(
    settings: Settings, embedder: Embedder, *, workers: int, chunk_size: int, k: int, say: ProgressFn
) -> dict[str, Any]:
    """The re-rank ranked on a local Dask cluster; the job process only stores.

    Raises:
        RuntimeError: distributed is not installed.
    """
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the Dask run needs the distributed extra: pip install 'pollinate[distributed]'"
        ) from exc
    from matcher.jobs.executors import DaskExecutor, rank_partition

    db = settings.open_database()
    try:
        say(f"Dask: starting a local cluster of {workers} worker processes")
        started = time.perf_counter()
        with (
            _thread_variables(),
            distributed.LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            cluster_s = time.perf_counter() - started
            executor = DaskExecutor(settings, client)
            say("Dask: each worker loads the model and builds its index")
            started = time.perf_counter()
            warmup = _open_needs(db, _WARMUP_NEEDS)
            addresses = sorted(client.scheduler_info()["workers"])
            futures = [
                client.submit(
                    rank_partition,
                    executor.settings_json,
                    warmup,
                    k,
                    workers=[address],
                    allow_other_workers=False,
                    pure=False,
                )
                for address in addresses
            ]
            client.gather(futures)
            workers_s = time.perf_counter() - started
            embedded_before = _cluster_embedded(client)
            cpu_before = _cluster_cpu(client)
            # The job process stores: it needs the database and the model id, never an index.
            started = time.perf_counter()
            service = MatchService.from_settings(settings, db, embedder)
            service.index_path = None
            job_service_s = time.perf_counter() - started
            rss_before = rss_bytes()
            say(f"Dask: re-ranking every open need ({chunk_size} per chunk)")
            with distributed.get_task_stream(client) as stream:
                run = _rerank(service, executor, chunk_size=chunk_size, k=k, label="Dask", say=say)
            rss_after = rss_bytes()
            embedded = _cluster_embedded(client) - embedded_before
            worker_cpu_s = _cluster_cpu(client) - cpu_before
            facts = client.run(_process_facts)
        peaks = [facts[a]["peak_rss_mb"] for a in sorted(facts)]
        compute_s = _compute_seconds(stream.data)
        return {
            **run,
            "setup_s": round(cluster_s + workers_s + job_service_s, 3),
            "setup": {
                "cluster_start_s": round(cluster_s, 3),
                "workers_ready_s": round(workers_s, 3),
                "job_service_s": round(job_service_s, 3),
            },
            "workers": len(addresses),
            "worker_compute_s": round(compute_s, 3),
            "worker_compute_ms_per_need": round(1e3 * compute_s / run["needs"], 2),
            # CPU time the worker processes used: compute (wall time) well above it means waiting for a core.
            "worker_cpu_s": round(worker_cpu_s, 3),
            "worker_cpu_ms_per_need": round(1e3 * worker_cpu_s / run["needs"], 2),
            # How busy the workers were while the job waited for rank(): 1 = every worker computing throughout.
            "worker_utilisation": round(compute_s / (len(addresses) * run["rank_s"]), 3),
            "model_calls": embedded,
            "worker_threads": {
                name: sorted({str(f["threads"][name]) for f in facts.values()}) for name in _THREAD_VARIABLES
            },
            # The scheduler and the nannies of a LocalCluster run in this process: the workers are its processes.
            "worker_peak_rss_mb": peaks,
            "workers_peak_rss_mb": None if None in peaks else round(sum(p for p in peaks if p is not None), 1),
            "job_rss_added_mb": (
                None if rss_before is None or rss_after is None else round((rss_after - rss_before) / 2**20, 1)
            ),
        }
    finally:
        db.dispose()


@contextmanager
def _thread_variables() -> Iterator[None]:
    """One BLAS and OpenMP thread in the processes started meanwhile (Dask's nanny sets the same by default)."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _compute_seconds(tasks: Iterable[Mapping[str, Any]]) -> float:
    """Seconds the workers spent computing tasks (a Dask task stream's ``compute`` intervals), summed."""
    return sum(
        float(step["stop"]) - float(step["start"])
        for task in tasks
        for step in task.get("startstops", ())
        if step.get("action") == "compute"
    )


def _process_facts() -> dict[str, Any]:
    """Runs in a Dask worker: its peak resident memory and thread settings."""
    return {"peak_rss_mb": high_water_mb(), "threads": {name: os.environ.get(name) for name in _THREAD_VARIABLES}}


def _embedded_here() -> int:
    """Runs in a Dask worker: texts its matching services embedded with the model."""
    from matcher.jobs.executors import worker_services

    return sum(service.store.embedded for service in worker_services())


def _cluster_embedded(client: Any) -> int:
    return sum(int(count) for count in client.run(_embedded_here).values())


def _cluster_cpu(client: Any) -> float:
    """CPU seconds the Dask worker processes have used so far, summed."""
    return sum(float(seconds) for seconds in client.run(time.process_time).values())


def _load_average() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


# ------------------------------------------------------------------------------------------ the benchmark


def run_jobs_benchmark(
    settings: Settings,
    *,
    n_needs: int = 10_000,
    n_offers: int = 100_000,
    dask_workers: int = 2,
    chunk_size: int = 500,
    seed: int = 0,
    keep: Path | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Re-rank every need in process and on a local Dask cluster, from the same database; compare.

    Args:
        settings: the engine configuration (embedding model, index kind, ranking, jobs.k); the database and data
            directory are the bench's own.
        n_needs: open needs to re-rank.
        n_offers: offers in the catalogue.
        dask_workers: Dask worker processes (one thread each).
        chunk_size: needs per job chunk (checkpoint).
        seed: seed of the synthetic offers and needs and of their vectors.
        keep: write the databases under this (empty or new) directory and leave them there; default: a
            temporary directory, removed afterwards.
        progress: called with a short message as each step starts (the CLI prints them).

    Returns:
        A JSON-serialisable report: the parameters, ``model_id``, ``dim``, ``k``, ``cpu_count``,
        ``load_average`` (1-minute, at the start; None where unknown), ``note``, ``prepare`` (``model_load_s``,
        ``reference_s``, ``offers_write_s``, ``needs_write_s``), ``runs`` with ``in_process`` and ``dask``
        (``setup_s`` and its parts under ``setup``, ``needs``, ``run_s``, ``needs_per_s``,
        ``median_chunk_needs_per_s``, ``chunks``, ``chunk_s``, ``rank_s``, ``rank_share``, ``model_calls``,
        ``load_average`` at the run's start, and memory), ``speedup`` and ``speedup_median_chunk`` (Dask over in
        process), ``suggestions`` (stored per run), ``identical``, ``differing`` (suggestions stored by one run
        only), ``directory`` (when kept) and ``wall_s``.

    Raises:
        ValueError: a count out of range, or ``keep`` is not empty.
        RuntimeError: a job failed, or distributed is not installed.
    """
    if n_needs < 1 or n_offers < 1 or dask_workers < 1 or chunk_size < 1:
        raise ValueError(
            f"needs, offers, Dask workers and chunk size must be at least 1; "
            f"got {n_needs}, {n_offers}, {dask_workers}, {chunk_size}"
        )
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise ValueError(f"{keep} is not empty; --keep needs a new or empty directory")
    say = progress or (lambda _message: None)
    load = _load_average()
    wall = time.perf_counter()
    k = settings.jobs.k
    say(f"loading the embedder {settings.embedding.model}")
    started = time.perf_counter()
    embedder = create_embedder(settings)
    model_load_s = time.perf_counter() - started
    with _work_directory(keep) as work:
        started = time.perf_counter()
        reference = reference_vectors(embedder, say)
        reference_s = time.perf_counter() - started
        say(f"writing {n_offers:,} offers and filling the embedding cache")
        started = time.perf_counter()
        base = work / "base"
        base.mkdir()
        prepare(base, n_offers, embedder=embedder, reference=reference, seed=seed)
        offers_s = time.perf_counter() - started
        say(f"writing {n_needs:,} needs and filling the embedding cache")
        started = time.perf_counter()
        db = Database(sqlite_url(base / _DATABASE))
        try:
            _write_needs(
                db,
                synthetic_offers(n_needs, seed=seed + 1),
                sentence_vectors=reference[0],
                layout=cache_layout(embedder),
                seed=seed + 1,
            )
        finally:
            db.dispose()
        needs_s = time.perf_counter() - started

        in_settings = _run_settings(settings, work / "in-process")
        _copy_database(base / _DATABASE, in_settings.data_dir)
        dask_settings = _run_settings(settings, work / "dask")
        _copy_database(base / _DATABASE, dask_settings.data_dir)
        in_process = _in_process_run(
            in_settings, embedder, model_load_s=model_load_s, chunk_size=chunk_size, k=k, say=say
        )
        dask = _dask_run(dask_settings, embedder, workers=dask_workers, chunk_size=chunk_size, k=k, say=say)

        say("comparing the stored suggestions")
        started = time.perf_counter()
        stored = []
        for run_settings in (in_settings, dask_settings):
            db = run_settings.open_database()
            try:
                stored.append(_suggestions(db))
            finally:
                db.dispose()
        compare_s = time.perf_counter() - started
    return {
        "needs": n_needs,
        "offers": n_offers,
        "dask_workers": dask_workers,
        "chunk_size": chunk_size,
        "k": k,
        "seed": seed,
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "note": (
            "synthetic offers and needs whose embeddings are in the cache: the runs measure ranking (retrieval, "
            "exact re-scoring, explanations) and storing suggestions, not model embedding; "
            f"on {os.cpu_count()} cores the {dask_workers} Dask workers share the CPUs with the scheduler and "
            "the job process (which reads needs and stores suggestions)"
        ),
        "prepare": {
            "model_load_s": round(model_load_s, 2),
            "reference_s": round(reference_s, 2),
            "offers_write_s": round(offers_s, 2),
            "needs_write_s": round(needs_s, 2),
        },
        "runs": {"in_process": in_process, "dask": dask},
        "speedup": round(dask["needs_per_s"] / in_process["needs_per_s"], 3),
        "speedup_median_chunk": round(
            dask["median_chunk_needs_per_s"] / in_process["median_chunk_needs_per_s"], 3
        ),
        "suggestions": [len(s) for s in stored],
        "identical": stored[0] == stored[1],
        "differing": len(stored[0] ^ stored[1]),
        "compare_s": round(compare_s, 2),
        "directory": None if keep is None else str(keep),
        "wall_s": round(time.perf_counter() - wall, 2),
    }


@contextmanager
def _work_directory(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="pollinate-bench-jobs-") as tmp:
        yield Path(tmp)


# ------------------------------------------------------------------------------------------ the command


def jobs_cmd(
    ctx: typer.Context,
    needs: Annotated[int, typer.Option(min=1, help="Open needs the job re-ranks.")] = 10_000,
    offers: Annotated[int, typer.Option(min=1, help="Offers in the catalogue.")] = 100_000,
    dask_workers: Annotated[int, typer.Option(min=1, max=64, help="Dask worker processes (one thread each).")] = 2,
    chunk: Annotated[int, typer.Option(min=1, max=10_000, help="Needs per job chunk (checkpoint).")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus and its vectors.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Build the databases in this new or empty directory and keep them."),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Needs re-ranked per second by a rerank_all job, in process and on a local Dask cluster, side by side.

    One throwaway SQLite database of synthetic offers and needs, copied for each run; embeddings are in the
    cache, so the figures are ranking and storing suggestions, not model embedding. Setup (model load, index
    build, cluster start) is reported apart from the run. The default run takes about 27 minutes on 2 cores.
    Exits with 1 when a job failed.
    """
    settings = command_settings(ctx)
    with benchmark_errors():
        report = run_jobs_benchmark(
            settings,
            n_needs=needs,
            n_offers=offers,
            dask_workers=dask_workers,
            chunk_size=chunk,
            seed=seed,
            keep=keep,
            progress=progress,
        )
    emit_report(report, _table(report), as_json=as_json, out_file=out_file)


def _table(report: dict[str, Any]) -> Table:
    local, dask = report["runs"]["in_process"], report["runs"]["dask"]
    prepare = report["prepare"]
    load = "" if report["load_average"] is None else f", load average {report['load_average']:.2f} at the start"
    table = Table(
        title=f"rerank_all of {report['needs']:,} needs over {report['offers']:,} offers, k={report['k']}, "
        f"{report['chunk_size']} needs per chunk, {report['model_id']}",
        caption=f"{report['note']}\nprepared in {sum(prepare.values()):.0f} s (model "
        f"{prepare['model_load_s']:.1f} s, offers {prepare['offers_write_s']:.0f} s, needs "
        f"{prepare['needs_write_s']:.0f} s), compared in {report['compare_s']:.0f} s; "
        f"wall {report['wall_s']:.0f} s on {report['cpu_count']} cores{load}",
    )
    table.add_column("")
    table.add_column("in process", justify="right")
    table.add_column(f"Dask, {dask['workers']} workers", justify="right")
    local_setup, dask_setup = local["setup"], dask["setup"]
    rows = [
        (
            "setup s",
            f"{local['setup_s']:.1f} (model {local_setup['model_load_s']:.1f}, index "
            f"{local_setup['index_build_s']:.1f}, warm-up {local_setup['warmup_s']:.1f})",
            f"{dask['setup_s']:.1f} (cluster {dask_setup['cluster_start_s']:.1f}, workers ready "
            f"{dask_setup['workers_ready_s']:.1f})",
        ),
        ("run s", f"{local['run_s']:.1f}", f"{dask['run_s']:.1f}"),
        ("needs/s", f"{local['needs_per_s']:.1f}", f"{dask['needs_per_s']:.1f}"),
        (
            "needs/s, median chunk",
            f"{local['median_chunk_needs_per_s']:.1f}",
            f"{dask['median_chunk_needs_per_s']:.1f}",
        ),
        ("speed-up", "1.00x", f"{report['speedup']:.2f}x (median chunk {report['speedup_median_chunk']:.2f}x)"),
        (
            "waiting for rank()",
            f"{local['rank_share']:.0%} ({local['rank_ms_per_need']:.1f} ms/need)",
            f"{dask['rank_share']:.0%} ({dask['rank_ms_per_need']:.1f} ms/need)",
        ),
        (
            "Dask tasks",
            "-",
            f"{dask['worker_compute_ms_per_need']:.1f} ms/need wall, {dask['worker_cpu_ms_per_need']:.1f} CPU; "
            f"{dask['worker_utilisation']:.0%} busy",
        ),
        (
            "CPU s: this process, workers",
            f"{local['cpu_s']:.0f}",
            f"{dask['cpu_s']:.0f}, {dask['worker_cpu_s']:.0f}",
        ),
        (
            "reading, storing, committing s",
            f"{local['run_s'] - local['rank_s']:.1f}",
            f"{dask['run_s'] - dask['rank_s']:.1f}",
        ),
        ("model calls", str(local["model_calls"]), str(dask["model_calls"])),
        (
            "memory MB",
            _mb(local["rss_added_mb"], "added to this process"),
            _mb(dask["workers_peak_rss_mb"], "peak, workers")
            + (
                ""
                if not dask["worker_peak_rss_mb"]
                else f" ({', '.join(_mb(p) for p in dask['worker_peak_rss_mb'])})"
            ),
        ),
        ("load average, start / max", _loads(local), _loads(dask)),
    ]
    for row in rows:
        table.add_row(*row)
    identical = "yes" if report["identical"] else f"[red]no: {report['differing']} differ[/red]"
    table.add_row(
        "identical suggestions", f"{report['suggestions'][0]:,}", f"{report['suggestions'][1]:,} {identical}"
    )
    return table


def _loads(run: dict[str, Any]) -> str:
    seen = [value for value in (run["load_average"], *run["chunk_load_average"]) if value is not None]
    return "-" if not seen else f"{seen[0]:.2f} / {max(seen):.2f}"


def _mb(value: float | None, label: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" + (f" {label}" if label else "")
