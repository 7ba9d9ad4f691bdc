"""Interchange records: needs and offers in the gold-set format (``needs.jsonl`` / ``offers.jsonl``).

These are the input models of bulk import, ``pollinate seed`` and ``pollinate match --need``: they reject
unknown fields, bound every text, and turn every vocabulary value into its canonical spelling (or fail with a
message naming the field, the value and the closest valid values). Export writes the same shape back.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from models import vocabularies as vocab
from models.orm import EXTERNAL_ID_LEN, NAME_LEN, TITLE_LEN, URL_LEN

DESCRIPTION_MAX = 20_000
MAX_TAGS = 30


def _split_list(value: Any) -> Any:
    """CSV cells hold lists as ``"3;21"`` (or a JSON array); JSONL holds real arrays."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.replace("|", ";").split(";") if part.strip()]
    return value


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=EXTERNAL_ID_LEN, pattern=r"^[\w.:\-]+$"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=NAME_LEN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=TITLE_LEN)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=DESCRIPTION_MAX)]
Website = Annotated[str, StringConstraints(strip_whitespace=True, max_length=URL_LEN, pattern=r"^https?://\S+$")]

TargetNumber = Annotated[int, BeforeValidator(lambda v: vocab.parse_target(v, field="target"))]
AssistanceType = Annotated[str, BeforeValidator(lambda v: vocab.parse_assistance_type(v))]
OrganisationType = Annotated[str, BeforeValidator(lambda v: vocab.parse_organisation_type(v))]
CountryCode = Annotated[str, BeforeValidator(lambda v: vocab.parse_country(v))]
LanguageCode = Annotated[str, BeforeValidator(lambda v: vocab.parse_language(v))]
Area = Annotated[str, BeforeValidator(lambda v: vocab.parse_area(v))]
Cost = Annotated[str, BeforeValidator(lambda v: vocab.parse_cost(v))]


_ListIn = BeforeValidator(_split_list)
_Dedup = AfterValidator(_unique)
Targets = Annotated[list[TargetNumber], _ListIn, _Dedup, Field(min_length=1, max_length=MAX_TAGS)]
AssistanceTypes = Annotated[list[AssistanceType], _ListIn, _Dedup, Field(min_length=1, max_length=MAX_TAGS)]
Languages = Annotated[list[LanguageCode], _ListIn, _Dedup, Field(min_length=1, max_length=MAX_TAGS)]
Areas = Annotated[list[Area], _ListIn, _Dedup, Field(max_length=MAX_TAGS)]
# Up to every country: an offer may list a long explicit country list instead of regions.
Countries = Annotated[list[CountryCode], _ListIn, _Dedup, Field(max_length=300)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class OfferRecord(_Record):
    """An offer of expertise, as in ``offers.jsonl``; ``capacity``, ``status``, ``expires_on`` and
    ``website`` are optional extensions of the gold-set format."""

    id: ExternalId
    organisation: Name
    org_type: OrganisationType
    country: CountryCode
    regions_served: Areas = Field(default_factory=list)
    countries_served: Countries = Field(default_factory=list)
    title: Title
    description: Description
    targets: Targets
    assistance_types: AssistanceTypes
    languages: Languages
    cost: Cost = "negotiable"
    capacity: int | None = Field(default=None, ge=0, le=100_000)
    status: Literal["active", "paused", "expired"] = "active"
    expires_on: dt.date | None = None
    website: Website | None = None

    @model_validator(mode="after")
    def _serves_somewhere(self) -> OfferRecord:
        if not self.regions_served and not self.countries_served:
            raise ValueError(
                "an offer must serve somewhere: give regions_served (e.g. ['Global'] or ['Eastern Africa']) "
                "or countries_served"
            )
        return self


class NeedRecord(_Record):
    """A Party's need, as in ``needs.jsonl``; ``region`` is optional and, when given, must be the party's
    UN M49 sub-region. ``status`` and ``visibility`` are optional extensions."""

    id: ExternalId
    party: CountryCode
    requesting_organisation: Name
    title: Title
    description: Description
    targets: Targets
    assistance_types: AssistanceTypes
    language: LanguageCode
    region: str | None = Field(default=None, max_length=60)
    status: Literal["open", "under_review", "matched", "closed", "withdrawn"] = "open"
    visibility: Literal["public", "confidential"] = "public"

    @model_validator(mode="after")
    def _region_matches_party(self) -> NeedRecord:
        expected = vocab.countries()[self.party].sub_region
        if self.region is not None and self.region.casefold() != expected.casefold():
            raise ValueError(
                f"region {self.region!r} does not match party {self.party}, "
                f"which is in {expected!r} (the region can be left out)"
            )
        object.__setattr__(self, "region", expected)
        return self
