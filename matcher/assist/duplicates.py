"""Near-identical records: a draft need against existing needs, a new offer against its organisation's offers.

Similarity is the cosine of the sentence embeddings of title and description. The thresholds were measured on
hand-made pairs (``tests/fixtures/assist/duplicate_pairs.json``: the same need written twice, two needs on one
topic that ask for different things, and one need and its translation); docs/assistant.md gives precision and
recall. The embedding model is English only, so a need and its translation are rarely found: that is the
cross-lingual encoders' work, and these thresholds are to be measured again with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from models.repositories import RecordText

# At or above this cosine, two records are shown as possible duplicates. On the hand-made pairs
# (all-MiniLM-L6-v2): the 12 true duplicates score 0.82-0.94, the 16 same-topic-different-need pairs 0.21-0.60
# but one at 0.83 (eradicating rats from an atoll vs keeping it rat-free afterwards), the 6 translations
# 0.05-0.72. At 0.80: precision 12/13, recall 12/12 of the same-language duplicates (12/18 with the
# translations). A possible duplicate costs the Party a glance and a missed one a second posting, so the
# threshold sits below the lowest true duplicate rather than above the stray same-topic pair. Offers use the
# same threshold (not measured on offer pairs).
THRESHOLD: Final = 0.80
MAX_SHOWN: Final = 5


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An existing record close to the draft.

    Attributes:
        record: the record (its id, external id, owner, title, status).
        similarity: cosine similarity of the two texts, in [-1, 1].
    """

    record: RecordText
    similarity: float


def closest(
    draft: NDArray[np.float32],
    records: Sequence[RecordText],
    vectors: NDArray[np.float32],
    *,
    threshold: float,
    limit: int = MAX_SHOWN,
) -> list[Duplicate]:
    """The records whose vectors (rows of ``vectors``, L2-normalised like ``draft``) reach ``threshold``, most
    similar first."""
    if not records:
        return []
    sims = vectors @ draft
    order = np.argsort(-sims, kind="stable")[:limit]
    return [Duplicate(records[i], round(float(sims[i]), 4)) for i in order if sims[i] >= threshold]
