"""Connector definitions: declarative TOML files validated with pydantic, errors reported with their line.

A definition says where the records are (an https URL or a file), in what format (JSON, JSON Lines, CSV; paged
with a next link or an offset), which records they are (needs, offers or organisations), how their fields map to
Pollinate's (a built-in mapping or a field table), how the source's own labels map to Pollinate's vocabularies,
a default language and a schedule. See docs/connectors.md for the format.

Line numbers: ``tomllib`` (the standard library's parser, used here) keeps no positions. An error's line is
found by re-parsing: the first prefix of the file (whole lines) that parses and holds the offending key is where
that key's value ends; the line naming the key is the last line at or before it that starts with the key (for
a table, its ``[header]``). Only done for a definition that failed, on files of a few hundred lines.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from matcher.errors import InvalidInputError

MAX_DEFINITION_BYTES = 256 * 1024
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Path_ = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAPPINGS = ("fields", "pollinate", "biobridge-request", "biobridge-profile", "biobridge-opportunity")
_INTERVAL = re.compile(r"^(\d{1,5})\s*(m|h|d)$")
# The kinds of record each built-in mapping reads.
_MAPPING_KINDS = {
    "pollinate": ("needs", "offers"),
    "biobridge-request": ("needs",),
    "biobridge-profile": ("offers",),
    "biobridge-opportunity": ("offers",),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paging(_Strict):
    """How to get the next page: ``next_link`` (a URL found in the body at ``next``, or the ``Link: rel=next``
    header when ``next`` is unset) or ``offset`` (query parameters ``offset_param``/``limit_param``)."""

    style: Literal["none", "next_link", "offset"] = "none"
    next: Path_ | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"
    page_size: int = Field(default=100, ge=1, le=10_000)


class Source(_Strict):
    """Where the records are and how they are written."""

    url: Annotated[str, StringConstraints(max_length=500)] | None = None
    file: Path_ | None = None
    format: Literal["json", "jsonl", "csv"] = "json"
    records: Path_ | None = Field(default=None, description="Dotted path to the list of records in a JSON body.")
    paging: Paging = Field(default_factory=Paging)

    @model_validator(mode="after")
    def _one_place(self) -> Source:
        if (self.url is None) == (self.file is None):
            raise ValueError("give exactly one of url (an https URL) or file (a path)")
        if self.file is not None and self.paging.style != "none":
            raise ValueError("a file source is read whole: leave paging out")
        return self


class Vocabularies(_Strict):
    """The source's own labels mapped to Pollinate's codes (added to the built-in tables; matched without
    regard to case)."""

    targets: dict[str, list[int]] = Field(default_factory=dict)
    countries: dict[str, str] = Field(default_factory=dict)
    assistance_types: dict[str, str] = Field(default_factory=dict)
    org_types: dict[str, str] = Field(default_factory=dict)


class ConnectorDefinition(_Strict):
    """One connector (see the module docstring)."""

    name: Name
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    kind: Literal["needs", "offers", "organisations"]
    mapping: Literal["fields", "pollinate", "biobridge-request", "biobridge-profile", "biobridge-opportunity"] = (
        "fields"
    )
    source: Source
    fields: dict[str, Path_ | list[Path_]] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    vocabularies: Vocabularies = Field(default_factory=Vocabularies)
    language: Annotated[str, StringConstraints(min_length=2, max_length=2)] = "en"
    schedule: Annotated[str, StringConstraints(pattern=_INTERVAL.pattern)] | None = None

    @model_validator(mode="after")
    def _fields_for_field_mapping(self) -> ConnectorDefinition:
        if self.mapping == "fields" and "id" not in self.fields:
            raise ValueError("a field mapping needs at least fields.id (the source's own id of each record)")
        kinds = _MAPPING_KINDS.get(self.mapping)
        if kinds is not None and self.kind not in kinds:
            raise ValueError(f"mapping {self.mapping!r} reads {' or '.join(kinds)}, not {self.kind}")
        return self

    @property
    def interval_s(self) -> int | None:
        """The schedule in seconds (None: run only when asked)."""
        if self.schedule is None:
            return None
        match = _INTERVAL.match(self.schedule)
        assert match is not None
        return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86_400}[match.group(2)]


def parse_definition(text: str, *, origin: str = "<definition>", base: Path | None = None) -> ConnectorDefinition:
    """The definition written in ``text`` (TOML).

    Raises:
        InvalidInputError: not TOML, or not a valid definition; the message names ``origin``, the line and
            the field of every problem.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        definition = ConnectorDefinition.model_validate(data)
    except ValidationError as exc:
        problems: list[tuple[int, str]] = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            dotted = ".".join(str(p) for p in loc) or "(top level)"
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field (not part of the connector format; see docs/connectors.md)"
            line = line_of(text, loc)
            where = f"{origin}, line {line}" if line is not None else origin
            problems.append((line or 0, f"{where}: {dotted}: {message}"))
        listed = "\n".join(text for _, text in sorted(problems, key=lambda p: p[0]))
        raise InvalidInputError("invalid connector definition:\n" + listed) from exc
    if base is not None and definition.source.file is not None and not Path(definition.source.file).is_absolute():
        source = definition.source.model_copy(update={"file": str(base / definition.source.file)})
        definition = definition.model_copy(update={"source": source})
    return definition


def load_definition(path: Path) -> ConnectorDefinition:
    """The definition in the file ``path`` (a relative ``source.file`` is read beside it)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read connector definition {path}: {exc.strerror}") from exc
    if len(raw) > MAX_DEFINITION_BYTES:
        raise InvalidInputError(f"{path}: a connector definition may be at most {MAX_DEFINITION_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_definition(text, origin=str(path), base=path.parent)


def load_all(directory: Path) -> tuple[dict[str, ConnectorDefinition], list[str]]:
    """Every definition in ``directory`` (``*.toml``) by name, and the errors of those that did not load."""
    found: dict[str, ConnectorDefinition] = {}
    errors: list[str] = []
    if not directory.is_dir():
        return found, errors
    for path in sorted(directory.glob("*.toml")):
        try:
            definition = load_definition(path)
        except InvalidInputError as exc:
            errors.append(str(exc))
            continue
        if definition.name in found:
            errors.append(f"{path}: connector name {definition.name!r} is used by another definition")
            continue
        found[definition.name] = definition
    return found, errors


def _holds(data: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        if in_dict or (isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)):
            data = data[part]
        else:
            return False
    return True


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of ``text`` where the key at ``loc`` is written (see the module docstring); for a
    missing key, the line of the nearest enclosing key or table that exists."""
    lines = text.splitlines(keepends=True)
    while loc:
        key = loc[-1]
        for end in range(1, len(lines) + 1):
            try:
                prefix = tomllib.loads("".join(lines[:end]))
            except tomllib.TOMLDecodeError:
                continue
            if _holds(prefix, loc):
                if not isinstance(key, str):
                    return end
                starts = re.compile(rf"""^\s*(\[+\s*)?([\w.\-"' ]*\.)?\s*["']?{re.escape(key)}["']?\s*(=|\]|\.)""")
                for number in range(end, 0, -1):
                    if starts.match(lines[number - 1]):
                        return number
                return end
        loc = loc[:-1]
    return None
