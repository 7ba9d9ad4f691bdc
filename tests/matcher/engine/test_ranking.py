"""Ranking through MatchService with the fake embedder: components, explanations, eligibility, filters,
and exactness of the certified top-k against brute force."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from embeddings import FakeEmbedder
from embeddings.composite import CompositeEmbedder
from matcher.engine.fusion import Weights
from matcher.engine.query import MatchFilters, NeedQuery
from models.db import Database
from models.repositories import OfferRepository, OrganisationRepository
from tests.factories import load_offers, offer, service

RATS = NeedQuery(
    title="Rats on our seabird islets",
    description="Rats eat seabird chicks on two islets; we need rodent eradication and island biosecurity.",
    targets=(6, 4),
    assistance_types=("technical_advice",),
    language="en",
    party="FJI",
)


def catalogue(db: Database, tmp_path: Path) -> None:
    load_offers(
        db,
        tmp_path,
        [
            offer(1, title="Rodent eradication and island biosecurity", targets=[6], regions_served=["Melanesia"],
                  languages=["en"]),
            offer(2, title="Rodent eradication and island biosecurity", targets=[6], regions_served=["Europe"],
                  languages=["en"]),
            offer(3, title="Coral reef restoration training", description="Coral gardening courses for reefs.",
                  targets=[2, 8], regions_served=["Global"], assistance_types=["training"], languages=["en"]),
            offer(4, title="Island biosecurity dogs", targets=[6], regions_served=["Oceania"], languages=["fr"]),
            offer(5, title="Rodent eradication planning", targets=[6], regions_served=["Global"], status="paused",
                  languages=["en"]),
        ],
    )  # fmt: skip


def test_components_add_up_and_explanations_name_targets_and_geography(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    result = service(db).match(RATS, k=10)
    assert result.matches
    for m in result.matches:
        assert sum(m.components.values()) == pytest.approx(m.score, abs=1e-5)
        assert set(m.components) == {
            "semantic",
            "lexical",
            "targets",
            "geography",
            "language",
            "assistance",
            "penalty",
        }
        text = m.explanation.text()
        assert "KMGBF target" in text
        assert any(r.startswith(("Serves", "Does not list")) for r in m.explanation.reasons)
        assert m.explanation.evidence
    top = result.matches[0]
    assert top.external_id == "T001"
    assert "6 (Invasive alien species)" in top.explanation.reasons[0]
    assert "Serves Melanesia, Fiji's sub-region." in top.explanation.reasons
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)


def test_a_top_k_of_the_whole_catalogue_gives_each_offer_its_own_signals(db: Database, tmp_path: Path) -> None:
    """With every offer allowed and k at least the catalogue size, the ranked positions are the whole catalogue,
    best first: they were taken for the catalogue in order, and offers were scored with each other's signals."""
    catalogue(db, tmp_path)
    svc = service(db, inactive="downweight")  # the paused offer is allowed too: all five positions
    everything = svc.match(RATS, k=10).matches
    assert len(everything) == svc.catalog.size == 5
    fewer = svc.match(RATS, k=4).matches
    assert [(m.offer_id, m.score, m.components) for m in everything[:4]] == [
        (m.offer_id, m.score, m.components) for m in fewer
    ]
    reefs = next(m for m in everything if m.external_id == "T003")
    assert reefs.components["targets"] == 0  # targets 2 and 8; the need asks for 4 and 6
    assert all(m.components["targets"] > 0 for m in everything if m.external_id != "T003")
    scores = [m.score for m in everything]
    assert scores == sorted(scores, reverse=True)


