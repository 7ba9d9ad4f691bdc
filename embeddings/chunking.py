"""Texts longer than the model window: sentence-aligned chunks, embedded and pooled by token count.

Shared by the torch and ONNX backends, so that both read a long text the same way (their cached embeddings
differ only by the numerics of the backend).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from embeddings.base import l2_normalise

SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def sentence_chunks(text: str, *, max_tokens: int, token_count: Callable[[str], int]) -> list[tuple[str, int]]:
    """Split ``text`` into sentence-aligned chunks that fit the window, with their token counts.

    ``token_count`` counts word pieces including the two special tokens ([CLS] and [SEP]).
    """
    budget = max_tokens - 2
    total = token_count(text) - 2
    if total <= budget:
        return [(text, max(total, 1))]
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    current_tokens = 0
    for sentence in SENTENCE_END.split(text):
        tokens = token_count(sentence) - 2
        if current and current_tokens + tokens > budget:
            chunks.append((" ".join(current), current_tokens))
            current, current_tokens = [], 0
        # A single sentence longer than the window is left to the model's truncation: rare, and still
        # represented by its first word pieces.
        current.append(sentence)
        current_tokens += tokens
    if current:
        chunks.append((" ".join(current), current_tokens))
    return chunks


def embed_pooled(
    texts: Sequence[str],
    *,
    dim: int,
    chunks: Callable[[str], list[tuple[str, int]]],
    encode: Callable[[list[str]], NDArray[np.float32]],
) -> NDArray[np.float32]:
    """Embed every chunk of every text in one ``encode`` call, then pool each text's chunks weighted by their
    token counts and normalise."""
    pieces: list[str] = []
    owners: list[int] = []
    weights: list[int] = []
    for i, text in enumerate(texts):
        for chunk, tokens in chunks(text):
            pieces.append(chunk)
            owners.append(i)
            weights.append(tokens)
    vectors = encode(pieces)
    pooled = np.zeros((len(texts), dim), dtype=np.float32)
    np.add.at(pooled, np.asarray(owners), vectors * np.asarray(weights, dtype=np.float32)[:, None])
    return l2_normalise(pooled)


class WindowedEmbedder(ABC):
    """``embed`` and chunking for a model backend with a window (torch and ONNX share them).

    A backend sets ``dim``, ``long_text`` (``"chunk"`` or ``"truncate"``) and ``max_tokens``, and provides
    ``token_count`` and ``_encode`` (normalised vectors of texts that fit the window, or are truncated to it).
    """

    dim: int
    long_text: str
    max_tokens: int

    @abstractmethod
    def token_count(self, text: str) -> int:
        """Word pieces the model would read for ``text`` (special tokens included)."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        """L2-normalised vectors of ``texts``, each read up to the window."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.long_text == "truncate":
            return self._encode(list(texts))
        return embed_pooled(texts, dim=self.dim, chunks=self._chunks, encode=self._encode)

    def _chunks(self, text: str) -> list[tuple[str, int]]:
        """Sentence-aligned chunks of ``text`` that fit the window, with their token counts."""
        return sentence_chunks(text, max_tokens=self.max_tokens, token_count=self.token_count)
