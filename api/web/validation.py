"""What was wrong with a page's input, in the reader's language: one message per field, for error pages and
for the messages shown beside a form's fields.

The services and the API say what was wrong in English for machines (``api/errors.py``); a person reading a
page gets it from here instead. Each problem names its field as the page labels it and says what to do, in
the active language. A value outside a vocabulary names the values it most likely meant by their labels in
the reader's language (``Afrique de l'Ouest``, not ``Western Africa``); a label that names two values names
both.

Pages call :func:`field_problems` with the exception that a route, a form's schema or a service raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from babel import lists
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.web import i18n
from api.web.i18n import gettext as _
from api.web.i18n import gettext_noop as N_  # noqa: N812 - the name message extraction looks for
from api.web.i18n import ngettext
from matcher.errors import InvalidInputError
from matcher.records.interchange import TextError
from models import vocabularies as vocab

# What each field is called on the pages (query parameters and form fields share the API's names).
FIELD_LABELS: Final[Mapping[str, str]] = {
    "target": N_("KMGBF target"),
    "targets": N_("KMGBF target"),
    "region": N_("Region"),
    "regions_served": N_("Region"),
    "serves": N_("Region"),
    "country": N_("Country"),
    "countries_served": N_("Country"),
    "party": N_("Country"),
    "type": N_("Kind of help"),
    "assistance_types": N_("Kind of help"),
    "language": N_("Language"),
    "languages": N_("Language"),
    "org_type": N_("Type of organisation"),
    "page": N_("Page"),
    "q": N_("Search"),
}
# Where a request validation error's location starts with one of these, the field is the next element.
_SOURCES: Final = frozenset({"body", "query", "path", "form", "header", "cookie"})


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """What was wrong with one field.

    Attributes:
        field: the field's name in the request (the input's ``name``), or ``""`` when no field is known.
        label: what the page calls the field, in the reader's language (the name itself when it has no label).
        message: what was wrong and what to do, in the reader's language.
    """

    field: str
    label: str
    message: str


def field_problems(exc: Exception, locale: str) -> list[FieldProblem]:
    """The problems an input error names, one per field, in ``locale`` (a language of the pages).

    Understands vocabulary errors (``UnknownTermError`` and ``AmbiguousTermError``, raised or wrapped in an
    ``InvalidInputError`` or in a validation error), FastAPI's request validation errors and pydantic's
    validation errors; any other ``InvalidInputError`` names its field with a general message.
    """
    code = locale if locale in i18n.LOCALES else i18n.DEFAULT_LOCALE
    with i18n.activated(i18n.page_locale(code)):
        if isinstance(exc, RequestValidationError | ValidationError):
            return [
                _problem(_field_of(error.get("loc", ())), _error_message(error, code)) for error in exc.errors()
            ]
        term = exc if isinstance(exc, vocab.UnknownTermError) else exc.__cause__
        field = exc.field if isinstance(exc, InvalidInputError | vocab.UnknownTermError) else None
        if isinstance(term, vocab.UnknownTermError):
            return [_problem(field or term.field, term_message(term, code))]
        return [_problem(field or "", _("This value is not valid."))]


def term_message(exc: vocab.UnknownTermError, locale: str) -> str:
    """A value outside a vocabulary (or naming two of its values), with what it most likely meant, in the
    active language; the values meant are labelled in ``locale``."""
    meant = _labels(exc, locale)
    if isinstance(exc, vocab.AmbiguousTermError):
        return _("“%(value)s” could mean %(choices)s: choose one.") % {
            "value": exc.value,
            "choices": lists.format_list(meant, style="or", locale=locale),
        }
    message = _("“%(value)s” is not a value we know.") % {"value": exc.value}
    if meant:
        message += " " + _("Did you mean %(choices)s?") % {
            "choices": lists.format_list(meant, style="or", locale=locale)
        }
    return message


def _labels(exc: vocab.UnknownTermError, locale: str) -> list[str]:
    if exc.kind is None:
        return list(exc.suggestions)
    if exc.kind == "target":
        return [f"{code}. {vocab.label('target', code, locale)}" for code in exc.codes]
    return [vocab.label(exc.kind, code, locale) for code in exc.codes]  # type: ignore[arg-type]


def _problem(field: str, message: str) -> FieldProblem:
    label = FIELD_LABELS.get(field)
    return FieldProblem(field, _(label) if label else field, message)


def _field_of(location: Sequence[Any]) -> str:
    """The field of a validation error's location: ``("query", "page")`` → ``page``, ``("targets", 0)`` →
    ``targets``."""
    names = [str(part) for part in location if isinstance(part, str)]
    if names and names[0] in _SOURCES:
        names = names[1:]
    return names[0] if names else ""


def _error_message(error: Mapping[str, Any], locale: str) -> str:
    """A pydantic error in the active language (its ``type`` and ``ctx``, never its English ``msg``)."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, vocab.UnknownTermError):
        return term_message(cause, locale)
    if isinstance(cause, TextError):
        return _text_message(cause)
    if kind == "missing":
        return _("This field is required.")
    if kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        return ngettext("Write at least %(n)s character.", "Write at least %(n)s characters.", n) % {"n": n}
    if kind == "string_too_long":
        n = int(ctx.get("max_length", 0))
        return ngettext("Write at most %(n)s character.", "Write at most %(n)s characters.", n) % {"n": n}
    if kind == "too_short":
        n = int(ctx.get("min_length", 1))
        return ngettext("Choose at least %(n)s value.", "Choose at least %(n)s values.", n) % {"n": n}
    if kind == "too_long":
        n = int(ctx.get("max_length", 0))
        return ngettext("Choose at most %(n)s value.", "Choose at most %(n)s values.", n) % {"n": n}
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return _("Enter a whole number.")
    if kind in {"greater_than_equal", "greater_than"}:
        return _("Enter a number of at least %(n)s.") % {"n": ctx.get("ge", ctx.get("gt"))}
    if kind in {"less_than_equal", "less_than"}:
        return _("Enter a number of at most %(n)s.") % {"n": ctx.get("le", ctx.get("lt"))}
    return _("This value is not valid.")


def _text_message(exc: TextError) -> str:
    if exc.reason == "visible":
        n = exc.minimum
        return ngettext("Write at least %(n)s character.", "Write at least %(n)s characters.", n) % {"n": n}
    if exc.reason == "control":
        return _("Remove the invisible control characters from this text.")
    return _("This value does not have the expected form.")
