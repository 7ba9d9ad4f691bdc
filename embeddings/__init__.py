"""Sentence embeddings behind the :class:`Embedder` protocol.

Backends: :class:`SentenceTransformerEmbedder` (the packaged all-MiniLM-L6-v2 by default, loaded offline, or any
sentence-transformers model name or path), :class:`~embeddings.onnx.OnnxEmbedder` (the same model exported to
ONNX, run by ONNX Runtime in fp32 or int8) and :class:`FakeEmbedder` (deterministic, dependency-free, for tests).
The model backends are imported from their modules (``embeddings.transformer``, ``embeddings.onnx``) so that
importing this package loads neither torch nor ONNX Runtime. Imports nothing of ours.
"""

from embeddings.base import Embedder, l2_normalise
from embeddings.fake import FakeEmbedder

__all__ = ["Embedder", "FakeEmbedder", "l2_normalise"]
