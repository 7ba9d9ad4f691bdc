"""Sentence embeddings behind the :class:`Embedder` protocol.

Backends: :class:`SentenceTransformerEmbedder` (the packaged all-MiniLM-L6-v2 by default, loaded offline, or any
sentence-transformers model name or path) and :class:`FakeEmbedder` (deterministic, dependency-free, for tests).
Imports nothing of ours.
"""

from embeddings.base import Embedder, l2_normalise
from embeddings.fake import FakeEmbedder

__all__ = ["Embedder", "FakeEmbedder", "l2_normalise"]
