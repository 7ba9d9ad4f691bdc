"""The lexical signal: BM25 (bm25s) over offer texts, aligned with index positions.

Stop words of English, French and Spanish are removed and tokens are stemmed with Snowball's English stemmer
(PyStemmer). BM25 saturates repeated terms (k1) and normalises by document length (b), which is the first
guard against keyword stuffing; the ranker also gives lexical evidence a small weight, because naive fusion of
BM25 with dense similarity hurts on needs that paraphrase the offers that answer them.

bm25s indexes are static: the index is rebuilt lazily (on the next query) after offers change. Rebuilding takes
about a second per 100k offers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
from numpy.typing import NDArray

_STOPWORDS = sorted(
    set(bm25s.stopwords.STOPWORDS_EN)
    | set(bm25s.stopwords.STOPWORDS_FRENCH)
    | set(bm25s.stopwords.STOPWORDS_SPANISH)
)


class LexicalIndex:
    """BM25 scores of a query against every document position."""

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._model: bm25s.BM25 | None = None
        self._stemmer = Stemmer.Stemmer("english")
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._texts)

    def append(self, texts: Sequence[str]) -> None:
        """Add documents at the next positions."""
        with self._lock:
            self._texts.extend(texts)
            self._model = None

    def compact(self, kept: NDArray[np.int64]) -> None:
        """Keep the documents at ``kept`` (old positions in their new order), as the vector index did."""
        with self._lock:
            self._texts = [self._texts[int(p)] for p in kept]
            self._model = None

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """Lower-cased, stop-word-free, stemmed tokens."""
        out = bm25s.tokenize(
            list(texts), stopwords=_STOPWORDS, stemmer=self._stemmer, return_ids=False, show_progress=False
        )
        return [list(doc) for doc in out]

    def _ensure(self) -> bm25s.BM25 | None:
        with self._lock:
            if self._model is None and self._texts:
                model = bm25s.BM25()
                model.index(self.tokens(self._texts), show_progress=False)
                self._model = model
            return self._model

    def scores(self, query: str) -> NDArray[np.float32]:
        """BM25 score of ``query`` for every position (zeros when nothing matches)."""
        model = self._ensure()
        if model is None:
            return np.zeros(0, dtype=np.float32)
        query_tokens = [t for t in self.tokens([query])[0] if t in model.vocab_dict]
        if not query_tokens:
            return np.zeros(len(self._texts), dtype=np.float32)
        return np.asarray(model.get_scores(query_tokens), dtype=np.float32)
