"""Languages of the web pages: which one a request gets; the catalogues themselves are shared with the e-mails.

- **Choice.** An explicit choice first (the ``lang`` cookie the language switcher sets), else the best match of
  the browser's ``Accept-Language`` among the catalogues (negotiated by Babel), else English.
- **Catalogues, the active language and formats** live in :mod:`matcher.language.catalogues` (the alert e-mails
  are written with them too); this module re-exports them so that the pages have one place to import from.

Adding a language: see ``LOCALES`` and "How to add a language" in ``docs/web.md``.
"""

from __future__ import annotations

from typing import Final

import babel
from starlette.requests import Request

from matcher.language.catalogues import (
    DEFAULT_LOCALE,
    DOMAIN,
    LOCALES,
    NATIVE_NAMES,
    PageLocale,
    activated,
    active,
    format_date,
    format_decimal,
    format_number,
    gettext,
    gettext_noop,
    ngettext,
    page_locale,
    supported,
    translations,
)

__all__ = [
    "COOKIE",
    "DEFAULT_LOCALE",
    "DOMAIN",
    "LOCALES",
    "NATIVE_NAMES",
    "PageLocale",
    "activated",
    "active",
    "format_date",
    "format_decimal",
    "format_number",
    "gettext",
    "gettext_noop",
    "negotiate",
    "ngettext",
    "page_locale",
    "parse_accept_language",
    "supported",
    "translations",
]

COOKIE: Final = "lang"


def negotiate(request: Request) -> PageLocale:
    """The language of a request: the ``lang`` cookie, else ``Accept-Language``, else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return page_locale(chosen)
    preferred = parse_accept_language(request.headers.get("accept-language", ""))
    found = babel.negotiate_locale(preferred, list(LOCALES), sep="-") if preferred else None
    if found is None and preferred:
        # Babel matches "fr-CA" to "fr" only through its alias table; fall back to the language part.
        found = next((p.split("-")[0] for p in preferred if p.split("-")[0] in LOCALES), None)
    return page_locale(found or DEFAULT_LOCALE)


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an ``Accept-Language`` header, most wanted first (``q=0`` means "not this one")."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag.lower()))
    return [tag for _, _, tag in sorted(weighted)]
