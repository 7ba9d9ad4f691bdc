"""How good the suggestions are: recall@3 of the true labels and precision of what is shown, per language.

Used by ``pollinate assist evaluate`` (cross-validation on the bundled examples, and any labelled needs file
such as a gold set's ``needs.jsonl``) and by the regression test of the suggestions. Each learner of
:mod:`matcher.assist.model` is measured the same way, so that the served one is chosen by these figures: the
mean of the two regressions (``served``) against the nearest-neighbour vote (``neighbours``) and each
regression alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import GroupKFold

from matcher.assist.examples import Example
from matcher.assist.model import REGULARISATION, CharGrams, LinearTagger, NeighbourVote
from matcher.assist.suggest import SHOW_AT, SHOW_AT_MOST, TARGET_LABELS, TYPE_LABELS

LEARNERS = ("served", "neighbours", "embedding", "lexical")
Probabilities = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Labelled:
    """A text to score, its true labels and its language."""

    text: str
    labels: tuple[str, ...]
    language: str


@dataclass(frozen=True, slots=True)
class Scores:
    """Recall@3 (mean over texts) and the precision of the labels shown (micro: right shown / shown)."""

    recall_at_3: float
    precision_shown: float
    shown: int
    texts: int


def scores(probabilities: Probabilities, truth: Sequence[Sequence[str]], labels: Sequence[str]) -> Scores:
    """Score ``probabilities`` (rows: texts, columns: ``labels``) against the true labels of each text."""
    recalls = []
    shown = right = 0
    for row, true in zip(probabilities, truth, strict=True):
        order = np.argsort(-row, kind="stable")
        top3 = {labels[j] for j in order[:3]}
        recalls.append(len(top3 & set(true)) / len(true))
        display = {labels[j] for j in order[:SHOW_AT_MOST] if row[j] >= SHOW_AT}
        shown += len(display)
        right += len(display & set(true))
    return Scores(
        float(np.mean(recalls)) if recalls else 0.0, right / shown if shown else 0.0, shown, len(recalls)
    )


def by_language(
    probabilities: Probabilities, items: Sequence[Labelled], labels: Sequence[str]
) -> dict[str, Scores]:
    """:func:`scores` over all texts (``all``) and per language."""
    out = {"all": scores(probabilities, [i.labels for i in items], labels)}
    for lang in sorted({i.language for i in items}):
        rows = [n for n, i in enumerate(items) if i.language == lang]
        out[lang] = scores(probabilities[rows], [items[n].labels for n in rows], labels)
    return out


def predict(
    learner: str,
    train: Sequence[Example],
    train_vectors: NDArray[np.float32],
    kind: str,
    texts: Sequence[str],
    vectors: NDArray[np.float32],
) -> Probabilities:
    """Fit ``learner`` on ``train`` for ``kind`` (``targets`` or ``types``) and predict ``texts``."""
    labels = TARGET_LABELS if kind == "targets" else TYPE_LABELS
    if kind == "types":
        keep = [i for i, e in enumerate(train) if e.assistance_types]
        train = [train[i] for i in keep]
        train_vectors = train_vectors[keep]
    sets = [[str(t) for t in e.targets] if kind == "targets" else list(e.assistance_types) for e in train]
    if learner == "neighbours":
        return NeighbourVote.fit(train_vectors, sets, labels).probabilities(vectors)
    out = []
    if learner in ("served", "embedding"):
        tagger = LinearTagger.fit(train_vectors, sets, labels, c=REGULARISATION["embedding"])
        out.append(tagger.probabilities(vectors))
    if learner in ("served", "lexical"):
        grams = CharGrams.fit([e.text for e in train])
        tagger = LinearTagger.fit(
            grams.transform([e.text for e in train]), sets, labels, c=REGULARISATION["lexical"]
        )
        out.append(tagger.probabilities(grams.transform(texts)))
    return np.asarray(np.mean(out, axis=0), dtype=np.float32)


def cross_validate(
    learner: str, examples: Sequence[Example], vectors: NDArray[np.float32], kind: str, *, folds: int = 5
) -> Scores:
    """``folds``-fold cross-validation over the demo needs (each fold's needs are scored by models fitted on
    everything else: the demo offers, the target texts and the other folds' needs)."""
    needs = [i for i, e in enumerate(examples) if e.source in ("demo-need", "need")]
    probabilities = []
    truth = []
    for _, test in GroupKFold(n_splits=folds).split(needs, groups=needs):
        held = {needs[i] for i in test}
        train_rows = [i for i in range(len(examples)) if i not in held]
        test_rows = sorted(held)
        p = predict(
            learner,
            [examples[i] for i in train_rows],
            vectors[train_rows],
            kind,
            [examples[i].text for i in test_rows],
            vectors[test_rows],
        )
        probabilities.append(p)
        for i in test_rows:
            e = examples[i]
            truth.append([str(t) for t in e.targets] if kind == "targets" else list(e.assistance_types))
    labels = TARGET_LABELS if kind == "targets" else TYPE_LABELS
    return scores(np.vstack(probabilities), truth, labels)
