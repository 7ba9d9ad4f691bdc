"""The missing-information check: each rule fires when its answer is absent and stays quiet when present."""

from __future__ import annotations

from matcher.assist.missing import Gap, missing
from matcher.assist.places import places_in

COMPLETE = (
    "Rats reached two islets of the northern atoll of Belize in 2023 and kill about 300 tern chicks a year. "
    "We already tried snap traps on one islet, which did not work. We need an eradication plan by March 2027 "
    "and training for 12 island wardens, in English and Spanish, so that the islets stay free of rats."
)
UNLIKELY = {str(t): 0.01 for t in range(1, 24)}
NO_TYPES = {"training": 0.01, "technical_advice": 0.01}


def fields(text: str, **kwargs: object) -> list[str]:
    args: dict[str, object] = dict(
        places=places_in(text),
        party=None,
        targets=(6,),
        assistance_types=("technical_advice",),
        target_probabilities={**UNLIKELY, "6": 0.9},
        type_probabilities=NO_TYPES,
    )
    args.update(kwargs)
    return [g.field for g in missing(text, **args)]  # type: ignore[arg-type]


def test_a_complete_need_misses_nothing() -> None:
    assert fields(COMPLETE, assistance_types=("training",)) == []


def test_a_vague_need_misses_everything() -> None:
    got = fields("We need help with rats on our islands.", assistance_types=("training",))
    assert got == ["detail", "where", "scale", "tried", "when", "trainees", "language"]


def test_training_read_by_the_model_asks_who_would_be_trained() -> None:
    text = "Rats on our islands. We would like a course on eradication."
    assert "trainees" in fields(text, type_probabilities={"training": 0.8})
    assert "trainees" not in fields(text, type_probabilities={"training": 0.2})


def test_targets_unlike_the_text_are_questioned() -> None:
    probabilities = {**UNLIKELY, "6": 0.9, "4": 0.6}
    gaps = missing(
        COMPLETE,
        places=places_in(COMPLETE),
        party="BLZ",
        targets=(19,),
        assistance_types=("technical_advice",),
        target_probabilities=probabilities,
        type_probabilities=NO_TYPES,
    )
    assert Gap("targets", "check_targets", {"chosen": [19], "suggested": [4, 6]}) in gaps


def test_no_targets_chosen_suggests_the_likely_ones() -> None:
    gaps = missing(
        COMPLETE,
        places=places_in(COMPLETE),
        party=None,
        targets=(),
        assistance_types=(),
        target_probabilities={**UNLIKELY, "6": 0.9},
        type_probabilities={"technical_advice": 0.7, "training": 0.1},
    )
    assert Gap("targets", "choose_targets", {"suggested": [6]}) in gaps
    assert Gap("assistance_types", "choose_types", {"suggested": ["technical_advice"]}) in gaps


def test_french_and_spanish_answers_count() -> None:
    fr = (
        "Au Sénégal, nous avons déjà essayé de restaurer 200 hectares de mangroves. Nous voulons former 15 agents "
        "d'ici décembre 2026, en français, pour planter et suivre les sites avec les communautés des villages "
        "côtiers, qui pêchent et récoltent du bois dans ces forêts depuis toujours."
    )
    es = (
        "En Perú ya hemos restaurado 50 hectáreas de páramo. Queremos capacitar a 20 técnicos antes de marzo de "
        "2027, en español, para que sigan la restauración con las comunidades campesinas de la zona, que usan "
        "estos pastos y el agua de los humedales desde hace generaciones."
    )
    assert fields(fr, assistance_types=("training",)) == []
    assert fields(es, assistance_types=("training",)) == []
