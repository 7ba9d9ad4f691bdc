"""Calibrating the fit verdicts on a gold set (scikit-learn), and measuring the calibration on held-out needs.

The pairs are the default ranker's top ``FIT_DEPTH`` offers of every need of a gold set, with their score
components; a pair is relevant when the offer is graded ``GOOD_GRADE`` (2) or more. Three ways of turning a
score into a probability are compared on held-out folds (``GroupKFold`` by need: a need's judgements never
calibrate themselves):

- ``min-max``: the score rescaled to [0, 1] by the lowest and highest score of the training folds (what a
  reader does with a bare score: "1.2 out of 1.5");
- ``isotonic``: isotonic regression of relevance on the score;
- ``logistic``: logistic regression of relevance on the raw signals (the shipped method,
  ``matcher/engine/verdicts.py`` gives the reasons), with the signals whose coefficient comes out at or below 0
  dropped and the model refitted.

Calibration is measured by the expected calibration error (ECE) over ``BINS`` equal-width probability bins,
the Brier score, and a reliability table (per bin: pairs, mean predicted probability, share relevant), on the
held-out top ``SHOWN`` (what a page shows) and top ``FIT_DEPTH``. The calibration written out is fitted on every
pair of the set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from evaluation.dataset import GOOD_GRADE
from matcher.engine.scoring import SIGNALS
from matcher.engine.verdicts import VERDICTS, Calibration, Method, verdict_of

__all__ = [
    "BINS",
    "FIT_DEPTH",
    "METHODS",
    "SHOWN",
    "CalibrationStudy",
    "Pairs",
    "expected_calibration_error",
    "fit_calibration",
    "pairs_of",
    "reliability",
    "study_calibration",
]

BINS = 10  # equal-width probability bins of the ECE and the reliability table
FIT_DEPTH = 20  # top offers per need the calibration is fitted and measured on
SHOWN = 10  # top offers per need a page shows (the API's default k)
FOLDS = 5
METHODS: tuple[str, ...] = ("min-max", "isotonic", "logistic")
# Of the relevant pairs whose targets and geography fit, this share has a text part below the weak-topical
# threshold (the threshold is their 10th percentile).
TOPICAL_QUANTILE = 0.1


@dataclass(frozen=True, slots=True)
class Pairs:
    """Ranked (need, offer) pairs with their score components and judgement.

    Attributes:
        components: signal name -> component per pair (the components add up to ``scores``).
        scores: fused score per pair.
        relevant: 1 when the offer is graded ``GOOD_GRADE`` or more for the need.
        needs: need id per pair (the cross-validation groups).
        ranks: 1-based rank of the offer in its need's ranking.
    """

    components: dict[str, NDArray[np.float64]]
    scores: NDArray[np.float64]
    relevant: NDArray[np.int64]
    needs: NDArray[np.str_]
    ranks: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.scores)

    def subset(self, rows: NDArray[np.int64] | NDArray[np.bool_]) -> Pairs:
        return Pairs(
            {k: v[rows] for k, v in self.components.items()},
            self.scores[rows],
            self.relevant[rows],
            self.needs[rows],
            self.ranks[rows],
        )


def pairs_of(
    rankings: Mapping[str, Sequence[tuple[str, float]]],
    components: Mapping[str, Sequence[Mapping[str, float]]],
    grades: Mapping[str, Mapping[str, int]],
    *,
    depth: int = FIT_DEPTH,
) -> Pairs:
    """The top ``depth`` pairs of each ranked need (``rankings`` and ``components`` as in ``ConfigRun``)."""
    rows: list[tuple[str, int, float, dict[str, float], int]] = []
    for need_id, ranked in rankings.items():
        need_grades = grades.get(need_id, {})
        for rank, ((offer_id, score), parts) in enumerate(
            zip(ranked[:depth], components[need_id][:depth], strict=True), start=1
        ):
            relevant = int(need_grades.get(offer_id, 0) >= GOOD_GRADE)
            rows.append((need_id, rank, score, dict(parts), relevant))
    return Pairs(
        components={name: np.asarray([r[3].get(name, 0.0) for r in rows], dtype=np.float64) for name in SIGNALS},
        scores=np.asarray([r[2] for r in rows], dtype=np.float64),
        relevant=np.asarray([r[4] for r in rows], dtype=np.int64),
        needs=np.asarray([r[0] for r in rows], dtype=np.str_),
        ranks=np.asarray([r[1] for r in rows], dtype=np.int64),
    )


# --------------------------------------------------------------------------------------------- fitting


def _signals(pairs: Pairs, weights: Mapping[str, float], names: Sequence[str]) -> NDArray[np.float64]:
    return (
        np.column_stack([pairs.components[n] / weights[n] for n in names]) if names else np.zeros((len(pairs), 0))
    )


def _topical_threshold(pairs: Pairs) -> float:
    """The 10th percentile of the text part (semantic + lexical) of the relevant, structurally fitting pairs."""
    text = pairs.components["semantic"] + pairs.components["lexical"]
    structural = (pairs.components["targets"] > 0) & (pairs.components["geography"] > 0)
    chosen = text[structural & (pairs.relevant == 1)]
    return float(np.quantile(chosen, TOPICAL_QUANTILE)) if len(chosen) else 0.0


def fit_calibration(
    pairs: Pairs, weights: Mapping[str, float], *, method: Method = "logistic", info: dict[str, Any] | None = None
) -> Calibration:
    """A calibration fitted on ``pairs`` (``weights``: the signed fusion weights the components were made with).

    Raises:
        ValueError: the pairs are all relevant or all not (nothing to calibrate).
    """
    if len(set(pairs.relevant.tolist())) < 2:
        raise ValueError("the pairs must include relevant and non-relevant ones to fit a calibration")
    signed = {name: float(weights[name]) for name in SIGNALS}
    threshold = round(_topical_threshold(pairs), 6)
    if method == "isotonic":
        model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(pairs.scores, pairs.relevant)
        xs, ps = model.X_thresholds_, model.y_thresholds_
        return Calibration(
            method="isotonic",
            weights=signed,
            topical_threshold=threshold,
            score_points=tuple(round(float(x), 6) for x in xs),
            probability_points=tuple(round(float(p), 6) for p in ps),
            info=info or {},
        )
    # Signals that vary and have a weight (a signal with weight 0 is 0 in every component).
    names = [n for n in SIGNALS if signed[n] and np.ptp(pairs.components[n]) > 0]
    while True:
        model = LogisticRegression(max_iter=1000).fit(_signals(pairs, signed, names), pairs.relevant)
        coefficients = dict(zip(names, model.coef_[0].tolist(), strict=True))
        kept = [n for n in names if coefficients[n] > 0]
        if kept == names:
            break
        names = kept  # the probability must never fall as a signal improves: drop and refit
    return Calibration(
        method="logistic",
        weights=signed,
        topical_threshold=threshold,
        intercept=round(float(model.intercept_[0]), 6),
        coefficients={n: round(c, 6) for n, c in coefficients.items()},
        info=info or {},
    )


# ------------------------------------------------------------------------------------------- measuring


def expected_calibration_error(
    probabilities: NDArray[np.float64], relevant: NDArray[np.int64], *, bins: int = BINS
) -> float:
    """ECE: the pair-weighted mean gap between mean probability and share relevant, over equal-width bins."""
    if not len(probabilities):
        return 0.0
    rows = reliability(probabilities, relevant, bins=bins)
    return float(sum(r["pairs"] * abs(r["mean_probability"] - r["relevant_rate"]) for r in rows) / len(relevant))


def reliability(
    probabilities: NDArray[np.float64], relevant: NDArray[np.int64], *, bins: int = BINS
) -> list[dict[str, Any]]:
    """Per non-empty bin: its bounds, pairs, mean predicted probability and share relevant."""
    which = np.minimum((probabilities * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        members = which == b
        if members.any():
            out.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "pairs": int(members.sum()),
                    "mean_probability": float(probabilities[members].mean()),
                    "relevant_rate": float(relevant[members].mean()),
                }
            )
    return out


@dataclass(slots=True)
class CalibrationStudy:
    """What calibrating on one gold set measured.

    Attributes:
        pairs: the pairs (top ``FIT_DEPTH`` per need).
        held_out: method -> held-out probability per pair (cross-validated by need).
        held_out_weak: held-out weak-topical flag per pair (threshold fitted on the other folds).
        folds: cross-validation folds.
        fitted: the calibration fitted on every pair (what ``--write-calibration`` writes).
        shipped: the shipped calibration's probability per pair (``None``: not measured).
    """

    pairs: Pairs
    held_out: dict[str, NDArray[np.float64]]
    held_out_weak: NDArray[np.bool_]
    folds: int
    fitted: Calibration
    shipped: NDArray[np.float64] | None = None
    shipped_weak: NDArray[np.bool_] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> NDArray[np.bool_]:
        """The pairs a page shows (top ``SHOWN``)."""
        mask: NDArray[np.bool_] = self.pairs.ranks <= SHOWN
        return mask

    def errors(self) -> dict[str, dict[str, float]]:
        """Method -> ``{"ECE@10", "ECE@20", "Brier@10"}`` on the held-out folds (and the shipped calibration)."""
        y = self.pairs.relevant
        shown = self.shown()
        methods = dict(self.held_out)
        if self.shipped is not None:
            methods["shipped"] = self.shipped
        return {
            name: {
                f"ECE@{SHOWN}": expected_calibration_error(p[shown], y[shown]),
                f"ECE@{FIT_DEPTH}": expected_calibration_error(p, y),
                f"Brier@{SHOWN}": float(np.mean((p[shown] - y[shown]) ** 2)),
            }
            for name, p in methods.items()
        }

    def verdicts(self, *, shipped: bool = False) -> dict[str, dict[str, float]]:
        """Verdict -> pairs among the top ``SHOWN`` and their share relevant (held-out logistic by default)."""
        probabilities = self.shipped if shipped and self.shipped is not None else self.held_out["logistic"]
        weak = self.shipped_weak if shipped and self.shipped_weak is not None else self.held_out_weak
        shown = self.shown()
        names = np.asarray(
            [verdict_of(float(p), weak_topical_fit=bool(w)) for p, w in zip(probabilities, weak, strict=True)]
        )
        out: dict[str, dict[str, float]] = {}
        for verdict in VERDICTS:
            members = shown & (names == verdict)
            out[verdict] = {
                "pairs": int(members.sum()),
                "relevant_rate": float(self.pairs.relevant[members].mean()) if members.any() else float("nan"),
            }
        return out

    def topical(self) -> dict[str, float]:
        """The weak-topical flag (held out) among the top ``FIT_DEPTH``: how many, and how many are relevant."""
        y, weak = self.pairs.relevant, self.held_out_weak
        structural = (self.pairs.components["targets"] > 0) & (self.pairs.components["geography"] > 0)
        return {
            "threshold": self.fitted.topical_threshold,
            "flagged": int(weak.sum()),
            "flagged_relevant_rate": float(y[weak].mean()) if weak.any() else float("nan"),
            "structural_unflagged_relevant_rate": float(y[structural & ~weak].mean())
            if (structural & ~weak).any()
            else float("nan"),
            "relevant_flagged": int((weak & (y == 1)).sum()),
            "relevant": int(y.sum()),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "pairs": len(self.pairs),
            "needs": len(set(self.pairs.needs.tolist())),
            "relevant": int(self.pairs.relevant.sum()),
            "folds": self.folds,
            "bins": BINS,
            "errors": self.errors(),
            "verdicts_held_out": self.verdicts(),
            "verdicts_shipped": self.verdicts(shipped=True) if self.shipped is not None else None,
            "topical_held_out": self.topical(),
            "reliability_held_out": {
                name: reliability(p[self.shown()], self.pairs.relevant[self.shown()])
                for name, p in self.held_out.items()
            },
            "fitted": self.fitted.as_json(),
        }


def _weak(pairs: Pairs, threshold: float) -> NDArray[np.bool_]:
    text = pairs.components["semantic"] + pairs.components["lexical"]
    structural = (pairs.components["targets"] > 0) & (pairs.components["geography"] > 0)
    flags: NDArray[np.bool_] = structural & (text < threshold)
    return flags


def study_calibration(
    pairs: Pairs,
    weights: Mapping[str, float],
    *,
    method: Method = "logistic",
    shipped: Calibration | None = None,
    info: dict[str, Any] | None = None,
) -> CalibrationStudy:
    """Held-out probabilities of every method (``GroupKFold`` by need), and the calibration fitted on all pairs.

    Raises:
        ValueError: fewer than two needs, or no relevant (or no non-relevant) pair.
    """
    groups = pairs.needs
    folds = min(FOLDS, len(set(groups.tolist())))
    if folds < 2:
        raise ValueError("calibration needs at least two ranked needs (it is cross-validated by need)")
    fitted = fit_calibration(pairs, weights, method=method, info=info)
    held_out = {name: np.zeros(len(pairs)) for name in METHODS}
    weak = np.zeros(len(pairs), dtype=np.bool_)
    splitter = GroupKFold(n_splits=folds)
    for train_rows, test_rows in splitter.split(pairs.scores, pairs.relevant, groups):
        train, test = pairs.subset(train_rows), pairs.subset(test_rows)
        low, high = float(train.scores.min()), float(train.scores.max())
        held_out["min-max"][test_rows] = np.clip((test.scores - low) / ((high - low) or 1.0), 0.0, 1.0)
        if len(set(train.relevant.tolist())) < 2:  # a fold with one class: its base rate is all there is
            for name in ("isotonic", "logistic"):
                held_out[name][test_rows] = float(train.relevant.mean())
            continue
        for name in ("isotonic", "logistic"):
            fold = fit_calibration(train, weights, method=name)  # type: ignore[arg-type]
            held_out[name][test_rows] = fold.probabilities(test.components)
            if name == method:
                weak[test_rows] = _weak(test, fold.topical_threshold)
    study = CalibrationStudy(pairs, held_out, weak, folds, fitted)
    if shipped is not None:
        study.shipped = shipped.probabilities(pairs.components)
        study.shipped_weak = _weak(pairs, shipped.topical_threshold)
    return study
