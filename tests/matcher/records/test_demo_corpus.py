"""The bundled demo corpus is valid, broad and our own."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from matcher.data import CENTRING_TEXTS, DEMO_DIR, DEMO_NEEDS, DEMO_OFFERS
from matcher.records.interchange import NeedRecord, OfferRecord
from matcher.records.seed import seed_demo
from models import vocabularies as vocab
from models.db import Database
from models.repositories import NeedRepository, OfferRepository


def load() -> tuple[list[OfferRecord], list[NeedRecord]]:
    offers = [OfferRecord.model_validate_json(line) for line in DEMO_OFFERS.read_text("utf-8").splitlines()]
    needs = [NeedRecord.model_validate_json(line) for line in DEMO_NEEDS.read_text("utf-8").splitlines()]
    return offers, needs


def test_corpus_size_and_coverage() -> None:
    offers, needs = load()
    assert len(offers) >= 150
    assert len(needs) >= 30
    assert {t for r in (*offers, *needs) for t in r.targets} == set(range(1, 24))
    need_regions = {vocab.countries()[n.party].region for n in needs}
    assert need_regions == {"Africa", "Americas", "Asia", "Europe", "Oceania"}
    assert {n.language for n in needs} == {"en", "fr", "es", "ar", "zh", "ru"}
    served = {vocab.sub_regions().get(a, a) for o in offers for a in o.regions_served}
    assert {"Global", "Africa", "Americas", "Asia", "Europe", "Oceania"} <= served
    assert len({o.id for o in offers}) == len(offers)


UN_LANGUAGES = {"ar", "zh", "en", "fr", "ru", "es"}


def test_every_un_language_has_needs_and_offers_written_in_it_and_detected_as_such() -> None:
    """The six UN languages are in the corpus, and detection reads each text as the language it is written in."""
    from matcher.engine.texts import detect_language

    offers, needs = load()
    for need in needs:
        assert detect_language(f"{need.title} {need.description}") == need.language, need.id
    offer_languages = {o.id: detect_language(f"{o.title} {o.description}") for o in offers}
    for language in UN_LANGUAGES:
        written = [i for i, lang in offer_languages.items() if lang == language]
        assert len(written) >= 3, (language, written)
        assert sum(n.language == language for n in needs) >= 2, language
    # An offer written in a language is offered in it.
    assert all(
        offer_languages[o.id] in o.languages for o in offers if offer_languages[o.id] in UN_LANGUAGES - {"en"}
    )


def test_demo_judgements_point_at_existing_records() -> None:
    offers, needs = load()
    with (DEMO_DIR / "qrels.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert rows
    assert {r["offer_id"] for r in rows} <= {o.id for o in offers}
    assert {r["need_id"] for r in rows} == {n.id for n in needs}
    assert {r["grade"] for r in rows} <= {"1", "2", "3"}


def _five_grams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 5]) for i in range(len(words) - 4)}


def test_corpus_is_not_copied_from_the_dev_gold_set(shared_dev: Path) -> None:
    ours: set[tuple[str, ...]] = set()
    offers, needs = load()
    for record in (*offers, *needs):
        ours |= _five_grams(f"{record.title} {record.description}")
    theirs: set[tuple[str, ...]] = set()
    for name in ("offers.jsonl", "needs.jsonl"):
        for line in (shared_dev / name).read_text("utf-8").splitlines():
            row = json.loads(line)
            theirs |= _five_grams(f"{row['title']} {row['description']}")
    shared = ours & theirs
    # Only terms of art may coincide ("free prior and informed consent", "case by case risk assessment"...):
    # a copied paragraph would share dozens of 5-grams at once.
    assert len(shared) / len(ours) < 0.002, sorted(shared)


def test_centring_texts_are_one_set_of_records_in_each_un_language() -> None:
    """The centroids' reference texts are parallel: the same ids and targets in every UN language, each text
    detected as the language it is labelled with, and drawn from the demo corpus's own English records (so
    it is ours, not the gold sets')."""
    from matcher.engine.texts import detect_language

    rows = [json.loads(line) for line in CENTRING_TEXTS.read_text("utf-8").splitlines()]
    by_language: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        assert set(row) == {"id", "language", "title", "description", "targets"}, row
        detected = detect_language(f"{row['title']} {row['description']}")
        assert detected == row["language"], (row["id"], row["language"], detected)
        by_language.setdefault(str(row["language"]), []).append(row)
    assert set(by_language) == UN_LANGUAGES
    english = [(r["id"], r["targets"]) for r in by_language["en"]]
    assert len(english) >= 20
    for written in by_language.values():
        assert [(r["id"], r["targets"]) for r in written] == english
        assert len({r["description"] for r in written}) == len(written)
    offers, needs = load()
    originals = {r.id: r for r in (*offers, *needs)}
    for row in by_language["en"]:
        original = originals[str(row["id"])]
        assert (row["title"], row["description"], row["targets"]) == (
            original.title,
            original.description,
            original.targets,
        )


def test_seeding_loads_everything_once(sqlite_db: Database) -> None:
    offers, needs = load()
    first = seed_demo(sqlite_db)
    assert [r.created for r in first] == [len(offers), len(needs)]
    second = seed_demo(sqlite_db)
    assert [r.unchanged for r in second] == [len(offers), len(needs)]
    with sqlite_db.transaction(read_only=True) as session:
        assert OfferRepository(session).count() == len(offers)
        assert NeedRepository(session).count() == len(needs)
