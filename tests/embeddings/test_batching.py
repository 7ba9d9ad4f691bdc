"""Micro-batching: concurrent requests share model calls, results are unchanged, saturation is refused."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from embeddings import FakeEmbedder
from embeddings.batching import MicroBatcher, SaturatedError


class Counting(FakeEmbedder):
    """A fake model that counts its calls and can be held until released."""

    def __init__(self) -> None:
        super().__init__(dim=32)
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.entered.set()
        self.gate.wait(10)
        self.calls.append(len(texts))
        if any("boom" in t for t in texts):
            raise RuntimeError("model failure")
        return super().embed(texts)


def run_concurrently(batcher: MicroBatcher, texts: list[str]) -> dict[str, NDArray[np.float32] | BaseException]:
    out: dict[str, NDArray[np.float32] | BaseException] = {}

    def one(text: str) -> None:
        try:
            out[text] = batcher.embed([text])[0]
        except BaseException as exc:
            out[text] = exc

    threads = [threading.Thread(target=one, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return out


def test_concurrent_requests_share_model_calls_and_get_their_own_rows() -> None:
    model = Counting()
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=50)
    texts = [f"need number {i} about wetlands" for i in range(24)]
    got = run_concurrently(batcher, texts)
    reference = FakeEmbedder(dim=32).embed(texts)
    for i, text in enumerate(texts):
        assert np.allclose(got[text], reference[i])
    assert len(model.calls) < len(texts)  # shared calls
    assert max(model.calls) <= 8 and sum(model.calls) == len(texts)


def test_a_full_queue_is_refused_at_once_with_a_retry_delay() -> None:
    model = Counting()
    model.gate.clear()  # the model is stuck on a first batch
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=0, max_queue=2)
    first = threading.Thread(target=lambda: batcher.embed(["stuck"]))
    first.start()
    assert model.entered.wait(5)
    waiting = [threading.Thread(target=lambda: batcher.embed(["queued"])) for _ in range(2)]
    for thread in waiting:
        thread.start()
    for _ in range(200):
        if len(batcher._pending) == 2:
            break
        threading.Event().wait(0.01)
    with pytest.raises(SaturatedError) as refused:
        batcher.embed(["one too many"])
    assert refused.value.retry_after >= 1
    model.gate.set()
    for thread in (first, *waiting):
        thread.join(10)


def test_a_model_failure_reaches_every_request_of_the_batch_and_the_batcher_survives() -> None:
    model = Counting()
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=50)
    got = run_concurrently(batcher, ["boom one", "fine two"])
    assert any(isinstance(v, RuntimeError) for v in got.values())
    assert batcher.embed(["later"]).shape == (1, 32)


def test_large_calls_bypass_the_queue() -> None:
    model = Counting()
    batcher = MicroBatcher(model, max_batch=4)
    assert batcher.embed([f"t{i}" for i in range(10)]).shape == (10, 32)
    assert model.calls == [10] and batcher.calls == 0
    assert (batcher.model_id, batcher.dim) == (model.model_id, model.dim)
