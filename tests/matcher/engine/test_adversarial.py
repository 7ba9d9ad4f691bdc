"""Adversarial offers do not outrank the true match (real model): keyword stuffing, a long catch-all profile,
and a near-duplicate of the true match that does not serve the need's region."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matcher.engine.query import NeedQuery
from models.db import Database
from tests.factories import load_offers, offer, service

NEED = NeedQuery(
    title="Rats are wiping out the seabirds on our outer islets",
    description=(
        "On two uninhabited islets of the Lau group, rats eat the eggs and chicks of nesting seabirds and the "
        "colonies are collapsing. The fisheries department wants to remove the rats for good and stop them "
        "coming back on fishing boats, but has never planned such an operation."
    ),
    targets=(6, 4),
    assistance_types=("technical_advice", "training"),
    language="en",
    party="FJI",
)

TRUE_MATCH = offer(
    1,
    organisation="Pacific Island Restoration Alliance",
    title="Planning rodent eradications and island biosecurity",
    description=(
        "We design and supervise eradications of introduced rodents on small islands, from feasibility study "
        "and bait trials to aerial or hand broadcast, and train local teams in biosecurity so that rodents do "
        "not reinvade. Recent projects restored seabird colonies on islets in Tonga and Vanuatu."
    ),
    targets=[6, 4],
    regions_served=["Melanesia", "Polynesia", "Micronesia"],
    assistance_types=["technical_advice", "training"],
    languages=["en"],
)

BACKGROUND = [
    offer(10, title="Coral reef restoration and nursery training",
          description="Coral gardening courses for reef managers, with nursery design and monitoring protocols.",
          targets=[2, 8], regions_served=["Global"], languages=["en"]),
    offer(11, title="Seabird tracking with GPS loggers",
          description="We fit GPS loggers on seabirds to map their foraging areas at sea for marine planning.",
          targets=[1, 21], regions_served=["Global"], languages=["en"]),
    offer(12, title="Fisheries observer training",
          description="Training fisheries observers to record catch and bycatch on longline vessels.",
          targets=[10], regions_served=["Oceania"], languages=["en"]),
]  # fmt: skip

STUFFED = offer(
    2,
    organisation="Island Solutions Ltd",
    title="Rats seabirds islets rats eradication rats islands seabirds",
    description=(
        "rats seabird islets eggs chicks rats islets seabirds colonies rats rats eradication islets seabirds "
        "rats chicks eggs islets fisheries rats boats rats islets seabirds rats rats eradication rats islets"
    ),
    # Same tags as the true match: only the text can tell them apart (without the stuffing guard it wins on
    # similarity, 0.86 against 0.76).
    targets=[6, 4],
    regions_served=["Melanesia"],
    assistance_types=["technical_advice", "training"],
    languages=["en"],
)

CATCH_ALL = offer(
    3,
    organisation="Everything for Nature Consultancy",
    title="Comprehensive biodiversity services for every need",
    description=" ".join(
        f"We also provide {topic} support, from assessment to implementation, for any government."
        for topic in (
            "spatial planning", "restoration", "protected areas", "species recovery", "wildlife trade",
            "invasive species", "pollution", "climate adaptation", "sustainable use", "agriculture", "fisheries",
            "forestry", "water", "soils", "pollination", "urban nature", "access and benefit-sharing",
            "mainstreaming", "business disclosure", "consumption", "biosafety", "subsidy reform", "finance",
            "capacity building", "data", "indigenous participation", "gender", "islands", "seabirds", "rodents",
        )
    ),
    targets=list(range(1, 24)),
    regions_served=["Global"],
    assistance_types=["technical_advice", "training", "funding", "equipment", "mentoring", "data_sharing"],
    languages=["en", "fr", "es"],
)  # fmt: skip

NEAR_DUPLICATE = {
    **TRUE_MATCH,
    "id": "T004",
    "organisation": "Caribbean Island Restoration Alliance",
    "regions_served": ["Caribbean"],
}


@pytest.mark.parametrize(
    "adversary", [STUFFED, CATCH_ALL, NEAR_DUPLICATE], ids=["keyword-stuffed", "catch-all", "near-duplicate"]
)
def test_adversary_does_not_outrank_the_true_match(
    sqlite_db: Database,
    tmp_path: Path,
    real_embedder,
    adversary,  # type: ignore[no-untyped-def]
) -> None:
    load_offers(sqlite_db, tmp_path, [TRUE_MATCH, adversary, *BACKGROUND])
    ranked = [m.external_id for m in service(sqlite_db, real_embedder).match(NEED, k=10).matches]
    assert ranked.index("T001") < ranked.index(adversary["id"]), ranked
    assert ranked[0] == "T001"


def test_keyword_stuffing_score_flags_keyword_lists_but_no_real_description() -> None:
    from matcher.data import DEMO_OFFERS
    from matcher.engine.texts import keyword_stuffing

    real = [json.loads(line) for line in DEMO_OFFERS.read_text("utf-8").splitlines()]
    assert max(keyword_stuffing(f"{r['title']}. {r['description']}") for r in real) == 0.0
    assert keyword_stuffing(f"{STUFFED['title']}. {STUFFED['description']}") == 1.0
    assert keyword_stuffing("rats " * 5) == 0.0  # too short to judge


def test_stuffed_offer_explains_its_penalty(sqlite_db: Database, tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    load_offers(sqlite_db, tmp_path, [TRUE_MATCH, STUFFED])
    stuffed = next(
        m for m in service(sqlite_db, real_embedder).match(NEED, k=5).matches if m.external_id == "T002"
    )
    assert stuffed.components["penalty"] == pytest.approx(-0.3)
    assert "Ranked lower because the description reads like a list of keywords." in stuffed.explanation.reasons
