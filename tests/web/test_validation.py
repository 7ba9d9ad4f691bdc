"""What was wrong with a page's input, in the reader's language: vocabulary errors name what was meant by its
labels in that language, validation errors say what to do, and fields are named as the pages label them."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

from api.deps import vocabulary
from api.web.validation import FieldProblem, field_problems
from matcher.errors import InvalidInputError
from matcher.records.interchange import Areas, Title
from models import vocabularies as vocab


def raised(call) -> Exception:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as info:  # noqa: PT011 - any error the call raises is the subject
        call()
    return info.value


def test_an_unknown_filter_value_names_the_values_meant_in_french() -> None:
    exc = raised(lambda: vocabulary(["Afrique de l'Oeust"], vocab.parse_area, "region"))
    assert isinstance(exc, InvalidInputError)
    [problem] = field_problems(exc, "fr")
    assert problem.field == "region" and problem.label == "Région"
    assert problem.message.startswith("« Afrique de l'Oeust » n'est pas une valeur connue. Vouliez-vous dire ")
    assert "Afrique de l'Ouest" in problem.message and "Western Africa" not in problem.message


def test_an_unknown_country_in_spanish_and_a_target_in_french() -> None:
    [country] = field_problems(raised(lambda: vocab.parse_country("Senegall")), "es")
    assert country.label == "País" and "¿Quiso decir Senegal" in country.message
    [target] = field_problems(raised(lambda: vocab.parse_target("Especes exotiques envahisantes")), "fr")
    assert target.label == "Cible du CMBKM"
    assert "6. Espèces exotiques envahissantes" in target.message


def test_an_ambiguous_label_names_every_candidate_in_the_readers_language() -> None:
    exc = vocab.AmbiguousTermError(
        "region",
        "afrique",
        ["Eastern Africa", "Western Africa"],
        kind="region",
        codes=["Eastern Africa", "Western Africa"],
    )
    [problem] = field_problems(exc, "es")
    assert problem.message == "«afrique» puede referirse a África Oriental o África Occidental: elija uno."


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    regions_served: Areas


def test_a_forms_validation_errors_are_translated_field_by_field() -> None:
    exc = raised(lambda: Form.model_validate({"title": "ab", "regions_served": ["Oceana"]}))
    assert isinstance(exc, ValidationError)
    problems = {p.field: p for p in field_problems(exc, "fr")}
    assert problems["regions_served"] == FieldProblem(
        "regions_served", "Région", "« Oceana » n'est pas une valeur connue. Vouliez-vous dire Océanie ?"
    )
    assert problems["title"].message.startswith("Écrivez au moins")
    missing = field_problems(raised(lambda: Form.model_validate({"regions_served": []})), "es")
    assert FieldProblem("title", "title", "Este campo es obligatorio.") in missing


def test_a_request_validation_error_names_the_query_parameter() -> None:
    exc = RequestValidationError([{"type": "int_parsing", "loc": ("query", "page"), "msg": "x", "input": "zero"}])
    assert field_problems(exc, "fr") == [FieldProblem("page", "Page", "Saisissez un nombre entier.")]
    assert field_problems(exc, "en") == [FieldProblem("page", "Page", "Enter a whole number.")]
