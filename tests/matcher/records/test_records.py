"""Interchange records validate vocabularies, limits and unknown fields with helpful messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from matcher.records.bulk import describe_validation_error
from matcher.records.interchange import NeedRecord, OfferRecord
from tests.factories import need_row, offer_row


def error_of(model: type[OfferRecord] | type[NeedRecord], row: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(row)
    return describe_validation_error(info.value)


def test_valid_rows_are_canonicalised() -> None:
    offer = OfferRecord.model_validate(offer_row(org_type="NGO", languages="en;FR", targets="6;4;6"))
    assert offer.org_type == "ngo" and offer.languages == ["en", "fr"] and offer.targets == [6, 4]
    need = NeedRecord.model_validate(need_row(region=None))
    assert need.region == "Melanesia"


def test_unknown_fields_are_rejected() -> None:
    assert error_of(OfferRecord, offer_row(colour="green")) == "colour: unknown field (not part of the format)"


def test_vocabulary_errors_name_the_field_the_value_and_the_closest_value() -> None:
    message = error_of(OfferRecord, offer_row(regions_served=["Oceana"]))
    assert message == "regions_served[0]: unknown region 'Oceana'; did you mean 'Oceania'?"
    assert "did you mean 'technical_advice'" in error_of(OfferRecord, offer_row(assistance_types=["tech_advice"]))
    assert "targets[0]: unknown target 0" in error_of(OfferRecord, offer_row(targets=[0]))


def test_need_region_must_match_the_party() -> None:
    message = error_of(NeedRecord, need_row(region="Polynesia"))
    assert "region 'Polynesia' does not match party FJI, which is in 'Melanesia'" in message


def test_texts_are_bounded_and_required() -> None:
    assert "at most 20000 characters" in error_of(OfferRecord, offer_row(description="x" * 20_001))
    assert "title: Field required" in error_of(NeedRecord, {k: v for k, v in need_row().items() if k != "title"})
    assert "at least 1 item" in error_of(OfferRecord, offer_row(targets=[]))


def test_an_offer_must_serve_somewhere() -> None:
    assert "an offer must serve somewhere" in error_of(OfferRecord, offer_row(regions_served=[]))
    assert OfferRecord.model_validate(offer_row(regions_served=[], countries_served=["FJI"])).countries_served == [
        "FJI"
    ]
