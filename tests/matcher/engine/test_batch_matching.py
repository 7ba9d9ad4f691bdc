"""Batch matching is per-need matching: ``match_batch`` over many needs gives, for every need, exactly what
``match`` gives it alone (offers, order, scores, components, explanations, filter outcome).

The batch path shares filters, BM25 and vector retrieval between needs (``Ranker.rank_batch``); these tests
compare it with needs ranked one by one on a generated catalogue (several organisations that also post needs,
duplicate offers, ineligible offers, filters, both index kinds, shallow retrieval) and on the demo corpus.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from embeddings import FakeEmbedder
from matcher.engine import ranking
from matcher.engine.filters import apply_filters, apply_filters_batch, filter_masks
from matcher.engine.fusion import Weights
from matcher.engine.lexical import LexicalIndex
from matcher.engine.query import MatchFilters, NeedQuery
from matcher.engine.service import MatchResult, MatchService, need_from_stored
from matcher.records.seed import seed_demo
from matcher.settings import RankingSettings
from models import migrate
from models.db import Database, sqlite_url
from models.orm import Need
from tests.factories import load_offers, offer

WORDS = [
    "rats", "reefs", "mangroves", "seeds", "data", "permits", "bees", "soils", "fish", "forests", "wetlands",
    "herbarium", "corals", "drones", "monitoring", "restoration", "training", "eradication", "biosecurity",
    "pollinators", "grasslands", "peat",
]  # fmt: skip
REGIONS = ["Global", "Oceania", "Africa", "Melanesia", "Europe", "Caribbean", "South America"]
# Organisations that publish offers; the first ones publish many (their needs drop many of their own offers).
PROVIDERS = [f"Provider {i}" for i in range(12)]
TODAY = dt.date(2026, 1, 15)


def _catalogue(db: Database, tmp_path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        if i % 50 == 49:  # an exact duplicate of the previous offer (ties broken by the lower id)
            rows.append({**rows[-1], "id": f"T{i:05d}"})
            continue
        organisation = PROVIDERS[min(int(rng.expovariate(0.4)), len(PROVIDERS) - 1)]
        rows.append(
            offer(
                i,
                id=f"T{i:05d}",
                organisation=organisation,
                title=" ".join(rng.sample(WORDS, 3)).capitalize(),
                description=". ".join(" ".join(rng.choices(WORDS, k=8)).capitalize() for _ in range(3)) + ".",
                targets=rng.sample(range(1, 24), rng.randint(1, 4)),
                regions_served=rng.sample(REGIONS, rng.randint(1, 2)),
                countries_served=rng.sample(["FJI", "KEN", "FRA", "JAM", "BRA"], rng.randint(0, 1)),
                languages=rng.sample(["en", "fr", "es"], rng.randint(1, 2)),
                assistance_types=rng.sample(["training", "technical_advice", "funding", "equipment"], 2),
                status=rng.choices(["active", "paused", "expired"], [20, 1, 1])[0],
                capacity=rng.choice([None, None, None, 0, 3]),
            )
        )
    load_offers(db, tmp_path, rows)


def _needs(service: MatchService, n: int, seed: int) -> list[NeedQuery]:
    """Needs of no organisation, of providers (big and small) and of an organisation without offers."""
    rng = random.Random(seed)
    by_name = {s.organisation: s.organisation_id for s in service.catalog.snapshots if s is not None}
    organisations = [None, by_name[PROVIDERS[0]], by_name[PROVIDERS[1]], by_name[PROVIDERS[-1]], 10_000]
    return [
        NeedQuery(
            title=" ".join(rng.sample(WORDS, 2)),
            description=" ".join(rng.choices(WORDS, k=rng.randint(3, 14))),
            targets=tuple(rng.sample(range(1, 24), rng.randint(0, 3))),
            assistance_types=tuple(rng.sample(["training", "funding", "equipment"], rng.randint(0, 2))),
            language=rng.choice([None, "en", "fr", "es"]),
            party=rng.choice([None, "FJI", "KEN", "FRA", "JAM", "BRA"]),
            organisation_id=rng.choice(organisations),
        )
        for _ in range(n)
    ]


def _one_by_one(service: MatchService, needs: Sequence[NeedQuery], **options: object) -> list[MatchResult]:
    return [service.match_batch([need], **options)[0] for need in needs]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A catalogue of 3,000 offers from a dozen organisations."""
    tmp_path = tmp_path_factory.mktemp("batch")
    db = Database(sqlite_url(tmp_path / "batch.db"))
    migrate.upgrade(db)
    _catalogue(db, tmp_path, 3_000, seed=7)
    yield db
    db.dispose()