def test_the_same_offer_not_serving_the_region_ranks_below(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    ids = [m.external_id for m in service(db).match(RATS, k=10).matches]
    assert ids.index("T001") < ids.index("T002")
    europe = next(m for m in service(db).match(RATS, k=10).matches if m.external_id == "T002")
    assert europe.components["geography"] == 0
    assert "Does not list Fiji or its region (serves Europe)." in europe.explanation.reasons


def test_paused_offers_are_excluded_with_a_reason_or_downweighted(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    result = service(db).match(RATS, k=10)
    assert "T005" not in [m.external_id for m in result.matches]
    assert result.excluded == {"paused": 1}
    lenient = service(db, inactive="downweight").match(RATS, k=10)
    paused = next(m for m in lenient.matches if m.external_id == "T005")
    assert paused.components["penalty"] == pytest.approx(-0.3)
    assert "Ranked lower because the offer is paused." in paused.explanation.reasons


def test_an_organisation_is_never_suggested_for_its_own_need(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    with db.transaction(read_only=True) as session:
        own = OrganisationRepository(session).find("Provider 1", "NZL")
        assert own is not None
    result = service(db).match(replace(RATS, organisation_id=own.id), k=10)
    assert "T001" not in [m.external_id for m in result.matches]
    assert result.excluded["own_organisation"] == 1


def test_filters_are_hard_and_an_empty_result_says_what_to_relax(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    svc = service(db)
    only_fr = svc.match(RATS, k=10, filters=MatchFilters(languages=frozenset({"fr"})))
    assert [m.external_id for m in only_fr.matches] == ["T004"]
    empty = svc.match(RATS, k=10, filters=MatchFilters(languages=frozenset({"fr"}), targets=frozenset({2})))
    assert empty.matches == []
    assert empty.empty_reason is not None
    assert "without the targets filter 1 offers qualify" in empty.empty_reason
    assert "without the languages filter 1 offers qualify" in empty.empty_reason
    region = svc.match(RATS, k=10, filters=MatchFilters(serves=frozenset({"Melanesia"})))
    assert {m.external_id for m in region.matches} == {"T001", "T003", "T004"}


def test_offers_at_capacity_and_expired_offers_are_excluded(db: Database, tmp_path: Path) -> None:
    load_offers(
        db,
        tmp_path,
        [
            offer(1, capacity=0),
            offer(2, expires_on="2020-01-01"),
            offer(3),
        ],
    )
    result = service(db).match(RATS, k=10)
    assert [m.external_id for m in result.matches] == ["T003"]
    assert result.excluded == {"at_capacity": 1, "expired": 1}


def _random_catalogue(db: Database, tmp_path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    words = [
        "rats",
        "reefs",
        "mangroves",
        "seeds",
        "data",
        "permits",
        "bees",
        "soils",
        "fish",
        "forests",
        "wetlands",
        "herbarium",
    ]
    rows = []
    for i in range(n):
        rows.append(
            offer(
                i,
                title=" ".join(rng.sample(words, 3)).capitalize(),
                description=" ".join(rng.choices(words, k=12)) + ".",
                targets=rng.sample(range(1, 24), rng.randint(1, 4)),
                regions_served=rng.sample(["Global", "Oceania", "Africa", "Melanesia", "Europe", "Caribbean"], 1),
                languages=rng.sample(["en", "fr", "es"], rng.randint(1, 2)),
                assistance_types=rng.sample(["training", "technical_advice", "funding", "equipment"], 2),
            )
        )
    load_offers(db, tmp_path, rows)


@pytest.mark.parametrize("fused", [False, True], ids=["one-encoder", "two-encoders"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_certified_top_k_equals_brute_force_scoring(
    sqlite_db: Database, tmp_path: Path, seed: int, fused: bool
) -> None:
    """Retrieval depth far below the catalogue size still gives the exact top-k of the fused score, also when
    the semantic similarity fuses two encoders with language-aware weights."""
    _random_catalogue(sqlite_db, tmp_path, 300, seed)
    embedder = CompositeEmbedder([FakeEmbedder(dim=64), FakeEmbedder(dim=48)]) if fused else None
    shallow = service(sqlite_db, embedder, candidates=10, feedback_depth=0)
    deep = service(sqlite_db, embedder, candidates=100_000, feedback_depth=0)
    rng = random.Random(seed)
    for _ in range(5):
        need = NeedQuery(
            title="",
            description=" ".join(rng.choices(["rats", "reefs", "seeds", "bees", "fish", "permits"], k=6)),
            targets=tuple(rng.sample(range(1, 24), 2)),
            assistance_types=("training",),
            language=rng.choice(["en", "fr"]),
            party=rng.choice(["FJI", "KEN", "FRA", "JAM"]),
        )
        filters = rng.choice(
            [None, MatchFilters(targets=frozenset(need.targets)), MatchFilters(serves=frozenset({"Africa"}))]
        )
        a = shallow.match(need, k=10, filters=filters)
        b = deep.match(need, k=10, filters=filters)
        assert [m.offer_id for m in a.matches] == [m.offer_id for m in b.matches]
        np.testing.assert_allclose([m.score for m in a.matches], [m.score for m in b.matches], atol=1e-5)


def test_single_signal_weights_give_single_signal_rankings(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    svc = service(db)
    lexical = svc.match(RATS, k=10, weights=Weights().only("lexical"))
    for m in lexical.matches:
        assert m.score == pytest.approx(m.components["lexical"])


def test_index_follows_database_changes(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    svc = service(db)
    assert svc.match(RATS, k=10).matches[0].external_id == "T001"
    with db.transaction() as session:
        repo = OfferRepository(session)
        first = repo.get_by_external_id("T001")
        assert first is not None
        first.status = "paused"
        fourth = repo.get_by_external_id("T004")
        assert fourth is not None
        fourth.regions_served = ["Melanesia"]
        fourth.languages = ["en", "fr"]
        session.delete(repo.get_by_external_id("T002"))
    ids = [m.external_id for m in svc.match(RATS, k=10).matches]
    assert "T001" not in ids and "T002" not in ids
    assert ids[0] == "T004"
    assert svc.seq > 0


def test_saved_index_is_reused_and_caught_up(db: Database, tmp_path: Path) -> None:
    catalogue(db, tmp_path)
    path = tmp_path / "index" / "offers.npz"
    first = service(db, index_path=path)
    assert path.exists()
    embedded = first.store.embedded
    newcomer = offer(9, title="Rodent eradication on Fijian islets", regions_served=["Melanesia"])
    load_offers(db, tmp_path, [newcomer], name="more.jsonl")
    with db.transaction() as session:
        session.delete(OfferRepository(session).get_by_external_id("T001"))
    second = service(db, index_path=path)
    assert second.store.embedded == 1  # only the new offer's text was embedded
    assert embedded > 1
    ids = [m.external_id for m in second.match(RATS, k=10).matches]
    assert "T009" in ids and "T001" not in ids
    assert len(second.index) == 5  # 5 offers, one deleted, one added


def test_a_different_model_rebuilds_the_index(db: Database, tmp_path: Path) -> None:
    from embeddings import FakeEmbedder

    catalogue(db, tmp_path)
    path = tmp_path / "offers.npz"
    service(db, FakeEmbedder(dim=64), index_path=path)
    other = service(db, FakeEmbedder(dim=32), index_path=path)
    assert other.index.dim == 32 and len(other.index) == 5
    assert other.match(RATS, k=3).matches


def test_unknown_need_id_is_a_clear_error(sqlite_db: Database) -> None:
    from matcher.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no need with id 42"):
        service(sqlite_db).stored_need(42)
