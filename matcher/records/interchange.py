"""Interchange records: needs and offers in the gold-set format (``needs.jsonl`` / ``offers.jsonl``).

These are the input models of bulk import, ``pollinate seed`` and ``pollinate match --need``: they reject
unknown fields, bound every text, and turn every vocabulary value into its canonical spelling (or fail with a
message naming the field, the value and the closest valid values). Export writes the same shape back.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from models import vocabularies as vocab
from models.orm import CONTACT_MESSAGE_LEN, EXTERNAL_ID_LEN, NAME_LEN, TITLE_LEN, URL_LEN

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


# ------------------------------------------------------------------------------------------------ text
# Every free text (names, titles, descriptions, queries, notes, URLs; the API's text query parameters too) is a
# `Text`, so that what is refused, what is stripped and what counts toward a minimum is decided here once, and
# the API's JSON Schema says exactly that (a `pattern` generated from the same character classes).
#
# - Control characters other than tab, line feed and carriage return are refused. PostgreSQL cannot store NUL
#   (inserting it answered 500), SQLite stores it and its LIKE stops there (`q=%00` matched every offer), and the
#   others are invisible wherever the text is shown. Carriage return stays: it is how line breaks arrive from
#   Windows and from every HTML form (browsers submit a textarea's line breaks as CRLF). Lone surrogates (JSON
#   "\ud800") are refused as well: they cannot be encoded as UTF-8 for the database.
# - The maximum length applies to the text as sent, as JSON Schema's maxLength does; surrounding whitespace is
#   stripped after the checks. Minimum lengths count *visible* characters: whitespace, controls and format
#   characters (zero-width spaces and joiners, direction marks, the BOM...) do not count, so six zero-width
#   spaces are not a title.

# Where every whitespace, control and format character lives: the BMP, plane 1 and plane 14 (tags, selectors).
_PLANES = (range(0xD800), range(0xE000, 0x20000), range(0xE0000, 0xE1000))
_SURROGATES = r"\ud800-\udfff"  # regex escapes: Python reads them as the surrogate code points


def _refused(char: str) -> bool:
    return unicodedata.category(char) == "Cc" and char not in "\t\n\r"


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zs", "Zl", "Zp"}


def _class_body(predicate: Callable[[str], bool]) -> str:
    """The code points where ``predicate`` holds as the inside of a regex character class that Python and
    ECMA-262 (JSON Schema's dialect, with its u flag) read alike: BMP code points as ``\\uXXXX`` escapes, the
    others as themselves (the two dialects spell astral escapes differently)."""
    runs: list[list[int]] = []
    for plane in _PLANES:
        for code in plane:
            if predicate(chr(code)):
                if runs and runs[-1][1] == code - 1:
                    runs[-1][1] = code
                else:
                    runs.append([code, code])

    def spell(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    return "".join(spell(a) if a == b else f"{spell(a)}-{spell(b)}" for a, b in runs)


@dataclass(frozen=True, slots=True)
class _TextClasses:
    refused: str  # control characters but tab, line feed and carriage return
    blank: str  # allowed but invisible: whitespace and format characters
    space: str  # what str.strip() removes (and is allowed)


@cache
def _text_classes() -> _TextClasses:
    return _TextClasses(
        refused=_class_body(_refused),
        blank=_class_body(lambda c: _invisible(c) and not _refused(c)),
        space=_class_body(lambda c: c.isspace() and not _refused(c)),
    )


@cache
def _refused_re() -> re.Pattern[str]:
    return re.compile(f"[{_text_classes().refused}{_SURROGATES}]")


@cache
def _visible_re() -> re.Pattern[str]:
    classes = _text_classes()
    return re.compile(f"[^{classes.refused}{classes.blank}{_SURROGATES}]")


# The body of a URL or an e-mail address: no whitespace and no control character (in both regex dialects).
_SOLID = r"[^\s\u0000-\u001f\u007f-\u009f]"
_ADDRESS_PART = r'[^@\s\u0000-\u001f\u007f-\u009f<>,;:\\"]+'
URL_PATTERN = rf"https?://{_SOLID}+"
EMAIL_PATTERN = rf"{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}"


class TextError(ValueError):
    """A text that :class:`Text` refuses. The message says what to fix in English; ``reason`` says it as data
    (``control``: a control character, ``visible``: fewer than ``minimum`` visible characters, ``pattern``: not
    the expected form), for pages that say it in their reader's language."""

    def __init__(self, message: str, *, reason: str, minimum: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.minimum = minimum


@dataclass(frozen=True, slots=True)
class Text:
    """A free-text field (``Annotated[str, Text(...)]``): at most ``max_length`` characters as sent, no control
    character but tab, line feed and carriage return, at least ``min_visible`` visible characters; surrounding
    whitespace is stripped. With ``pattern`` (no anchors; Python and ECMA-262 alike, refusing every control
    character) the stripped text must match it, and ``hint`` says what it should look like."""

    max_length: int
    min_visible: int = 0
    pattern: str | None = None
    hint: str = ""

    def validate(self, value: str) -> str:
        """The stripped text (raises ValueError, with what to fix)."""
        bad = _refused_re().search(value)
        if bad is not None:
            code, where = ord(bad.group()), bad.start()
            if 0xD800 <= code <= 0xDFFF:
                raise TextError(
                    f"contains a lone surrogate (U+{code:04X}) at position {where}: not a character",
                    reason="control",
                )
            raise TextError(
                f"contains the control character U+{code:04X} at position {where}; text may hold tabs and line "
                "breaks but no other control character",
                reason="control",
            )
        text = value.strip()
        if self.min_visible:
            found = 0
            for _ in _visible_re().finditer(text):
                found += 1
                if found == self.min_visible:
                    break
            if found < self.min_visible:
                raise TextError(
                    f"needs at least {self.min_visible} visible characters (spaces, line breaks and invisible "
                    "characters such as zero-width spaces do not count)",
                    reason="visible",
                    minimum=self.min_visible,
                )
        if self.pattern is not None and re.fullmatch(self.pattern, text) is None:
            raise TextError(self.hint or f"does not match {self.pattern}", reason="pattern")
        return text

    def json_pattern(self) -> str:
        """The same rule as :meth:`validate` (but the length), as a JSON Schema ``pattern``."""
        classes = _text_classes()
        if self.pattern is not None:
            return f"^[{classes.space}]*(?:{self.pattern})[{classes.space}]*$"
        if self.min_visible:
            visible = f"[^{classes.refused}{classes.blank}]"
            return f"^[{classes.blank}]*(?:{visible}[{classes.blank}]*){{{self.min_visible},}}$"
        return f"^[^{classes.refused}]*$"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # strip_whitespace=False: a model's str_strip_whitespace would otherwise strip before the length check.
        return core_schema.no_info_after_validator_function(
            self.validate, core_schema.str_schema(max_length=self.max_length, strip_whitespace=False)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.json_pattern()
        if self.min_visible:
            json_schema["minLength"] = self.min_visible
        return json_schema


# ------------------------------------------------------------------------------------------ vocabularies


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A controlled-vocabulary field (``Annotated[str, Vocabulary(...)]``). Input goes through ``parse``, one of
    ``models/vocabularies.py``'s parsers, the one place that decides which spellings a vocabulary accepts and
    that names the closest valid values on a miss; the value kept is the canonical one. The JSON Schema
    documents those canonical ``values`` as an enum, one named component shared by every field and query
    parameter of the vocabulary (``description`` says which other spellings are understood)."""

    name: str
    values: Callable[[], Iterable[str | int]]
    parse: Callable[[Any], Any]
    description: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.parse, handler(source), ref=self.name)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        definition = handler.resolve_ref_schema(json_schema)
        definition.update(title=self.name, description=self.description, enum=list(dict.fromkeys(self.values())))
        return json_schema


ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=EXTERNAL_ID_LEN, pattern=r"^[\w.:\-]+$"),
]
Name = Annotated[str, Text(max_length=NAME_LEN, min_visible=2)]
Title = Annotated[str, Text(max_length=TITLE_LEN, min_visible=3)]
Description = Annotated[str, Text(max_length=DESCRIPTION_MAX, min_visible=10)]
CONTACT_MESSAGE = Text(max_length=CONTACT_MESSAGE_LEN, min_visible=10)
ContactMessage = Annotated[str, CONTACT_MESSAGE]
URL_HINT = "must be an http(s) URL without spaces"
Website = Annotated[str, Text(max_length=URL_LEN, pattern=URL_PATTERN, hint=URL_HINT)]

TargetNumber = Annotated[
    int,
    Vocabulary(
        "Target",
        vocab.targets,
        lambda v: vocab.parse_target(v, field="target"),
        'A KMGBF target, 1 to 23 ("T3", "3" and its title in English, French or Spanish are understood too).',
    ),
]
AssistanceType = Annotated[
    str,
    Vocabulary(
        "AssistanceType",
        lambda: vocab.ASSISTANCE_TYPES,
        vocab.parse_assistance_type,
        "A kind of assistance (any case, with spaces or hyphens for the underscores, and its label in English, "
        "French or Spanish, are understood too).",
    ),
]
OrganisationType = Annotated[
    str,
    Vocabulary(
        "OrganisationType",
        lambda: vocab.ORGANISATION_TYPES,
        vocab.parse_organisation_type,
        "A kind of organisation (any case, with spaces or hyphens for the underscores, and its label in English, "
        "French or Spanish, are understood too).",
    ),
]
CountryCode = Annotated[
    str,
    Vocabulary(
        "CountryCode",
        vocab.countries,
        vocab.parse_country,
        "An ISO 3166-1 alpha-3 country code (alpha-2 codes, in any case, and country names in English, French "
        "or Spanish are understood too).",
    ),
]
LanguageCode = Annotated[
    str,
    Vocabulary(
        "LanguageCode",
        vocab.languages,
        vocab.parse_language,
        "An ISO 639-1 language code (any case, and language names in English, French or Spanish, such as "
        "French or français, are understood too).",
    ),
]
Area = Annotated[
    str,
    Vocabulary(
        "Area",
        vocab.geographic_areas,
        vocab.parse_area,
        "Global, a UN M49 region or a Pollinate sub-region (any case, and its label in English, French or "
        "Spanish, are understood too).",
    ),
]
Place = Annotated[
    str,
    Vocabulary(
        "Place",
        lambda: (*vocab.countries(), *vocab.geographic_areas()),
        vocab.parse_place,
        "A country (ISO 3166-1 alpha-3; alpha-2 is understood too) or an area: Global, a UN M49 region or a "
        "Pollinate sub-region (names in English, French or Spanish are understood too).",
    ),
]
Cost = Annotated[
    str,
    Vocabulary(
        "Cost",
        lambda: vocab.COSTS,
        vocab.parse_cost,
        "free, cost (at cost) or negotiable (any case, or a label: gratuit).",
    ),
]


_ListIn = BeforeValidator(_split_list)
_Dedup = AfterValidator(_unique)
Targets = Annotated[list[TargetNumber], _ListIn, _Dedup, Field(min_length=1, max_length=MAX_TAGS)]
AssistanceTypes = Annotated[list[AssistanceType], _ListIn, _Dedup, Field(min_length=1, max_length=MAX_TAGS)]
Languages = Annotated[list[LanguageCode], _ListIn, _Dedup, Field(min_length=1, max_length=MAX_TAGS)]
Areas = Annotated[list[Area], _ListIn, _Dedup, Field(max_length=MAX_TAGS)]
# Up to every country: an offer may list a long explicit country list instead of regions.
Countries = Annotated[list[CountryCode], _ListIn, _Dedup, Field(max_length=300)]


class _Record(BaseModel):
    # Strings are not stripped here but by their types, after the checks (see Text).
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    region: Annotated[str, Text(max_length=60)] | None = None
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
