"""Fit verdicts: the probability that a person would judge a suggested provider relevant, and its verdict.

The fused score (0.5 to 1.5 on the dev gold set, unbounded) means nothing to a reader. A calibration maps a
match's score components to the probability that a person would judge the provider relevant — graded 2 or 3
in the gold sets: "strongly relevant" or "directly addresses the request"; grade 1, "topically related but weak
or outside the region", is not a provider one would contact — and that probability to a verdict:

| verdict    | probability | reads as                                            |
|------------|-------------|-----------------------------------------------------|
| `strong`   | >= 0.75     | at least three in four such providers are relevant  |
| `good`     | >= 0.50     | at least one in two                                 |
| `possible` | >= 0.25     | at least one in four                                |
| `weak`     | < 0.25      | fewer than one in four                              |

**Why logistic regression on the signals.** The calibration is fitted by ``pollinate evaluate
--write-calibration`` (``evaluation/calibration.py``) with scikit-learn on the default ranker's top 20 per need
of a gold set, cross-validated by need (a need's judgements never calibrate themselves). On the held-out folds
of the dev gold set (50 needs, their top 10; expected calibration error over 10 equal-width bins): a min-max
rescaling of the score 0.234, isotonic regression on the score 0.036, logistic regression on the signals 0.033
(Brier 0.128 / 0.072 / 0.071). The logistic model weighs each signal by how much it predicts a person's
judgement rather than by its ranking weight, so a pair carried by shared targets and region with little shared
meaning gets a lower probability than its score suggests; it is smooth (isotonic regression is a step function
with wide plateaus) and ships as a handful of numbers. Signals whose coefficient comes out at or below 0 are
dropped and the model refitted, so that the probability never falls because an offer fits better on one
signal: on the dev set the language signal comes out negative (an offer that does not list the need's language
is capped at grade 2, which still counts as relevant, and language fit goes with the other signals) and the
penalty never varies. The features are the raw signals (component / the weight the calibration was fitted
with), so the numbers read in signal units.

**Weak topical fit.** A pair whose targets and geography fit (both signals above 0) but whose text part of the
score (semantic plus lexical components) is low reads as a fit on paper only: a coral-bleaching offer for a
mangrove need shares target 8 and serves the region. The threshold is the 10th percentile of that text part
among the relevant dev pairs with such a structural fit (nine in ten relevant pairs are above it). Held out
by need on the dev set's top 20, 3 % of the flagged pairs are relevant against 30 % of the structurally fitting
pairs not flagged (11 of the 106 relevant pairs are flagged: mostly cross-language ones). Such a match is never
``strong`` (at most ``good``), and the flag lets a page say why.

The calibration holds for the ranking settings it was fitted with (recorded in the file): after changing the
weights, the feedback or the model, refit it (docs/evaluation.md). Nothing here imports scikit-learn: the
shipped file is plain numbers (``matcher/data/fit_calibration.json``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from matcher.engine.scoring import SIGNALS

Verdict = Literal["strong", "good", "possible", "weak"]
# Best first; the minimum probability of each verdict (the last is the floor).
VERDICTS: Final[tuple[Verdict, ...]] = ("strong", "good", "possible", "weak")
THRESHOLDS: Final[dict[Verdict, float]] = {"strong": 0.75, "good": 0.5, "possible": 0.25, "weak": 0.0}
CALIBRATION_FORMAT: Final = 1
SHIPPED: Final = Path(__file__).resolve().parent.parent / "data" / "fit_calibration.json"
Method = Literal["logistic", "isotonic"]


@dataclass(frozen=True, slots=True)
class Fit:
    """How well a match fits, for a reader.

    Attributes:
        probability: the calibrated probability that a person would judge the provider relevant.
        verdict: ``strong``, ``good``, ``possible`` or ``weak`` (:data:`THRESHOLDS`).
        weak_topical_fit: targets and geography fit but the text does not (never ``strong`` then).
    """

    probability: float
    verdict: Verdict
    weak_topical_fit: bool


def verdict_of(probability: float, *, weak_topical_fit: bool = False) -> Verdict:
    """The verdict of a probability (:data:`THRESHOLDS`); a weak topical fit is at most ``good``."""
    for name in VERDICTS:
        if probability >= THRESHOLDS[name]:
            if name == "strong" and weak_topical_fit:
                return "good"
            return name
    return "weak"


def reaches(verdict: Verdict, least: Verdict) -> bool:
    """Whether ``verdict`` is ``least`` or better (an alert's threshold: ``possible`` lets ``good`` through)."""
    return VERDICTS.index(verdict) <= VERDICTS.index(least)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted calibration, as shipped in JSON (see the module docstring).

    Attributes:
        method: ``logistic`` (on the signals) or ``isotonic`` (on the score).
        weights: the fusion weights the calibration was fitted with (component / weight = signal).
        intercept: logistic intercept.
        coefficients: logistic coefficient per signal (signals not listed do not count).
        score_points: isotonic breakpoints (scores, increasing).
        probability_points: isotonic probabilities at ``score_points`` (non-decreasing).
        topical_threshold: a structurally fitting pair whose semantic + lexical components are below this has
            a weak topical fit.
        info: how it was fitted and measured (dataset, pairs, held-out calibration errors).
    """

    method: Method
    weights: dict[str, float]
    topical_threshold: float
    intercept: float = 0.0
    coefficients: dict[str, float] = field(default_factory=dict)
    score_points: tuple[float, ...] = ()
    probability_points: tuple[float, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method == "logistic":
            unknown = set(self.coefficients) - set(SIGNALS)
            if unknown or any(not self.weights.get(name) for name in self.coefficients):
                raise ValueError(
                    f"logistic coefficients need known signals with a weight: {sorted(self.coefficients)}"
                )
        elif self.method == "isotonic":
            xs, ps = np.asarray(self.score_points), np.asarray(self.probability_points)
            if len(xs) < 2 or len(xs) != len(ps) or np.any(np.diff(xs) < 0) or np.any(np.diff(ps) < 0):
                raise ValueError(
                    "isotonic points must be two or more, increasing, with non-decreasing probabilities"
                )
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")

    def signal(self, components: Mapping[str, float], name: str) -> float:
        """The raw value of one signal from a match's components (0 when its fitted weight is 0)."""
        weight = self.weights.get(name, 0.0)
        return float(components.get(name, 0.0)) / weight if weight else 0.0

    def probabilities(self, components: Mapping[str, NDArray[np.float64]]) -> NDArray[np.float64]:
        """Probabilities of many pairs: ``components`` maps each signal to its values (score = their sum)."""
        n = len(next(iter(components.values())))
        if self.method == "isotonic":
            scores = np.sum([np.asarray(v, dtype=np.float64) for v in components.values()], axis=0)
            out: NDArray[np.float64] = np.interp(scores, self.score_points, self.probability_points)
            return out
        z = np.full(n, self.intercept, dtype=np.float64)
        for name, coefficient in self.coefficients.items():
            if name in components:
                z += coefficient * np.asarray(components[name], dtype=np.float64) / self.weights[name]
        probabilities: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return probabilities

    def weak_topical_fit(self, components: Mapping[str, float]) -> bool:
        """Targets and geography fit, but the text part of the score is below the measured threshold."""
        structural = components.get("targets", 0.0) > 0 and components.get("geography", 0.0) > 0
        text = components.get("semantic", 0.0) + components.get("lexical", 0.0)
        return bool(structural and text < self.topical_threshold)

    def assess(self, components: Mapping[str, float]) -> Fit:
        """The fit of one match from its score components."""
        probability = float(self.probabilities({k: np.asarray([v]) for k, v in components.items()})[0])
        if not math.isfinite(probability):  # components are finite; this guards a corrupt calibration file
            probability = 0.0
        weak = self.weak_topical_fit(components)
        shown = round(probability, 4)  # the verdict of the probability as served, so that the two always agree
        return Fit(shown, verdict_of(shown, weak_topical_fit=weak), weak)

    def as_json(self) -> dict[str, Any]:
        """The shipped form (``load_calibration`` reads it back)."""
        out: dict[str, Any] = {
            "format": CALIBRATION_FORMAT,
            "method": self.method,
            "target": "probability that the offer is graded 2 or more for the need",
            "thresholds": dict(THRESHOLDS),
            "weights": self.weights,
            "topical_threshold": self.topical_threshold,
        }
        if self.method == "logistic":
            out |= {"intercept": self.intercept, "coefficients": self.coefficients}
        else:
            out |= {"score_points": list(self.score_points), "probability_points": list(self.probability_points)}
        return out | {"info": self.info}


def calibration_from_json(data: Mapping[str, Any]) -> Calibration:
    """A calibration from its JSON form.

    Raises:
        ValueError: another format version, or numbers that do not make a calibration.
    """
    if data.get("format") != CALIBRATION_FORMAT:
        raise ValueError(f"calibration format {data.get('format')!r}; this version reads {CALIBRATION_FORMAT}")
    if data.get("thresholds", THRESHOLDS) != THRESHOLDS:
        raise ValueError("the calibration file's verdict thresholds differ from the documented ones")
    return Calibration(
        method=data["method"],
        weights={str(k): float(v) for k, v in data["weights"].items()},
        topical_threshold=float(data["topical_threshold"]),
        intercept=float(data.get("intercept", 0.0)),
        coefficients={str(k): float(v) for k, v in data.get("coefficients", {}).items()},
        score_points=tuple(float(v) for v in data.get("score_points", ())),
        probability_points=tuple(float(v) for v in data.get("probability_points", ())),
        info=dict(data.get("info", {})),
    )


def load_calibration(path: Path | None = None) -> Calibration:
    """The calibration in ``path`` (default: the one shipped with Pollinate, read once per process)."""
    if path is None:
        return _shipped()
    return calibration_from_json(json.loads(path.read_text(encoding="utf-8")))


@cache
def _shipped() -> Calibration:
    return calibration_from_json(json.loads(SHIPPED.read_text(encoding="utf-8")))
