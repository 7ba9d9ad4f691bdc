"""A deterministic, dependency-free embedder for fast unit tests.

Feature hashing of lower-cased word unigrams and bigrams into ``dim`` signed buckets, then L2 normalisation:
texts that share words get similar vectors, so ranking tests behave sensibly without a model.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from embeddings.base import l2_normalise

_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder:
    """Hashing bag-of-words embedder (same text → same vector, on every machine)."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.model_id = f"fake-hashing-{dim}"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for feature in (*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))):
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dim] += 1.0 if (value >> 63) & 1 else -1.0
        return l2_normalise(out)
