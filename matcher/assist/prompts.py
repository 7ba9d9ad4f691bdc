"""The words of the missing-information prompts, in the reader's language, from gettext catalogues.

The check (:mod:`matcher.assist.missing`) returns language-free facts — a field, a code and parameters
(:class:`~matcher.assist.missing.Gap`) — and every adapter renders them here: ``POST /v1/assist/need`` and
``pollinate suggest`` in the draft's language, the need form in its reader's. Each prompt speaks to the Party
writing the need ("say where…"), asks one question, and says why a provider needs the answer. Labels quoted in
a prompt (a country, a target, an assistance type) come from the vocabularies in the same language, and lists
and numbers are written as that language writes them (Babel).

The sentences are English msgids translated in the catalogues ``locales/<lang>/LC_MESSAGES/assist.po`` beside
this module (``make messages`` extracts them into ``locales/assist.pot`` and updates each catalogue), the same
way the web pages translate an explanation's facts (``matcher/language/explanations.py``). They are a catalogue of
their own, not the pages' one, because the command line renders them too and the engine never reads ``api/``.
Like the pages' catalogues they are compiled in memory from the ``.po`` file on first use, and fuzzy entries
are never used. Names are placed after a colon or in parentheses, so that no article or preposition depends on
a name (French "au Kenya" but "en Côte d'Ivoire").
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, Final

from babel import lists, numbers

from matcher.assist.missing import Gap
from matcher.language.catalogues import compiled_catalogue
from models import vocabularies as vocab

SOURCE_LANGUAGE: Final = "en"
# Languages with a catalogue (English: the msgids themselves). Any other language gets English.
LANGUAGES: Final = ("en", "fr", "es")
DOMAIN: Final = "assist"


def N_(message: str) -> str:  # noqa: N802 - the name message extraction looks for
    """Mark ``message`` for extraction; it is translated when a prompt is rendered."""
    return message


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of ``language`` (English, or a language without a catalogue: the msgids)."""
    if language == SOURCE_LANGUAGE or language not in LANGUAGES:
        return gettext_module.NullTranslations()
    return compiled_catalogue("matcher.assist", language, DOMAIN)


# ------------------------------------------------------------------------------------------ pieces


def _list(items: Sequence[str], lang: str) -> str:
    return lists.format_list(list(items), locale=lang) if items else ""


def _targets(numbers_: object, lang: str) -> str:
    assert isinstance(numbers_, list)
    return _list([f"{int(n)} ({vocab.label('target', int(n), lang)})" for n in numbers_], lang)


def _types(codes: object, lang: str) -> str:
    assert isinstance(codes, list)
    return _list([vocab.label("assistance_type", str(c), lang, in_sentence=True) for c in codes], lang)


# ------------------------------------------------------------------------------------------ sentences

# Prompts without a plural, by code: the msgid and how its parameters are written.
MESSAGES: Final[Mapping[str, str]] = {
    "where": N_(
        "Say where the work would take place: the provinces, sites or ecosystems concerned. Providers check "
        "first whether they can work there."
    ),
    "where_party": N_(
        "Say where in %(party)s the work would take place: the provinces, sites or ecosystems concerned. "
        "Providers check first whether they can work there."
    ),
    "scale": N_(
        "Give the scale: how many hectares, sites, species or people are concerned. It tells a provider how much "
        "work and money the request means."
    ),
    "tried": N_(
        "Say what has already been done or tried, and what did not work. Providers can then build on it rather "
        "than repeat it."
    ),
    "when": N_(
        "Say by when you need the support, or how long it should last. Providers plan their capacity months ahead."
    ),
    "trainees": N_(
        "Say who would be trained and how many: their role (rangers, technicians, officials...) and their "
        "current level. A course is designed for its audience."
    ),
    "language": N_(
        "Say in which language the support should be given (and any local languages). Many providers work in "
        "only some languages."
    ),
    "choose_targets": N_("Choose the KMGBF targets this need serves. From your text, likely: %(suggested)s."),
    "check_targets": N_(
        "Check the targets you chose (%(chosen)s): your text reads more like %(suggested)s. Providers search by "
        "target, and the right ones bring the right offers."
    ),
    "choose_types": N_("Choose the kinds of assistance you need. From your text, likely: %(suggested)s."),
}


def _too_short(params: Mapping[str, Any], lang: str) -> str:
    words = int(params["words"])
    sentence = translations(lang).ngettext(
        "Your description has %(words)s word. Providers usually need at least %(minimum)s to judge whether they "
        "can help: describe the situation, the problem and what you would like to achieve.",
        "Your description has %(words)s words. Providers usually need at least %(minimum)s to judge whether "
        "they can help: describe the situation, the problem and what you would like to achieve.",
        words,
    )
    return sentence % {
        "words": numbers.format_decimal(words, locale=lang),
        "minimum": numbers.format_decimal(int(params["minimum"]), locale=lang),
    }


# How each parameter is written in a sentence (the others are quoted as they are).
_PARAMETERS: Final[Mapping[str, Callable[[object, str], str]]] = {
    "party": lambda code, lang: vocab.label("country", str(code), lang),
    "chosen": _targets,
}


def _sentence(code: str, params: Mapping[str, Any], lang: str) -> str:
    written = {name: _PARAMETERS[name](value, lang) for name, value in params.items() if name in _PARAMETERS}
    if "suggested" in params:
        written["suggested"] = (_types if code == "choose_types" else _targets)(params["suggested"], lang)
    return translations(lang).gettext(MESSAGES[code]) % written


def render(gap: Gap, language: str) -> str:
    """The prompt for ``gap`` in ``language`` (English for a language without a catalogue).

    Raises:
        KeyError: a code without a sentence here, or a parameter its sentence needs is missing.
    """
    lang = language if language in LANGUAGES else SOURCE_LANGUAGE
    if gap.code == "too_short":
        return _too_short(gap.params, lang)
    code = "where_party" if gap.code == "where" and gap.params.get("party") else gap.code
    return _sentence(code, gap.params, lang)
