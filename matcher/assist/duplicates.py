"""Near-identical records: a draft need against existing needs, a new offer against its organisation's offers.

Similarity is the cosine of the embeddings of title and description, with the default encoders the mean of
MiniLM's and USE-m3's cosines (``embeddings.composite``). The thresholds were measured on hand-made pairs
(``tests/fixtures/assist/duplicate_pairs.json``: the same need written twice, two needs on one topic that ask
for different things, and one need and its translation); docs/assistant.md gives precision and recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from models.repositories import RecordText

# At or above this cosine, two records are shown as possible duplicates. On the hand-made pairs, with MiniLM and
# USE-m3 (the default encoders): the 12 true duplicates score 0.817-0.923, the 16 same-topic-different-need
# pairs 0.18-0.72, the 6 translations 0.37-0.79. The threshold sits midway between the highest same-topic pair
# and the lowest duplicate: precision 13/13, recall 12/12 of the same-language duplicates (13/18 with the
# translations). With MiniLM alone it was 0.80, precision 12/13 (a same-topic pair at 0.83) and no
# translation found. Offers use the same threshold (not measured on offer pairs).
THRESHOLD: Final = 0.77
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