def _service(db: Database, kind: str, **ranking_settings: object) -> MatchService:
    # 384 dimensions: a batch of 400 needs reaches FAISS's BLAS path when every offer is allowed (no filter,
    # nothing excluded); its scores, like ExactIndex's matrix products, differ from single-query ones in the
    # last bits.
    service = MatchService(
        db,
        FakeEmbedder(dim=384),
        ranking=RankingSettings(**ranking_settings),
        index_kind=kind,
    )
    service.start()
    return service


@pytest.mark.parametrize("kind", ["flat", "exact"])
@pytest.mark.parametrize(
    ("filters", "settings"),
    [
        (None, {}),
        (None, {"candidates": 10, "feedback_depth": 0}),
        (None, {"candidates": 10, "inactive": "downweight", "at_capacity": "downweight"}),
        (MatchFilters(targets=frozenset({2, 6, 14})), {}),
        (MatchFilters(serves=frozenset({"Africa"}), languages=frozenset({"fr"})), {"candidates": 10}),
    ],
)
def test_a_batch_ranks_every_need_as_it_is_ranked_alone(
    generated: Database, kind: str, filters: MatchFilters | None, settings: dict[str, object]
) -> None:
    service = _service(generated, kind, **settings)
    needs = _needs(service, 400, seed=len(settings) + (filters is not None))
    batch = service.match_batch(needs, k=10, filters=filters, today=TODAY)
    alone = _one_by_one(service, needs, k=10, filters=filters, today=TODAY)
    assert batch == alone  # offers, order, scores and components to the bit, explanations, outcomes
    assert sum(len(r.matches) for r in batch) > 300 * 10 * (0.3 if filters else 0.9)
    own = {m.organisation_id for need, result in zip(needs, batch, strict=True) for m in result.matches
           if m.organisation_id == need.organisation_id}  # fmt: skip
    assert not own
    assert any("own_organisation" in r.excluded for r in batch)


@pytest.mark.parametrize(
    "weights", [Weights().only("semantic"), Weights().only("lexical"), Weights().without("lexical")]
)
def test_single_signal_and_ablated_weights_batch_like_single_needs(generated: Database, weights: Weights) -> None:
    service = _service(generated, "flat", candidates=10)
    needs = _needs(service, 60, seed=3)
    batch = service.match_batch(needs, k=7, weights=weights, today=TODAY)
    assert batch == _one_by_one(service, needs, k=7, weights=weights, today=TODAY)


