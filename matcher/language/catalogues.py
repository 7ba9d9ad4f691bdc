"""The gettext catalogues of Pollinate's languages, the active language, and its number and date formats.

- **Catalogues** are the ``locales/<lang>/LC_MESSAGES/messages.po`` files beside this module, compiled in memory
  by Babel the first time a language is used (a few milliseconds): the ``.po`` files are the only source, so
  there is no build step and no compiled ``.mo`` file to forget or to go stale. Fuzzy entries are never used
  (and a test refuses them, as it refuses untranslated ones). One catalogue serves the web pages and the
  e-mails (``make messages`` extracts both).
- **The active language** lives in a context variable, set around the rendering of each page or e-mail (each
  thread and task has its own context), so concurrent renderings in other languages never see each other's
  translations. :func:`gettext` and :func:`ngettext` read it.

Adding a language: see :data:`LOCALES` and "How to add a language" in ``docs/web.md``.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import babel
from babel import dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

# Languages with a catalogue, the source language (English) first. A new language is added here and in
# ``locales/`` (see the module docstring).
LOCALES: Final = ("en", "fr", "es")
DEFAULT_LOCALE: Final = "en"
DOMAIN: Final = "messages"
# The name of each language in that language (for the switcher: a reader finds their own language).
NATIVE_NAMES: Final[Mapping[str, str]] = {
    code: (babel.Locale.parse(code).display_name or code).capitalize() for code in LOCALES
}


@dataclass(frozen=True, slots=True)
class PageLocale:
    """The language of one page or message.

    Attributes:
        code: a code of :data:`LOCALES` (the catalogue and the ``lang`` attribute).
        direction: ``ltr`` or ``rtl`` (the CLDR's text direction of the language).
    """

    code: str
    direction: str


@cache
def page_locale(code: str) -> PageLocale:
    """The :class:`PageLocale` of a catalogue language."""
    direction = "rtl" if babel.Locale.parse(code).text_direction == "rtl" else "ltr"
    return PageLocale(code, direction)


def supported(code: str | None) -> str:
    """``code`` if it has a catalogue, else English (a user's stored setting may name any language)."""
    return code if code in LOCALES else DEFAULT_LOCALE


@cache
def translations(code: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of a language (English: the messages themselves)."""
    if code == DEFAULT_LOCALE:
        return gettext_module.NullTranslations()
    return compiled_catalogue("matcher.language", code, DOMAIN)


def compiled_catalogue(package: str, code: str, domain: str) -> gettext_module.GNUTranslations:
    """``package``'s ``locales/<code>/LC_MESSAGES/<domain>.po``, compiled in memory (the installed package
    ships the .po files only)."""
    po = resources.files(package).joinpath("locales", code, "LC_MESSAGES", f"{domain}.po")
    with po.open("rb") as source:
        catalog = read_po(source, locale=code, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext_module.GNUTranslations(compiled)


_active: ContextVar[PageLocale] = ContextVar("pollinate_page_locale")


@contextmanager
def activated(locale: PageLocale) -> Iterator[PageLocale]:
    """Make ``locale`` the language of gettext and the formats in this context while the block runs."""
    token = _active.set(locale)
    try:
        yield locale
    finally:
        _active.reset(token)


def active() -> PageLocale:
    """The language being rendered (English outside a page or message)."""
    return _active.get(page_locale(DEFAULT_LOCALE))


def gettext(message: str) -> str:
    """``message`` in the active language."""
    return translations(active().code).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural ``message`` for ``n``, in the active language."""
    return translations(active().code).ngettext(singular, plural, n)


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown (``_(message)`` in a template)."""
    return message


def format_number(value: int | float) -> str:
    """A number as the active language writes it (``12,345``, ``12 345``, ``12.345``)."""
    return numbers.format_decimal(value, locale=active().code)


def format_decimal(value: float, pattern: str) -> str:
    """A number with a Babel ``pattern`` (e.g. ``0.00``) in the active language (``0,83`` in French)."""
    return numbers.format_decimal(value, format=pattern, locale=active().code)


def format_date(value: object) -> str:
    """A date (or the date of a datetime) in the active language's medium format."""
    return dates.format_date(value, format="medium", locale=active().code)  # type: ignore[arg-type]
