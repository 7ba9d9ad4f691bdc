"""The built-in mappings: Pollinate's own feed, and the CBD Bio-Bridge records (added with their fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from matcher.connectors import biobridge
from matcher.connectors.mapping import FieldTable, Vocabulary, get_path

Finish = Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]]

_NEED_FIELDS = (
    "party",
    "requesting_organisation",
    "title",
    "description",
    "targets",
    "assistance_types",
    "language",
    "status",
)
_OFFER_FIELDS = (
    "organisation",
    "org_type",
    "country",
    "regions_served",
    "countries_served",
    "title",
    "description",
    "targets",
    "assistance_types",
    "languages",
    "cost",
    "capacity",
    "status",
    "expires_on",
    "website",
)


@dataclass(frozen=True, slots=True)
class BuiltinMapping:
    """A mapping shipped with Pollinate: its field tables by kind, where the source id and the record's page
    are, and its vocabulary tables."""

    tables: Mapping[str, FieldTable]
    id_path: str
    url_path: str | None = None
    url_template: str | None = None
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    finish: Finish | None = None
    # Where a record says its own language (its language strings are read in it).
    language_path: str | None = None

    def source_url(self, record: Mapping[str, Any], source_id: str) -> str | None:
        if self.url_path is not None:
            found = get_path(record, self.url_path)
            if isinstance(found, str):
                return found
        if self.url_template is not None:
            return self.url_template.format(id=source_id)
        return None


# Pollinate's feed (/v1/feeds/needs, /v1/feeds/offers): the interchange format plus `url`, the record's page.
POLLINATE = BuiltinMapping(
    tables={
        "needs": FieldTable({name: name for name in _NEED_FIELDS}),
        "offers": FieldTable({name: name for name in _OFFER_FIELDS}),
    },
    id_path="id",
    url_path="url",
)


def _biobridge(kind: str, table: FieldTable, finish: Finish) -> BuiltinMapping:
    """A Bio-Bridge document's mapping: every schema has its identifier, its language and its page in the same
    places; what differs is the kind of record, its field table and how it is finished."""
    return BuiltinMapping(
        tables={kind: table},
        id_path="header.identifier",
        url_path="url",
        url_template=biobridge.RECORD_PAGE,
        finish=finish,
        language_path="header.languages.0",
    )


# The CBD Bio-Bridge records (see matcher/connectors/biobridge.py for the field names and their sources).
BIOBRIDGE_REQUEST = _biobridge("needs", biobridge.REQUEST_FIELDS, biobridge.finish_request)
BIOBRIDGE_PROFILE = _biobridge("offers", biobridge.PROFILE_FIELDS, biobridge.finish_profile)
BIOBRIDGE_OPPORTUNITY = _biobridge("offers", biobridge.OPPORTUNITY_FIELDS, biobridge.finish_profile)

BUILTIN: dict[str, BuiltinMapping] = {
    "pollinate": POLLINATE,
    "biobridge-request": BIOBRIDGE_REQUEST,
    "biobridge-profile": BIOBRIDGE_PROFILE,
    "biobridge-opportunity": BIOBRIDGE_OPPORTUNITY,
}
