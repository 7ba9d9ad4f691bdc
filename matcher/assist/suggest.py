"""Suggesting KMGBF targets and assistance types from a text, and keeping the fitted models as plain arrays.

Measured on the dev gold set (50 needs: 35 English, 8 French, 7 Spanish; never used to fit) and the same needs
in Arabic, Russian and Chinese (dev-parallel), trained on the bundled examples only, with the default encoders'
features (MiniLM and USE-m3 side by side; docs/assistant.md has the whole table):

| targets, recall@3          | dev   | en    | fr    | es    | ar    | ru    | zh    |
|----------------------------|-------|-------|-------|-------|-------|-------|-------|
| nearest-neighbour vote     | 0.713 | 0.748 | 0.438 | 0.857 | 0.593 | 0.640 | 0.683 |
| regression on embeddings   | 0.847 | 0.838 | 0.875 | 0.857 | 0.600 | 0.717 | 0.767 |
| regression on char n-grams | 0.723 | 0.705 | 0.812 | 0.714 | 0.200 | 0.200 | 0.230 |
| served (see below)         | 0.870 | 0.857 | 0.875 | 0.929 | 0.600 | 0.717 | 0.767 |

The mean of the two regressions serves (the embedding regression alone for a language with fewer than
MIN_LEXICAL_EXAMPLES examples: ar/ru/zh here): the embeddings carry meaning in every language,
the n-grams carry French and Spanish words to the targets' own French and Spanish texts, and each covers
the other's misses. With MiniLM alone the served mean read 0.830 on the dev needs and 0.15-0.29 in Arabic,
Russian and Chinese.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from matcher.assist.examples import Example
from matcher.assist.model import REGULARISATION, CharGrams, LinearTagger
from matcher.engine.texts import detect_language
from models import vocabularies as vocab

FORMAT: Final = 2
# The models learn from a language, and the n-gram regressions speak for it, only once there are this many
# examples written in it. With a handful (the bundled corpus has six Arabic, six Chinese and six Russian
# records) both regressions learnt the script rather than the topic — "a text in this script has those few
# records' targets" — and dragged every draft in it towards them: recall@3 of the dev-parallel Arabic, Russian
# and Chinese needs fell from 0.60 / 0.72 / 0.77 to 0.47 / 0.42 / 0.47 when the 18 records were bundled.
# A draft in another language is suggested from its embedding alone (USE-m3 reads it).
MIN_LEXICAL_EXAMPLES: Final = 20
TARGET_LABELS: Final = tuple(str(t) for t in range(1, 24))
TYPE_LABELS: Final = tuple(vocab.ASSISTANCE_TYPES)
# What is shown: at most three labels, each at least this likely (precision of what is shown on the dev set:
# targets 0.70, assistance types 0.85, against 0.63 and 0.73 at 0.3).
SHOW_AT: Final = 0.5
SHOW_AT_MOST: Final = 3


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A label (a target number as text, or an assistance type) and its probability."""

    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class Suggestions:
    """What a text is likely about: every label's probability, and the few worth showing."""

    targets: dict[str, float]
    assistance_types: dict[str, float]

    @staticmethod
    def _shown(probabilities: dict[str, float]) -> list[Suggestion]:
        ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])[:SHOW_AT_MOST]
        return [Suggestion(label, p) for label, p in ranked if p >= SHOW_AT]

    @property
    def shown_targets(self) -> list[Suggestion]:
        return self._shown(self.targets)

    @property
    def shown_types(self) -> list[Suggestion]:
        return self._shown(self.assistance_types)


def fingerprint(examples: Sequence[Example], model_id: str) -> str:
    """What a fitted model depends on: the embedding model and the examples (keys and labels)."""
    digest = hashlib.sha256(f"{FORMAT}|{model_id}".encode())
    for e in sorted(examples, key=lambda e: e.key):
        digest.update(
            f"|{e.key}|{e.targets}|{e.assistance_types}|{hashlib.sha256(e.text.encode()).hexdigest()}".encode()
        )
    return digest.hexdigest()


