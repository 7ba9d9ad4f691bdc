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
|            | plus how much the offer reads like a keyword list (0..1, ``texts.keyword_stuffing``)           |

Signals the need does not inform (no targets, no country...) are 0 for every offer, so they do not reorder.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from matcher.engine.catalog import OfferCatalog, target_bits, type_bits
from matcher.engine.filters import geography_levels
from matcher.engine.query import NeedQuery

SIGNALS: Final = ("semantic", "lexical", "targets", "geography", "language", "assistance", "penalty")
STRUCTURED: Final = ("targets", "geography", "language", "assistance")
GEOGRAPHY_BY_LEVEL: Final = np.array([0.0, 0.8, 0.9, 1.0], dtype=np.float32)

Signals = dict[str, NDArray[np.float32]]


def _popcount(values: NDArray[np.unsignedinteger]) -> NDArray[np.float32]:
    counts: NDArray[np.float32] = np.bitwise_count(values).astype(np.float32)
    return counts


class SignalCache:
    """Per-position signal values shared by the needs of one batch.

    The geography of every catalogue position is computed once per party, and the language signal once per
    language; :func:`structured_signals` then only gathers them. The values do not follow catalogue changes:
    build one per batch, or keep one while the catalogue is unchanged (``MatchService`` keeps one per offer
    change sequence).
    """

    # Parties kept at most (4 bytes per offer each: 100 MB at 100k offers); beyond, the cache starts again.
    MAX_PARTIES: Final = 256

    def __init__(self, catalog: OfferCatalog) -> None:
        self.catalog = catalog
        self.size = catalog.size  # the catalogue size the values were computed for
        self._geography: dict[str, NDArray[np.float32]] = {}
        self._language: dict[str, NDArray[np.float32]] = {}
        self.listed = np.maximum(catalog.column("n_targets").astype(np.float32), 1.0)  # targets listed, at least 1

    def geography(self, party: str) -> NDArray[np.float32]:
        """The geography signal of every catalogue position for a need of ``party``."""
        values = self._geography.get(party)
        if values is None:
            everything = np.arange(self.catalog.size, dtype=np.int64)
            values = GEOGRAPHY_BY_LEVEL[geography_levels(self.catalog, everything, party).astype(np.int64)]
            if len(self._geography) >= self.MAX_PARTIES:
                self._geography.clear()
            self._geography[party] = values
        return values

    def language(self, language: str) -> NDArray[np.float32]:
        """The language signal of every catalogue position for a need in ``language``."""
        values = self._language.get(language)
        if values is None:
            values = self.catalog.mask_of(self.catalog.positions_with_language(language)).astype(np.float32)
            self._language[language] = values
        return values


def structured_signals(
    catalog: OfferCatalog, positions: NDArray[np.int64], need: NeedQuery, *, cache: SignalCache | None = None
) -> Signals:
    """Target, geography, language and assistance fit of the offers at ``positions`` for ``need``.

    ``positions`` may come in any order (a top-k's, best first); when they are the whole catalogue in order (as
    allowed positions often are) the columns are read without a gather. The values do not depend on ``cache``.
    """
    n = len(positions)
    every = catalog.is_whole(positions)

    def column(name: str) -> NDArray[Any]:
        values = catalog.column(name)
        return values if every else values[positions]

    zeros = np.zeros(n, dtype=np.float32)
    out: Signals = dict.fromkeys(STRUCTURED, zeros)
    if need.targets:
        shared = _popcount(column("targets") & np.uint32(target_bits(need.targets)))
        if cache is not None:
            listed = cache.listed if every else cache.listed[positions]
        else:
            listed = np.maximum(column("n_targets").astype(np.float32), 1.0)
        out["targets"] = ((2.0 * shared / len(set(need.targets)) + shared / listed) / 3.0).astype(np.float32)
    if need.party:
        if cache is not None:
            geography = cache.geography(need.party)
            out["geography"] = geography if every else geography[positions]
        else:
            out["geography"] = GEOGRAPHY_BY_LEVEL[
                geography_levels(catalog, positions, need.party).astype(np.int64)
            ]
    if need.language:
        if cache is not None:
            language = cache.language(need.language)
            out["language"] = language if every else language[positions]
        else:
            out["language"] = np.isin(positions, catalog.positions_with_language(need.language)).astype(np.float32)
    if need.assistance_types:
        shared = _popcount(column("types") & np.uint16(type_bits(need.assistance_types)))
        out["assistance"] = (shared / len(set(need.assistance_types))).astype(np.float32)
    return out


def pair_signals(
    catalog: OfferCatalog,
    positions: NDArray[np.int64],
    need: NeedQuery,
    *,
    penalties: NDArray[np.float32],
    lexical: NDArray[np.float32] | None = None,
    semantic: NDArray[np.float32] | None = None,
    cache: SignalCache | None = None,
) -> Signals:
    """Every signal of ``need`` paired with the offers at ``positions``: what :mod:`matcher.engine.fusion` scores.

    The forward ranking and the reverse searches assemble a pair's signals here, so that they score a pair alike.

    Args:
        catalog: the offer catalogue.
        positions: catalogue positions (any order).
        need: the need.
        penalties: down-weighted eligibility problems per position; each offer's keyword stuffing is added.
        lexical: the lexical signal per position (``None``: 0, as in the reverse searches, which leave BM25 out).
        semantic: the similarity per position (``None``: left out, for ``fusion.rest_of``).
        cache: shared per-party and per-language values (see :class:`SignalCache`).
    """
    signals = structured_signals(catalog, positions, need, cache=cache)
    stuffing = catalog.column("stuffing")
    signals["penalty"] = penalties + (stuffing if catalog.is_whole(positions) else stuffing[positions])
    signals["lexical"] = lexical if lexical is not None else np.zeros(len(positions), dtype=np.float32)
    if semantic is not None:
        signals["semantic"] = semantic
    return signals
