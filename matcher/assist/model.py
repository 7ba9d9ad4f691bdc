"""The suggestion models: which KMGBF targets and assistance types a text is about, with probabilities.

Two learners over the same labelled examples (:mod:`matcher.assist.examples`), one per label set:

- :class:`LinearTagger`: one logistic regression per label (scikit-learn), each giving the probability that
  the label belongs to the text, on a text's sentence embedding and/or its character n-grams
  (:class:`CharGrams`). Character n-grams inside words (``char_wb`` 3–5) are what lets a French or Spanish draft
  meet the English examples and the targets' own French and Spanish texts: ``biodiversité``, ``biodiversidad``
  and ``biodiversity`` share most of their n-grams, where the embedding model (English only) does not.
- :class:`NeighbourVote`: the baseline, a similarity-weighted vote of the nearest labelled texts.

Which one serves, and on which features, is measured (``pollinate assist evaluate``, docs/assistant.md); the
choice is :data:`matcher.assist.suggest.FEATURES`. Every fitted model is plain arrays (coefficients,
intercepts, the n-gram vocabulary and its idf), saved with :func:`numpy.savez` and read back with
``allow_pickle=False``: nothing executable is ever loaded from disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

Matrix = NDArray[np.float32] | sparse.csr_matrix

# Inverse regularisation strength of the logistic regressions, chosen by cross-validation on the bundled
# examples (recall@3 of the targets; 1, 4, 16 and 64 tried: docs/assistant.md).
REGULARISATION = {"embedding": 16.0, "lexical": 16.0}
_NEVER = -30.0  # the intercept of a label no example carries: its probability is 0 in float32


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float32]:
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))).astype(np.float32)


class CharGrams:
    """TF-IDF of character 3–5-grams inside words (lower-cased, accents kept), as plain arrays.

    Args:
        vocabulary: the n-grams, in column order.
        idf: their inverse document frequencies.
    """

    PARAMS: ClassVar[dict[str, object]] = dict(
        analyzer="char_wb", ngram_range=(3, 5), lowercase=True, sublinear_tf=True
    )

    def __init__(self, vocabulary: Sequence[str], idf: NDArray[np.float64]) -> None:
        self.vocabulary = list(vocabulary)
        self.idf = idf
        self._vectorizer = TfidfVectorizer(**self.PARAMS, vocabulary={g: i for i, g in enumerate(vocabulary)})
        self._vectorizer.idf_ = idf

    @classmethod
    def fit(cls, texts: Sequence[str], *, min_df: int = 2) -> CharGrams:
        vectorizer = TfidfVectorizer(**cls.PARAMS, min_df=min_df)
        vectorizer.fit(texts)
        vocabulary = vectorizer.get_feature_names_out().tolist()
        return cls(vocabulary, np.asarray(vectorizer.idf_, dtype=np.float64))

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.csr_matrix(self._vectorizer.transform(texts), dtype=np.float32)


@dataclass(slots=True)
class LinearTagger:
    """One logistic regression per label over one feature matrix.

    Attributes:
        labels: the label of each row of ``coef``.
        coef: ``(labels, features)``.
        intercept: ``(labels,)``.
    """

    labels: tuple[str, ...]
    coef: NDArray[np.float32]
    intercept: NDArray[np.float32]

    @classmethod
    def fit(
        cls, features: Matrix, label_sets: Sequence[Sequence[str]], labels: Sequence[str], *, c: float
    ) -> LinearTagger:
        """Fit a regression per label (``label_sets[i]``: the labels of row ``i``); a label that every row or no
        row carries gets a constant probability."""
        n_features = features.shape[1]
        coef = np.zeros((len(labels), n_features), dtype=np.float32)
        intercept = np.full(len(labels), _NEVER, dtype=np.float32)
        for row, label in enumerate(labels):
            y = np.array([label in s for s in label_sets], dtype=np.int8)
            if y.all():
                intercept[row] = -_NEVER
            elif y.any():
                model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
                model.fit(features, y)
                coef[row] = model.coef_[0]
                intercept[row] = model.intercept_[0]
        return cls(tuple(labels), coef, intercept)

    def probabilities(self, features: Matrix) -> NDArray[np.float32]:
        """``(rows, labels)``: the probability of each label for each row."""
        z = features @ self.coef.T
        return _sigmoid(np.asarray(z, dtype=np.float64) + self.intercept)


@dataclass(slots=True)
class NeighbourVote:
    """The baseline: the ``k`` most similar labelled texts vote for their labels, weighted by similarity.

    A label's score is the similarity-weighted share of the neighbours that carry it, in [0, 1].
    """

    labels: tuple[str, ...]
    vectors: NDArray[np.float32]
    membership: NDArray[np.float32]  # (examples, labels) 0/1
    k: int = 10

    @classmethod
    def fit(
        cls,
        vectors: NDArray[np.float32],
        label_sets: Sequence[Sequence[str]],
        labels: Sequence[str],
        *,
        k: int = 10,
    ) -> NeighbourVote:
        membership = np.array([[label in s for label in labels] for s in label_sets], dtype=np.float32)
        return cls(tuple(labels), vectors.astype(np.float32), membership, k)

    def probabilities(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        sims = vectors @ self.vectors.T
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out = np.zeros((vectors.shape[0], len(self.labels)), dtype=np.float32)
        for i, idx in enumerate(top):
            weights = np.clip(sims[i, idx], 0.0, None)
            total = float(weights.sum()) or 1.0
            out[i] = weights @ self.membership[idx] / total
        return out
