"""The embedder protocol."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (inner product == cosine similarity).

    Attributes:
        model_id: identity of the model *and its weights*; cached embeddings are keyed by it, so a changed
            model id means every text is embedded again.
        dim: vector dimension.
    """

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts`` into an ``(len(texts), dim)`` array of unit vectors."""
        ...


def l2_normalise(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """Row-wise L2 normalisation to float32 (zero rows stay zero)."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing), held for the ``with`` block: processes that
    prepare the same model files (the ONNX export, the static distillation) do it once."""
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
