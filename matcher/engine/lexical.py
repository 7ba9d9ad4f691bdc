"""The lexical signal: BM25 (bm25s) over offer texts, aligned with index positions.

Each text is analysed in its own language (:mod:`matcher.engine.analysis`: that language's stop words and
Snowball stemmer, Arabic normalisation, Chinese character bigrams); the language is detected once per text.
BM25 saturates repeated terms (k1) and normalises by document length (b), which is the first
guard against keyword stuffing; the ranker also gives lexical evidence a small weight, because naive fusion of
BM25 with dense similarity hurts on needs that paraphrase the offers that answer them.

bm25s indexes are static: the index is rebuilt lazily (on the next query) after offers change. Rebuilding takes
about a second per 100k offers.

Batches of queries are scored by one sparse product of the document-term matrix of bm25s's precomputed term
scores (documents as rows) with the queries' term counts, instead of a ``np.add.at`` per query term: on the
benchmark catalogue (100k offers, a vocabulary of ~750 stems) a need touches 1.2 million postings, 2.6 ms per
need with bm25s's ``get_scores`` and 0.7 ms in blocks of 50 needs. Each document's score is the same
sequence of float32 products and sums whatever the other queries of the block or the positions asked for,
so a need scores identically alone and in a batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import bm25s
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from matcher.engine.analysis import analyse_all
from matcher.engine.texts import detect_language


class LexicalIndex:
    """BM25 scores of a query against every document position."""

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._model: bm25s.BM25 | None = None
        self._by_document: sp.csr_array | None = None  # (documents, terms) term scores of _model
        self._term_ids: dict[str, int] = {}  # term -> column of _by_document (terms in string order)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._texts)

    def append(self, texts: Sequence[str]) -> None:
        """Add documents at the next positions."""
        with self._lock:
            self._texts.extend(texts)
            self._model = self._by_document = None

    def compact(self, kept: NDArray[np.int64]) -> None:
        """Keep the documents at ``kept`` (old positions in their new order), as the vector index did."""
        with self._lock:
            self._texts = [self._texts[int(p)] for p in kept]
            self._model = self._by_document = None

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's index terms, analysed in the language it is written in (detected)."""
        return analyse_all(texts, [detect_language(text) if text.strip() else "en" for text in texts])

    def _ensure(self) -> bm25s.BM25 | None:
        return self._built()[0]

    def _built(self) -> tuple[bm25s.BM25 | None, sp.csr_array | None]:
        with self._lock:
            if self._model is None and self._texts:
                model = bm25s.BM25()
                model.index(self.tokens(self._texts), show_progress=False)
                scores = model.scores
                # bm25s keeps one row of (document, score) per term; the batch product wants documents as rows.
                by_term = sp.csr_array(
                    (scores["data"], scores["indices"], scores["indptr"]),
                    shape=(len(scores["indptr"]) - 1, len(self._texts)),
                )
                # Terms in string order: a document's score sums its terms in column order, and bm25s numbers
                # terms in an order that changes with each process's string hashing, so two processes (a
                # job worker and a Dask worker) would otherwise differ in the last bit of some scores.
                rows = by_term.shape[0]
                terms = sorted(t for t, i in model.vocab_dict.items() if i < rows)
                by_term = by_term[np.asarray([model.vocab_dict[t] for t in terms], dtype=np.int64)]
                self._term_ids = {t: column for column, t in enumerate(terms)}
                self._model, self._by_document = model, by_term.T.tocsr()
            return self._model, self._by_document

    def scores(self, query: str) -> NDArray[np.float32]:
        """BM25 score of ``query`` for every position (zeros when nothing matches)."""
        model = self._ensure()
        if model is None:
            return np.zeros(0, dtype=np.float32)
        query_tokens = [t for t in self.tokens([query])[0] if t in model.vocab_dict]
        if not query_tokens:
            return np.zeros(len(self._texts), dtype=np.float32)
        return np.asarray(model.get_scores(query_tokens), dtype=np.float32)

    def query_terms(self, queries: Sequence[str]) -> NDArray[np.float32]:
        """How often each vocabulary term occurs in each query, ``(vocabulary, len(queries))``, for
        :meth:`scores_of` (valid until documents are added or compacted)."""
        model, by_document = self._built()
        if model is None or by_document is None:
            return np.zeros((0, len(queries)), dtype=np.float32)
        vocabulary = self._term_ids
        # A repeated query term counts once per occurrence, as in bm25s's get_scores.
        counts = np.zeros((by_document.shape[1], len(queries)), dtype=np.float32)
        for column, tokens in enumerate(self.tokens(queries)):
            ids = [vocabulary[t] for t in tokens if t in vocabulary]
            np.add.at(counts[:, column], ids, np.float32(1.0))
        return counts

    def scores_of(
        self, terms: NDArray[np.float32], *, positions: NDArray[np.int64] | None = None
    ) -> NDArray[np.float32]:
        """BM25 scores of the queries whose :meth:`query_terms` are ``terms``, ``(queries, n)``: for every
        position, or only for ``positions``.

        The values are those of :meth:`scores` up to float rounding (the order of the float32 sums differs),
        and do not depend on the other queries or on ``positions``.
        """
        _, by_document = self._built()
        if by_document is None or not len(terms):
            return np.zeros((terms.shape[1], 0), dtype=np.float32)
        matrix = by_document if positions is None else by_document[positions]
        product = np.asarray(matrix @ terms, dtype=np.float32)  # (n, queries)
        # Transposed by blocks of documents that fit in cache (a plain copy is several times slower).
        out = np.empty((product.shape[1], product.shape[0]), dtype=np.float32)
        for start in range(0, product.shape[0], 4096):
            out[:, start : start + 4096] = product[start : start + 4096].T
        return out

    def scores_batch(
        self, queries: Sequence[str], *, positions: NDArray[np.int64] | None = None
    ) -> NDArray[np.float32]:
        """BM25 scores of each query, ``(len(queries), n)``: :meth:`scores_of` of :meth:`query_terms`."""
        return self.scores_of(self.query_terms(queries), positions=positions)