def test_small_groups_and_lexical_blocks_change_nothing(
    generated: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(generated, "flat")
    needs = _needs(service, 50, seed=11)
    whole = service.match_batch(needs, k=10, today=TODAY)
    monkeypatch.setattr(ranking, "_GROUP", 7)
    monkeypatch.setattr(ranking, "_LEXICAL_BLOCK", 3)
    assert service.match_batch(needs, k=10, today=TODAY) == whole


def test_match_is_the_batch_of_one(generated: Database) -> None:
    service = _service(generated, "flat")
    needs = _needs(service, 20, seed=5)
    filters = MatchFilters(targets=frozenset({6}))
    for need, result in zip(needs, service.match_batch(needs, k=5, filters=filters), strict=True):
        assert service.match(need, k=5, filters=filters) == result


@pytest.mark.parametrize("many", [True, False], ids=["many organisations", "a few (counted without sorting)"])
def test_each_organisation_outcome_drops_exactly_its_own_offers(generated: Database, many: bool) -> None:
    service = _service(generated, "flat")
    catalog, live = service.catalog, service.index.live_mask()
    org_ids = catalog.column("org_id")
    owners = sorted(set(org_ids.tolist()))
    organisations = [None, *(owners if many else owners[:3]), 10_000]
    for filters in (MatchFilters(), MatchFilters(serves=frozenset({"Oceania"}))):
        for inactive in ("exclude", "downweight"):
            options = {"inactive": inactive, "at_capacity": "exclude", "today": TODAY}
            outcomes = apply_filters_batch(catalog, live, filters, organisations=organisations, **options)  # type: ignore[arg-type]
            base = outcomes[None]
            passing = live.copy()
            for mask in filter_masks(catalog, filters).values():
                passing &= mask
            for organisation in organisations:
                got = outcomes[organisation]
                mine = org_ids[base.allowed] == organisation
                np.testing.assert_array_equal(got.allowed, base.allowed[~mine])
                np.testing.assert_array_equal(got.penalties, base.penalties[~mine])
                own = int((passing & (org_ids == organisation)).sum())
                assert got.excluded == ({"own_organisation": own} if own else {}) | base.excluded
                assert list(got.excluded)[:1] == (["own_organisation"] if own else list(base.excluded)[:1])
                one = apply_filters(catalog, live, filters, own_organisation=organisation, **options)  # type: ignore[arg-type]
                np.testing.assert_array_equal(one.allowed, got.allowed)
                assert one.excluded == got.excluded


def test_batched_bm25_is_bm25() -> None:
    lexical = LexicalIndex()
    lexical.append(["rats eat seabird chicks", "coral reef restoration", "rats rats rats on islands", "nothing"])
    queries = ["rats on islands rats", "coral reefs", "zzz unknown", ""]
    batch = lexical.scores_batch(queries)
    for row, query in enumerate(queries):
        np.testing.assert_allclose(batch[row], lexical.scores(query), rtol=1e-6)
    subset = lexical.scores_batch(queries[:1], positions=np.asarray([2, 0]))
    np.testing.assert_array_equal(subset[0], batch[0][[2, 0]])  # the same sums, to the bit


_BM25_BYTES = """
import hashlib, random
from matcher.engine.lexical import LexicalIndex
rng = random.Random(0)
words = [f"w{i}x" for i in range(300)]
lexical = LexicalIndex()
lexical.append([" ".join(rng.choices(words, k=40)) for _ in range(500)])
scores = lexical.scores_batch([" ".join(rng.choices(words, k=30)) for _ in range(20)])
print(hashlib.sha256(scores.tobytes()).hexdigest())
"""


def test_batched_bm25_is_the_same_in_every_process() -> None:
    """String hashing changes bm25s's term numbering per process; the scores must not change with it (a job
    worker and its Dask workers store the same suggestions)."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", _BM25_BYTES],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(sqlite_url(tmp_path_factory.mktemp("demo") / "demo.db"))
    migrate.upgrade(db)
    seed_demo(db)
    yield db
    db.dispose()


@pytest.mark.parametrize("filters", [None, MatchFilters(serves=frozenset({"Africa"}))])
def test_demo_corpus_batch_equals_needs_one_by_one(demo: Database, filters: MatchFilters | None) -> None:
    service = MatchService(demo, FakeEmbedder(dim=384))
    service.start()
    with demo.transaction(read_only=True) as session:
        stored = [need_from_stored(n) for n in session.scalars(select(Need).order_by(Need.id))]
    # The demo needs again, posted by the providers of the first offers (which then drop their own offers).
    providers = [s.organisation_id for s in service.catalog.snapshots[:40] if s is not None]
    needs = [*stored, *(replace(n, organisation_id=o) for n, o in zip(stored, providers, strict=False))]
    batch = service.match_batch(needs, k=10, filters=filters)
    assert batch == _one_by_one(service, needs, k=10, filters=filters)
    assert len(stored) >= 30
    assert all(r.matches for r in batch)
    assert sum("own_organisation" in r.excluded for r in batch) >= 10
