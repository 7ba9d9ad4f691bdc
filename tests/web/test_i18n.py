"""Languages of the pages: the catalogues are complete, the choice of language follows the rules, and
concurrent renderings in different languages never mix."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from starlette.requests import Request

from api.web import i18n
from api.web.rendering import ENV

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "matcher" / "language" / "locales"


def message_ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every message of the templates and of api/web/*.py, extracted as `make messages` does."""
    out = tmp_path_factory.mktemp("messages") / "messages.pot"
    command = [
        str(Path(sys.executable).with_name("pybabel")),
        "extract",
        "-F",
        "pyproject.toml",
        "-o",
        str(out),
        ".",
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    with out.open("rb") as source:
        return message_ids(read_po(source))


def test_extraction_finds_template_and_python_messages(extracted: set[str]) -> None:
    assert "Offers of support" in extracted  # a template
    assert "Page not found" in extracted  # api/web/errors.py
    assert len(extracted) > 100


def test_the_template_catalogue_is_up_to_date(extracted: set[str]) -> None:
    with (LOCALES / "messages.pot").open("rb") as source:
        assert message_ids(read_po(source)) == extracted, "run `make messages`"


@pytest.mark.parametrize("language", [code for code in i18n.LOCALES if code != i18n.DEFAULT_LOCALE])
def test_every_message_is_translated_and_none_is_fuzzy(extracted: set[str], language: str) -> None:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale=language)
    assert extracted - message_ids(catalog) == set(), "missing from the catalogue: run `make messages`"
    untranslated = [
        m.id for m in catalog if m.id and not all(m.string if isinstance(m.string, tuple) else (m.string,))
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated and not fuzzy, {"untranslated": untranslated, "fuzzy": fuzzy}
    assert not catalog.obsolete


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "en"),
        ({"Accept-Language": "fr-CA,fr;q=0.9"}, "fr"),
        ({"Accept-Language": "fr-CA"}, "fr"),
        ({"Accept-Language": "de, es;q=0.5, fr;q=0.4"}, "es"),
        ({"Accept-Language": "fr;q=0, es;q=0.1"}, "es"),
        ({"Accept-Language": "de, zh"}, "en"),
        ({"Accept-Language": "es", "Cookie": "lang=fr"}, "fr"),
        ({"Accept-Language": "es", "Cookie": "lang=xx"}, "es"),
    ],
)
def test_language_negotiation(headers: dict[str, str], expected: str) -> None:
    assert i18n.negotiate(request_with(headers)).code == expected


def test_text_direction_comes_from_the_locale() -> None:
    assert i18n.page_locale("fr").direction == "ltr"
    assert i18n.page_locale("ar").direction == "rtl"


def test_concurrent_renderings_keep_their_own_language() -> None:
    template = ENV.from_string("{{ _('Needs') }} {{ 1234567|number }}")
    expected = {"en": "Needs 1,234,567", "fr": "Besoins 1\u202f234\u202f567", "es": "Necesidades 1.234.567"}
    seen: dict[str, set[str]] = {code: set() for code in expected}
    start = threading.Barrier(len(expected) * 4)

    def render(code: str) -> None:
        start.wait()
        for _ in range(200):
            with i18n.activated(i18n.page_locale(code)):
                seen[code].add(template.render())

    threads = [threading.Thread(target=render, args=(code,)) for code in expected for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {code: {text} for code, text in expected.items()}


def test_the_csrf_field_macro_renders_a_hidden_input() -> None:
    macro = ENV.from_string('{% from "macros/forms.html" import csrf_field %}{{ csrf_field(token) }}')
    html = macro.render(token='a"b')
    assert html == '<input type="hidden" name="csrf_token" value="a&#34;b">'
