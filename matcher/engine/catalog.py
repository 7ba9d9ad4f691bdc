"""The in-memory offer catalogue: per-position metadata aligned with the vector index.

Position ``p`` of the catalogue describes the vector at position ``p`` of the index. Single-valued fields are
NumPy columns; small closed vocabularies are bitmasks (targets: 23 bits, assistance types: 9, geographic areas:
Global + regions + sub-regions < 64), so a filter or a structured score over every offer is a handful of
vectorised bit operations; open vocabularies (languages, countries served) are position lists per value.
Tombstoned positions keep their metadata until compaction; the index's live mask excludes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from matcher.engine.texts import keyword_stuffing
from models import vocabularies as vocab
from models.repositories import OfferSnapshot

AREA_BITS: Final = {area: i for i, area in enumerate(vocab.geographic_areas())}
TYPE_BITS: Final = {t: i for i, t in enumerate(vocab.ASSISTANCE_TYPES)}
COST_CODES: Final = {c: i for i, c in enumerate(vocab.COSTS)}
STATUS_CODES: Final = {s: i for i, s in enumerate(vocab.OFFER_STATUSES)}
ORG_TYPE_CODES: Final = {t: i for i, t in enumerate(vocab.ORGANISATION_TYPES)}
NO_EXPIRY: Final = np.iinfo(np.int32).max
UNLIMITED: Final = -1

assert len(AREA_BITS) <= 64, "geographic areas must fit a uint64 bitmask"


def target_bits(targets: Sequence[int]) -> int:
    """Bitmask of KMGBF targets (bit ``t - 1``)."""
    bits = 0
    for t in targets:
        bits |= 1 << (t - 1)
    return bits


def type_bits(types: Sequence[str]) -> int:
    """Bitmask of assistance types."""
    bits = 0
    for t in types:
        bits |= 1 << TYPE_BITS[t]
    return bits


def area_bits(areas: Sequence[str]) -> int:
    """Bitmask of geographic areas (Global, regions, sub-regions)."""
    bits = 0
    for a in areas:
        bits |= 1 << AREA_BITS[a]
    return bits


class OfferCatalog:
    """Columns of offer metadata by index position (see the module docstring)."""

    def __init__(self) -> None:
        self.size = 0
        self._capacity = 0
        self.targets = np.zeros(0, dtype=np.uint32)
        self.types = np.zeros(0, dtype=np.uint16)
        self.areas = np.zeros(0, dtype=np.uint64)
        self.cost = np.zeros(0, dtype=np.uint8)
        self.status = np.zeros(0, dtype=np.uint8)
        self.org_type = np.zeros(0, dtype=np.uint8)
        self.org_id = np.zeros(0, dtype=np.int64)
        self.capacity = np.zeros(0, dtype=np.int32)
        self.expires = np.zeros(0, dtype=np.int32)
        self.n_targets = np.zeros(0, dtype=np.uint8)
        self.n_types = np.zeros(0, dtype=np.uint8)
        self.stuffing = np.zeros(0, dtype=np.float32)
        self.snapshots: list[OfferSnapshot | None] = []
        self._by_language: dict[str, list[int]] = {}
        self._by_country: dict[str, list[int]] = {}
        self._arrays: dict[tuple[str, str], NDArray[np.int64]] = {}

    _COLUMNS: Final = (
        "targets", "types", "areas", "cost", "status", "org_type", "org_id", "capacity", "expires",
        "n_targets", "n_types", "stuffing",
    )  # fmt: skip

    def _grow(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = max(needed, 2 * self._capacity, 1024)
        for name in self._COLUMNS:
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
        self._capacity = capacity

    def column(self, name: str) -> NDArray[Any]:
        """A metadata column, trimmed to the catalogue size (a view, not a copy)."""
        values: NDArray[Any] = getattr(self, name)[: self.size]
        return values

    def is_whole(self, positions: NDArray[np.int64]) -> bool:
        """Whether ``positions`` are every position in order (0..size-1), so columns can be read without a gather.

        The order is checked, not only the count: a top-k may hold every position, best first.
        """
        n = len(positions)
        return n == self.size and (n < 2 or bool(np.all(positions[1:] > positions[:-1])))

    def append(self, positions: NDArray[np.int64], snapshots: Sequence[OfferSnapshot]) -> None:
        """Record the metadata of offers just added to the index at ``positions`` (which must be the next ones)."""
        if len(positions) != len(snapshots):
            raise ValueError("one snapshot per position")
        if len(positions) and int(positions[0]) != self.size:
            raise ValueError(
                f"catalogue out of step with the index: next position {self.size}, got {positions[0]}"
            )
        self._grow(self.size + len(positions))
        for position, s in zip(positions.tolist(), snapshots, strict=True):
            self.targets[position] = target_bits(s.targets)
            self.types[position] = type_bits(s.assistance_types)
            self.areas[position] = area_bits(s.regions_served)
            self.cost[position] = COST_CODES[s.cost]
            self.status[position] = STATUS_CODES[s.status]
            self.org_type[position] = ORG_TYPE_CODES[s.org_type]
            self.org_id[position] = s.organisation_id
            self.capacity[position] = UNLIMITED if s.capacity is None else s.capacity
            self.expires[position] = NO_EXPIRY if s.expires_on is None else s.expires_on.toordinal()
            self.n_targets[position] = len(s.targets)
            self.n_types[position] = len(s.assistance_types)
            self.stuffing[position] = keyword_stuffing(f"{s.title}. {s.description}")
            self.snapshots.append(s)
            for lang in s.languages:
                self._by_language.setdefault(lang, []).append(position)
                self._arrays.pop(("language", lang), None)
            for country in s.countries_served:
                self._by_country.setdefault(country, []).append(position)
                self._arrays.pop(("country", country), None)
            self.size = position + 1

    def compact(self, kept: NDArray[np.int64]) -> None:
        """Keep only the positions ``kept`` (old positions in their new order), as the index just did."""
        for name in self._COLUMNS:
            column = getattr(self, name)[: self.size][kept]
            setattr(self, name, column.copy())
        self.snapshots = [self.snapshots[int(p)] for p in kept]
        self.size = self._capacity = len(kept)
        self._by_language, self._by_country, self._arrays = {}, {}, {}
        for position, s in enumerate(self.snapshots):
            assert s is not None
            for lang in s.languages:
                self._by_language.setdefault(lang, []).append(position)
            for country in s.countries_served:
                self._by_country.setdefault(country, []).append(position)

    def positions_with_language(self, language: str) -> NDArray[np.int64]:
        """Positions of offers that work in ``language``."""
        return self._positions("language", language, self._by_language)

    def positions_serving_country(self, country: str) -> NDArray[np.int64]:
        """Positions of offers that list ``country`` in their countries served."""
        return self._positions("country", country, self._by_country)

    def _positions(self, kind: str, key: str, table: dict[str, list[int]]) -> NDArray[np.int64]:
        cached = self._arrays.get((kind, key))
        if cached is None:
            cached = np.asarray(table.get(key, ()), dtype=np.int64)
            self._arrays[(kind, key)] = cached
        return cached

    def countries_with_offers(self) -> list[str]:
        """Countries that some offer lists explicitly."""
        return list(self._by_country)

    def mask_of(self, positions: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Boolean mask over the catalogue with ``positions`` set."""
        mask = np.zeros(self.size, dtype=bool)
        mask[positions] = True
        return mask

    def expired(self, today: dt.date) -> NDArray[np.bool_]:
        """Offers whose status is expired or whose expiry date has passed."""
        expired: NDArray[np.bool_] = (self.column("status") == STATUS_CODES["expired"]) | (
            self.column("expires") < today.toordinal()
        )
        return expired
