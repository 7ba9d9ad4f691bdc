"""Several encoders behind one :class:`~embeddings.base.Embedder`: the English MiniLM and a multilingual one.

A :class:`CompositeEmbedder` keeps its encoders apart (``parts``): the engine caches each one's embeddings under
its own model id, centres each on its own language centroids and fuses their similarities by a language-aware
rule (``matcher.engine.encoders``). Its own :meth:`embed` — for callers that only want one vector per text,
such as the embedding benchmark — is the concatenation of the parts' unit vectors, divided by the square root
of their number so that it is a unit vector again (inner product = the mean of the parts' cosines).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from embeddings.base import Embedder


class CompositeEmbedder:
    """The concatenation of several embedders (see the module docstring)."""

    def __init__(self, parts: Sequence[Embedder]) -> None:
        if not parts:
            raise ValueError("a composite embedder needs at least one encoder")
        self.parts: tuple[Embedder, ...] = tuple(parts)
        self.model_id = "+".join(part.model_id for part in self.parts)
        self.dim = sum(part.dim for part in self.parts)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        scale = np.float32(1.0 / np.sqrt(len(self.parts)))
        return np.ascontiguousarray(
            np.hstack([part.embed(texts) * scale for part in self.parts]), dtype=np.float32
        )


def parts_of(embedder: Embedder) -> tuple[Embedder, ...]:
    """The encoders an embedder is made of: its ``parts`` when it is a composite, else itself alone."""
    return embedder.parts if isinstance(embedder, CompositeEmbedder) else (embedder,)
