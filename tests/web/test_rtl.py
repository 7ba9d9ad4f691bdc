"""Right-to-left readiness: a right-to-left language gets ``<html dir="rtl">``, and the stylesheet lays out by
logical properties only, mirroring what a rotation would otherwise turn the wrong way."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from starlette.requests import Request

from api.web import i18n
from api.web.rendering import render
from matcher.language import catalogues

CSS = Path(__file__).resolve().parents[2] / "api" / "web" / "static" / "css" / "pollinate.css"
# Properties that name a physical side (logical ones say inline-start/end, block-start/end instead).
PHYSICAL = re.compile(
    r"""(?x)
    \b(?:margin|padding|border|inset|scroll-margin|scroll-padding)-(?:left|right)\b
    | \bborder-(?:top|bottom)-(?:left|right)-radius\b
    | (?<![-\w])(?:left|right)\s*:
    | \b(?:float|clear|text-align|caption-side)\s*:\s*(?:left|right)\b
    | \btranslateX\(
    | \bbackground-position(?:-x)?\s*:[^;]*\b(?:left|right)\b
    """
)


def rules(css: str) -> list[tuple[str, str]]:
    """(selector, declarations) of every rule of a flat stylesheet, comments removed."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return [(sel.strip(), body) for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)]


def test_the_stylesheet_names_no_physical_side() -> None:
    found = [(sel, m.group()) for sel, body in rules(CSS.read_text("utf-8")) for m in PHYSICAL.finditer(body)]
    assert found == []


def test_the_physical_side_check_finds_what_it_should() -> None:
    css = ".a { margin-left: 1px } .b { left: 0 } .c { text-align: right } .d { margin-inline-start: 1px }"
    assert [m.group() for _, body in rules(css) for m in PHYSICAL.finditer(body)] == [
        "margin-left",
        "left:",
        "text-align: right",
    ]


def test_every_rotated_shape_is_mirrored_for_right_to_left() -> None:
    """A shape drawn by inline borders and rotated points the other way in right-to-left (the facet chevrons
    pointed sideways there): each rotation needs a ``[dir="rtl"]`` rule of its own."""
    all_rules = rules(CSS.read_text("utf-8"))
    rotated = [sel for sel, body in all_rules if "rotate(" in body and not sel.startswith('[dir="rtl"]')]
    mirrored = {
        sel.removeprefix('[dir="rtl"]').strip() for sel, body in all_rules if sel.startswith('[dir="rtl"]')
    }
    assert rotated and set(rotated) <= mirrored


@pytest.fixture
def arabic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arabic as a language of the pages, with an empty catalogue (its messages show in English)."""
    monkeypatch.setattr(i18n, "LOCALES", (*i18n.LOCALES, "ar"))
    known = catalogues.translations

    def translations(code: str) -> gettext.NullTranslations:
        return gettext.NullTranslations() if code == "ar" else known(code)

    # gettext reads the catalogues of matcher.language (the pages' i18n module re-exports them).
    monkeypatch.setattr(catalogues, "translations", translations)


def request_with(cookie: str) -> Request:
    headers = [(b"cookie", cookie.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


@pytest.mark.usefixtures("arabic")
def test_a_right_to_left_language_lays_the_page_out_right_to_left() -> None:
    request = request_with("lang=ar")
    locale = i18n.negotiate(request)
    assert (locale.code, locale.direction) == ("ar", "rtl")
    context = {"status": 404, "title": "Page not found", "message": "Gone.", "problems": []}
    html = bytes(render(request, locale, "error.html", context, status_code=404).body).decode()
    assert '<html lang="ar" dir="rtl">' in html
    french = bytes(render(request_with("lang=fr"), i18n.page_locale("fr"), "error.html", context).body).decode()
    assert '<html lang="fr" dir="ltr">' in french
