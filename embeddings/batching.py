"""Dynamic micro-batching: concurrent embedding requests share one model call.

A server embeds one short need per request; a model call costs much the same for 1 text as for a handful, so
concurrent requests are better served together. :class:`MicroBatcher` wraps an embedder: a request joins a
queue, and one model thread takes everything queued — up to ``max_batch`` texts, waiting at most ``max_wait_ms``
after the first request for others to arrive — embeds it in one call and hands each request its rows.

Saturation is refused, not queued without bound: when ``max_queue`` requests are already waiting, ``embed``
raises :class:`SaturatedError` at once (the service answers 503 with ``Retry-After``), so a burst degrades into
quick refusals rather than ever-growing latency for everyone. A call with ``max_batch`` texts or more (batch
jobs, imports) gains nothing from waiting and goes straight to the model, outside the queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from embeddings.base import Embedder


class SaturatedError(RuntimeError):
    """Too many embedding requests are waiting; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(slots=True)
class _Request:
    texts: Sequence[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: NDArray[np.float32] | None = None
    error: BaseException | None = None


class MicroBatcher:
    """An :class:`~embeddings.base.Embedder` that batches concurrent small requests (see the module docstring).

    Args:
        inner: the embedder that does the work (its ``model_id`` and ``dim`` are this one's).
        max_batch: texts per model call at most; calls this large or larger bypass the queue.
        max_wait_ms: how long the first request of a batch waits for company.
        max_queue: requests allowed to wait; one more is refused with :class:`SaturatedError`.
    """

    def __init__(
        self, inner: Embedder, *, max_batch: int = 32, max_wait_ms: float = 2.0, max_queue: int = 64
    ) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self.calls = 0  # model calls made for queued requests (for tests and benchmarks)
        self._pending: list[_Request] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if len(texts) >= self.max_batch or not texts:
            return self.inner.embed(texts)
        request = _Request(list(texts))
        with self._cond:
            if len(self._pending) >= self.max_queue:
                raise SaturatedError(
                    f"{len(self._pending)} embedding requests are already waiting; try again shortly",
                    retry_after=1,
                )
            self._pending.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="micro-batcher", daemon=True)
                self._thread.start()
            self._cond.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                deadline = time.monotonic() + self.max_wait_s
                while sum(len(r.texts) for r in self._pending) < self.max_batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch: list[_Request] = []
                size = 0
                while self._pending and (not batch or size + len(self._pending[0].texts) <= self.max_batch):
                    request = self._pending.pop(0)
                    batch.append(request)
                    size += len(request.texts)
            self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        texts = [t for r in batch for t in r.texts]
        try:
            vectors = self.inner.embed(texts)
            self.calls += 1
        except BaseException as exc:  # every waiting request learns of the failure; the thread lives on
            for request in batch:
                request.error = exc
                request.done.set()
            return
        start = 0
        for request in batch:
            request.result = vectors[start : start + len(request.texts)]
            start += len(request.texts)
            request.done.set()
