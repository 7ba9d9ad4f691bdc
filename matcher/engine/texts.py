"""How needs and offers become text for the embedding model, and the language of a text.

Chosen by measurement on the dev gold set (nDCG@10 of dense retrieval, all-MiniLM-L6-v2):

| text for both sides                                   | nDCG@10 |
|-------------------------------------------------------|---------|
| description only                                      | 0.711   |
| title + description                                   | 0.723   |
| title + description + titles of the KMGBF targets     | 0.753   |
| ... + target summaries                                | 0.774   |

(Adding the target summaries helps dense retrieval alone but hurts once structured signals join: 0.817 vs 0.822.)

The target titles are English: they also give French and Spanish texts an English anchor for the
English-only model. Embedding the title or single sentences separately did not help (0.86-0.87 vs 0.869 in the
full ranker), so each record is one text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import py3langid

from matcher.engine.analysis import FUNCTION_WORDS as STOPWORDS
from matcher.engine.analysis import normalise_arabic
from models import vocabularies as vocab

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'(\[]?[A-ZÀ-ÖØ-Þ0-9¿¡])")


def _targets_clause(targets: Iterable[int]) -> str:
    titles = [vocab.targets()[t].title for t in sorted(set(targets)) if t in vocab.targets()]
    return f" Targets: {'; '.join(titles)}." if titles else ""


def record_text(title: str, description: str, targets: Iterable[int]) -> str:
    """The text embedded for a need or an offer: title, description and the titles of its KMGBF targets."""
    title = title.strip()
    head = f"{title}. " if title and not title.endswith((".", "?", "!")) else (f"{title} " if title else "")
    return f"{head}{description.strip()}{_targets_clause(targets)}"


def detect_language(text: str) -> str:
    """ISO 639-1 code of the language the text is written in (py3langid).

    The model also knows about 25 languages without an ISO 639-1 code and ``zxx`` (no linguistic content, e.g.
    "000000000A"); the most likely language that has one is taken instead, since languages are ISO 639-1 codes
    everywhere (in a two-character column: ``zxx`` answered 500 on PostgreSQL)."""
    code, _score = py3langid.classify(text)
    known = vocab.languages()
    if code in known:
        return str(code)
    return next(str(c) for c, _ in py3langid.rank(text) if c in known)


def sentences(text: str, *, min_words: int = 4) -> list[str]:
    """Split a description into sentences (for the evidence shown with each match)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    return [p for p in parts if len(p.split()) >= min_words] or ([text.strip()] if text.strip() else [])


def keyword_stuffing(text: str) -> float:
    """How much a text reads like a keyword list rather than a description, from 0 (prose) to 1.

    Two symptoms, measured on the 360 offers of the dev and demo corpora: the most frequent content word makes
    up at most 12.7 % of a real description's content words (median 5 %), and function words ("the", "de",
    "para"...) are at least 14 % of its words (median 24 %). A text whose top word (used at least four times)
    exceeds 15 % or whose function words fall under 10 % scores above 0, reaching 1 at 30 % and 0 %
    respectively. Texts under 20 words are not judged.
    """
    words = _WORD.findall(normalise_arabic(text.lower()))
    if len(words) < 20:
        return 0.0
    content = [w for w in words if w not in STOPWORDS and len(w) > 2]
    if not content:
        return 1.0
    top_count = Counter(content).most_common(1)[0][1]
    function_share = (len(words) - len(content)) / len(words)
    # A word repeated two or three times in a short text is normal; only count repetition from four on.
    repetition = min(max((top_count / len(content) - 0.15) / 0.15, 0.0), 1.0) if top_count >= 4 else 0.0
    no_prose = min(max((0.10 - function_share) / 0.10, 0.0), 1.0)
    return max(repetition, no_prose)
