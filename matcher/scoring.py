"""The ranking signals, each in [0, 1] (the eligibility penalty counts problems), computed with NumPy for any
set of catalogue positions.

| signal     | value                                                                                          |
|------------|------------------------------------------------------------------------------------------------|
| semantic   | cosine of the language-centred embeddings of need and offer (may be negative)                  |
| lexical    | BM25 of the need text against the offer text, divided by the best BM25 among allowed offers    |
| targets    | (2 x recall + precision) / 3 of KMGBF targets: the share of the need's targets the offer works |
|            | on, and the share of the offer's targets that the need asks for (listing all 23 dilutes it)    |
| geography  | 1.0 serves the need's country or sub-region, 0.9 its region, 0.8 only "Global", 0 not at all   |
| language   | 1 when the provider works in the need's language                                               |
| assistance | share of the requested assistance types that the offer provides                                |
| penalty    | number of eligibility problems (paused, expired, no capacity) when these are down-weighted,    |
|            | plus how much the offer reads like a keyword list (0..1, ``matcher.texts.keyword_stuffing``)   |

Signals the need does not inform (no targets, no country...) are 0 for every offer, so they do not reorder.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from matcher.catalog import OfferCatalog, target_bits, type_bits
from matcher.filters import geography_levels
from matcher.query import NeedQuery

SIGNALS: Final = ("semantic", "lexical", "targets", "geography", "language", "assistance", "penalty")
STRUCTURED: Final = ("targets", "geography", "language", "assistance")
GEOGRAPHY_BY_LEVEL: Final = np.array([0.0, 0.8, 0.9, 1.0], dtype=np.float32)

Signals = dict[str, NDArray[np.float32]]


def _popcount(values: NDArray[np.unsignedinteger]) -> NDArray[np.float32]:
    counts: NDArray[np.float32] = np.bitwise_count(values).astype(np.float32)
    return counts


def structured_signals(catalog: OfferCatalog, positions: NDArray[np.int64], need: NeedQuery) -> Signals:
    """Target, geography, language and assistance fit of the offers at ``positions`` for ``need``."""
    n = len(positions)
    zeros = np.zeros(n, dtype=np.float32)
    out: Signals = dict.fromkeys(STRUCTURED, zeros)
    if need.targets:
        shared = _popcount(catalog.column("targets")[positions] & np.uint32(target_bits(need.targets)))
        listed = np.maximum(catalog.column("n_targets")[positions].astype(np.float32), 1.0)
        out["targets"] = ((2.0 * shared / len(set(need.targets)) + shared / listed) / 3.0).astype(np.float32)
    if need.party:
        out["geography"] = GEOGRAPHY_BY_LEVEL[geography_levels(catalog, positions, need.party).astype(np.int64)]
    if need.language:
        out["language"] = np.isin(positions, catalog.positions_with_language(need.language)).astype(np.float32)
    if need.assistance_types:
        shared = _popcount(catalog.column("types")[positions] & np.uint16(type_bits(need.assistance_types)))
        out["assistance"] = (shared / len(set(need.assistance_types))).astype(np.float32)
    return out