@dataclass(slots=True)
class Suggester:
    """The fitted models: for each label set, a regression on embeddings and one on character n-grams.

    Attributes:
        grams: the n-gram features.
        targets: ``(embedding, lexical)`` taggers of the KMGBF targets.
        types: ``(embedding, lexical)`` taggers of the assistance types.
        fingerprint: what the models were fitted on (:func:`fingerprint`).
        model_id: the embedding model whose vectors the embedding regressions read.
        lexical_languages: the languages the models were fitted on (those with at least
            :data:`MIN_LEXICAL_EXAMPLES` examples); a text in another language is suggested from its embedding
            alone.
    """

    grams: CharGrams
    targets: tuple[LinearTagger, LinearTagger]
    types: tuple[LinearTagger, LinearTagger]
    fingerprint: str
    model_id: str
    lexical_languages: frozenset[str]

    @classmethod
    def fit(
        cls, examples: Sequence[Example], vectors: NDArray[np.float32], *, fingerprint: str, model_id: str
    ) -> Suggester:
        """Fit on ``examples`` whose embeddings are ``vectors`` (same order), leaving out the examples of
        languages with fewer than :data:`MIN_LEXICAL_EXAMPLES` of them. Examples without assistance types (the
        target texts) train the target models only."""
        languages = [detect_language(e.text) for e in examples]
        counts: dict[str, int] = {}
        for language in languages:
            counts[language] = counts.get(language, 0) + 1
        learnt = frozenset(code for code, n in counts.items() if n >= MIN_LEXICAL_EXAMPLES)
        kept = [i for i, language in enumerate(languages) if language in learnt]
        examples = [examples[i] for i in kept]
        vectors = vectors[kept]
        texts = [e.text for e in examples]
        grams = CharGrams.fit(texts)
        lexical = grams.transform(texts)
        c_emb, c_lex = REGULARISATION["embedding"], REGULARISATION["lexical"]
        target_sets = [[str(t) for t in e.targets] for e in examples]
        typed = np.array([bool(e.assistance_types) for e in examples])
        type_sets = [list(e.assistance_types) for e in examples if e.assistance_types]
        return cls(
            grams,
            (
                LinearTagger.fit(vectors, target_sets, TARGET_LABELS, c=c_emb),
                LinearTagger.fit(lexical, target_sets, TARGET_LABELS, c=c_lex),
            ),
            (
                LinearTagger.fit(vectors[typed], type_sets, TYPE_LABELS, c=c_emb),
                LinearTagger.fit(lexical[np.flatnonzero(typed)], type_sets, TYPE_LABELS, c=c_lex),
            ),
            fingerprint,
            model_id,
            learnt,
        )

    def suggest_batch(self, texts: Sequence[str], vectors: NDArray[np.float32]) -> list[Suggestions]:
        """The suggestions for each text (``vectors``: their embeddings, same order)."""
        lexical = self.grams.transform(texts)
        known = np.array([detect_language(t) in self.lexical_languages for t in texts])[:, None]

        def mean(pair: tuple[LinearTagger, LinearTagger]) -> NDArray[np.float64]:
            by_embedding = pair[0].probabilities(vectors)
            return np.where(known, (by_embedding + pair[1].probabilities(lexical)) / 2, by_embedding)

        p_targets, p_types = mean(self.targets), mean(self.types)
        return [
            Suggestions(
                {label: round(float(p), 4) for label, p in zip(TARGET_LABELS, p_targets[i], strict=True)},
                {label: round(float(p), 4) for label, p in zip(TYPE_LABELS, p_types[i], strict=True)},
            )
            for i in range(len(texts))
        ]

    # ------------------------------------------------------------------------------------------ storage

    def save(self, path: Path) -> None:
        """Write the arrays to ``path`` (``.npz``) and the vocabulary and metadata beside it (``.json``),
        each through a temporary file renamed into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, NDArray[np.float32] | NDArray[np.float64]] = {"idf": self.grams.idf}
        for name, pair in (("targets", self.targets), ("types", self.types)):
            for side, tagger in zip(("embedding", "lexical"), pair, strict=True):
                arrays[f"{name}_{side}_coef"] = tagger.coef
                arrays[f"{name}_{side}_intercept"] = tagger.intercept
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
        meta = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "model_id": self.model_id,
            "lexical_languages": sorted(self.lexical_languages),
            "vocabulary": self.grams.vocabulary,
        }
        meta_path = path.with_suffix(".json")
        meta_tmp = meta_path.with_suffix(".tmp.json")
        meta_tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        meta_tmp.replace(meta_path)

    @classmethod
    def load(cls, path: Path) -> Suggester | None:
        """The models saved at ``path``, or ``None`` when there are none or they are of another format."""
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            return None
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        grams = CharGrams(meta["vocabulary"], arrays["idf"])

        def pair(name: str, labels: tuple[str, ...]) -> tuple[LinearTagger, LinearTagger]:
            return (
                LinearTagger(labels, arrays[f"{name}_embedding_coef"], arrays[f"{name}_embedding_intercept"]),
                LinearTagger(labels, arrays[f"{name}_lexical_coef"], arrays[f"{name}_lexical_intercept"]),
            )

        return cls(
            grams,
            pair("targets", TARGET_LABELS),
            pair("types", TYPE_LABELS),
            str(meta["fingerprint"]),
            str(meta["model_id"]),
            frozenset(str(code) for code in meta["lexical_languages"]),
        )
