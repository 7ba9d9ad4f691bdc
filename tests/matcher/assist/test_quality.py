"""Measured quality, as regression tests with the packaged encoders (MiniLM and USE-m3, the default): the
suggestions' recall@3 on the committed fixtures (the dev gold set's needs, tests/fixtures/assist/dev_needs.jsonl,
and their Arabic, Russian and Chinese versions from the dev-parallel set, parallel_needs.jsonl) against the
nearest-neighbour baseline, and the duplicate threshold on the hand-made pairs
(tests/fixtures/assist/duplicate_pairs.json).

The models are fitted on the bundled examples only, so the figures are what a new installation serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from embeddings import l2_normalise
from matcher.assist import duplicates, measure
from matcher.assist.examples import Example, bundled_examples, draft_text
from matcher.assist.suggest import TARGET_LABELS, Suggester, fingerprint

FIXTURES = Path(__file__).parents[2] / "fixtures" / "assist"
# recall@3 of the true targets measured on the fixtures with MiniLM + USE-m3 (docs/assistant.md: `pollinate
# assist evaluate`); a test fails 0.03 below. `all` is the 200 needs of both fixtures.
MEASURED_RECALL = {
    "all": 0.738,
    "en": 0.857,
    "fr": 0.875,
    "es": 0.929,
    "ar": 0.600,
    "ru": 0.717,
    "zh": 0.767,
}
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def fitted(multilingual_embedder) -> tuple[list[Example], NDArray[np.float32]]:  # type: ignore[no-untyped-def]
    examples = bundled_examples()
    return examples, l2_normalise(multilingual_embedder.embed([e.text for e in examples]))


@pytest.fixture(scope="module")
def fixture_needs(multilingual_embedder) -> tuple[list[measure.Labelled], NDArray[np.float32]]:  # type: ignore[no-untyped-def]
    rows = [
        json.loads(line)
        for name in ("dev_needs.jsonl", "parallel_needs.jsonl")
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    items = [
        measure.Labelled(
            draft_text(r["title"], r["description"]), tuple(str(t) for t in r["targets"]), r["language"]
        )
        for r in rows
    ]
    return items, l2_normalise(multilingual_embedder.embed([i.text for i in items]))


@pytest.fixture(scope="module")
def suggester(fitted: Any) -> Suggester:
    """The served models, fitted once for the module (a fit is the slow part)."""
    examples, vectors = fitted
    return Suggester.fit(examples, vectors, fingerprint=fingerprint(examples, "test"), model_id="test")


def test_target_recall_at_3_holds(suggester: Suggester, fixture_needs: Any) -> None:
    items, held = fixture_needs
    suggestions = suggester.suggest_batch([i.text for i in items], held)
    probabilities = np.array([[s.targets[label] for label in TARGET_LABELS] for s in suggestions])
    got = measure.by_language(probabilities, items, TARGET_LABELS)
    for language, floor in MEASURED_RECALL.items():
        assert got[language].recall_at_3 >= floor - TOLERANCE, (language, got[language])


def test_served_model_beats_the_nearest_neighbour_vote(
    suggester: Suggester, fitted: Any, fixture_needs: Any
) -> None:
    examples, vectors = fitted
    items, held = fixture_needs
    texts = [i.text for i in items]
    suggestions = suggester.suggest_batch(texts, held)
    served = np.array([[s.targets[label] for label in TARGET_LABELS] for s in suggestions])
    baseline = measure.predict("neighbours", examples, vectors, "targets", texts, held)
    ours = measure.by_language(served, items, TARGET_LABELS)["all"]
    theirs = measure.by_language(baseline, items, TARGET_LABELS)["all"]
    assert ours.recall_at_3 > theirs.recall_at_3


def test_saved_models_predict_the_same(suggester: Suggester, fixture_needs: Any, tmp_path: Path) -> None:
    items, held = fixture_needs
    suggester.save(tmp_path / "models.npz")
    loaded = Suggester.load(tmp_path / "models.npz")
    assert loaded is not None
    assert loaded.model_id == "test"
    texts = [i.text for i in items[:5]]
    assert loaded.suggest_batch(texts, held[:5]) == suggester.suggest_batch(texts, held[:5])


def test_duplicate_threshold_on_the_hand_made_pairs(multilingual_embedder) -> None:  # type: ignore[no-untyped-def]
    pairs = json.loads((FIXTURES / "duplicate_pairs.json").read_text(encoding="utf-8"))["pairs"]
    a = l2_normalise(multilingual_embedder.embed([draft_text(**p["a"]) for p in pairs]))
    b = l2_normalise(multilingual_embedder.embed([draft_text(**p["b"]) for p in pairs]))
    flagged = [bool(s >= duplicates.THRESHOLD) for s in (a * b).sum(axis=1)]
    kinds = [p["kind"] for p in pairs]
    true_dups = sum(f for f, k in zip(flagged, kinds, strict=True) if k == "duplicate")
    false_dups = sum(f for f, k in zip(flagged, kinds, strict=True) if k == "same_topic")
    translations = sum(f for f, k in zip(flagged, kinds, strict=True) if k == "translation")
    # Measured (docs/assistant.md): every same-language duplicate found, no same-topic pair flagged, one of the
    # six translations found (MiniLM alone flagged a same-topic pair and found none).
    assert true_dups == kinds.count("duplicate") == 12
    assert false_dups == 0
    assert translations >= 1


def test_languages_with_a_handful_of_examples_are_not_learnt(suggester: Suggester) -> None:
    # Six Arabic, Chinese and Russian records are bundled: too few to learn from (MIN_LEXICAL_EXAMPLES).
    assert suggester.lexical_languages == {"en", "fr", "es"}
