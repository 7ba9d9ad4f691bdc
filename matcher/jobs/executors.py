"""Where batch jobs embed and search: in the worker process (default) or on a Dask cluster.

With ``POLLINATE_JOBS__EXECUTOR=dask`` and ``POLLINATE_JOBS__SCHEDULER_ADDRESS``, each chunk of needs is split
into partitions ranked by Dask workers (``pip install pollinate[distributed]``). A Dask worker builds its own
matching service from the same settings once (model and index loaded, then kept in step with the database
like any API worker) and runs the same ``match_batch`` code, so results are identical to in-process ranking.
Storing the results stays with the job runner: the cluster never writes to the database.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from matcher.engine.query import NeedQuery
from matcher.engine.service import MatchResult, MatchService, create_embedder
from matcher.errors import InvalidInputError
from matcher.jobs.batch import InProcessExecutor, RankingExecutor
from matcher.settings import Settings

# Needs per partition at least: ``match_batch`` shares retrieval between the needs of a batch, and FAISS scores
# a block of queries with one BLAS product only from 334 queries at 384 dimensions. Measured at 100k offers
# (one thread, shared 2-core machine): 4.6-4.9 ms of CPU per need in batches of 500 or 1000, 11-20 ms in
# batches of 125 or 250, so one worker ranking 500 needs beats two ranking 250 each.
MIN_PARTITION = 400
_SERVICES: dict[str, MatchService] = {}
_SERVICES_LOCK = threading.Lock()


def make_executor(settings: Settings, service: MatchService) -> RankingExecutor:
    """The executor the job settings ask for."""
    if settings.jobs.executor == "inprocess":
        return InProcessExecutor(service)
    if not settings.jobs.scheduler_address:
        raise InvalidInputError(
            "POLLINATE_JOBS__EXECUTOR=dask needs POLLINATE_JOBS__SCHEDULER_ADDRESS (e.g. tcp://127.0.0.1:8786)",
            field="jobs.scheduler_address",
        )
    return DaskExecutor(settings, settings.jobs.scheduler_address)


class DaskExecutor:
    """Ranks partitions of needs on a Dask cluster.

    Args:
        settings: the settings every Dask worker builds its matching service from.
        address: the scheduler's address, or a ``distributed.Client`` (tests pass a local cluster's).
        partitions_per_worker: partitions per Dask worker and chunk (more balances uneven workers), as long as
            each has at least ``min_partition`` needs.
        min_partition: needs per partition at least (``MIN_PARTITION``: a chunk of 500 needs is one partition;
            raise the job chunk size to keep several workers busy).
    """

    def __init__(
        self,
        settings: Settings,
        address: Any,
        *,
        partitions_per_worker: int = 2,
        min_partition: int = MIN_PARTITION,
    ) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise InvalidInputError(
                "the Dask executor needs the distributed extra: pip install 'pollinate[distributed]'",
                field="jobs.executor",
            ) from exc
        self.client = address if isinstance(address, Client) else Client(address)  # type: ignore[no-untyped-call]
        self.settings_json = settings.model_dump_json()
        self.partitions_per_worker = partitions_per_worker
        self.min_partition = min_partition

    def rank(self, needs: Sequence[NeedQuery], *, k: int) -> list[MatchResult]:
        if not needs:
            return []
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        count = max(1, min(len(needs) // self.min_partition, workers * self.partitions_per_worker))
        size = -(-len(needs) // count)
        parts = [list(needs[i : i + size]) for i in range(0, len(needs), size)]
        futures = self.client.map(
            rank_partition, [self.settings_json] * len(parts), parts, [k] * len(parts), pure=False
        )
        ranked: list[list[MatchResult]] = self.client.gather(futures)  # type: ignore[no-untyped-call]
        return [result for part in ranked for result in part]


def rank_partition(settings_json: str, needs: list[NeedQuery], k: int) -> list[MatchResult]:
    """Runs on a Dask worker: rank with this process's service for these settings (built on first use)."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(settings_json)
        if service is None:
            settings = Settings.model_validate_json(settings_json)
            service = MatchService.from_settings(settings, settings.open_database(), create_embedder(settings))
            service.index_path = None  # the job's worker owns the saved index file
            service.start()
            _SERVICES[settings_json] = service
    return service.match_batch(needs, k=k)


def worker_services() -> list[MatchService]:
    """The matching services this process keeps for :func:`rank_partition` (one per settings; the benchmark
    and the tests count them and what they embedded)."""
    with _SERVICES_LOCK:
        return list(_SERVICES.values())
