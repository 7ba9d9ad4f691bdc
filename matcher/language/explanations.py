"""Explanations in the reader's language: the engine's facts rendered with the gettext catalogues.

The engine states why an offer was suggested as language-free facts (``matcher/engine/explain.py``: a code such
as ``geography.sub_region`` with the vocabulary codes it is about) beside its English sentences. This module
turns those facts into sentences in any language of the pages, with target titles, area, country, language and
assistance-type names from ``models.vocabularies.label`` in that language. It reads an :class:`Explanation`
(a fresh ranking) or its stored JSON (suggested matches, notifications). JSON stored before explanations carried
facts, and any fact this module does not know, is shown in the engine's English, sentence by sentence, rather
than hidden.

Sentences are written so that no article or preposition depends on a name (French "au Sénégal" but "en Côte
d'Ivoire"): names come after a colon or in parentheses. The evidence sentences are quotations of the offer and
stay in the offer's language.

The pages and the alert e-mails call :func:`explanation_view` (one explanation) and show its ``summary``,
``reasons`` and ``evidence``; it lives here, below both, because ``matcher`` never imports the web layer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from babel import lists, numbers

from matcher.engine.explain import Explanation, Fact
from matcher.language import catalogues as i18n
from matcher.language.catalogues import gettext as _
from matcher.language.catalogues import gettext_noop as N_  # noqa: N812 - the name message extraction looks for
from matcher.language.catalogues import ngettext
from models import vocabularies as vocab

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExplanationView:
    """An explanation as a reader of one language reads it.

    Attributes:
        summary: one sentence: who offers what.
        reasons: one sentence per signal (targets, geography, assistance, language, availability).
        evidence: the offer's sentences closest to the need, quoted in the offer's own language.
        text: all of it as one paragraph (for e-mails and plain text).
        translated: False when some sentence could only be shown in the engine's English (stored before facts).
    """

    summary: str
    reasons: tuple[str, ...]
    evidence: tuple[str, ...]
    text: str
    translated: bool


def explanation_view(source: Explanation | Mapping[str, Any], locale: str) -> ExplanationView:
    """An explanation (or its stored JSON, ``Explanation.as_json()``) in the language ``locale``.

    ``locale`` is a language of :data:`matcher.language.catalogues.LOCALES`; any other is shown in English.
    """
    explanation = source if isinstance(source, Explanation) else Explanation.from_json(source)
    code = locale if locale in i18n.LOCALES else i18n.DEFAULT_LOCALE
    with i18n.activated(i18n.page_locale(code)):
        summary, summary_done = _sentence(explanation.summary_fact, explanation.summary, code)
        reasons: list[str] = []
        translated = summary_done
        facts: Sequence[Fact | None] = explanation.reason_facts
        if len(facts) != len(explanation.reasons):
            facts = [None] * len(explanation.reasons)
        for fact, english in zip(facts, explanation.reasons, strict=True):
            text, done = _sentence(fact, english, code)
            reasons.append(text)
            translated = translated and done
        quotes = " ".join(_("“%(sentence)s”") % {"sentence": s} for s in explanation.evidence)
        parts = [summary, *reasons, *([_("Evidence: %(quotes)s") % {"quotes": quotes}] if quotes else [])]
    return ExplanationView(summary, tuple(reasons), explanation.evidence, " ".join(parts), translated)


def render_fact(fact: Fact, locale: str) -> str:
    """One fact as a sentence in ``locale`` (a language of :data:`matcher.language.catalogues.LOCALES`).

    Raises:
        KeyError: a code this module does not know, or a parameter the code needs is missing.
    """
    with i18n.activated(i18n.page_locale(locale)):
        return SENTENCES[fact.code](fact.params, locale)


def _sentence(fact: Fact | None, english: str, locale: str) -> tuple[str, bool]:
    """The fact in ``locale``, or the engine's English sentence when there is no fact or it cannot be read."""
    if fact is None:
        return english, locale == i18n.DEFAULT_LOCALE
    try:
        return SENTENCES[fact.code](fact.params, locale), True
    except (KeyError, TypeError, ValueError):
        # Stored data from another version of the engine: show its English rather than fail the page.
        log.warning("explanation fact not rendered", extra={"code": fact.code})
        return english, False


# ------------------------------------------------------------------------------------------ pieces


def _list(items: Sequence[str], locale: str) -> str:
    """``a, b and c`` as the language writes a list."""
    return lists.format_list(list(items), locale=locale) if items else ""


def _targets(numbers_: Sequence[int], locale: str, *, titled: bool) -> str:
    if titled:
        return _list([f"{int(n)} ({vocab.label('target', int(n), locale)})" for n in numbers_], locale)
    return _list([str(int(n)) for n in numbers_], locale)


def _types(codes: Sequence[str], locale: str) -> str:
    return _list([vocab.label("assistance_type", t, locale, in_sentence=True) for t in codes], locale)


def _country(code: str, locale: str) -> str:
    return vocab.label("country", code, locale)


def _places(p: Mapping[str, Any], locale: str) -> str:
    areas = [vocab.label("region", a, locale) for a in p["areas"]]
    return _list(areas + [_country(c, locale) for c in p["countries"]], locale)


def _languages(codes: Sequence[str], locale: str) -> str:
    return _list([vocab.label("language", c, locale, in_sentence=True) for c in codes], locale)


# ------------------------------------------------------------------------------------------ sentences


def _offer(p: Mapping[str, Any], _locale: str) -> str:
    return _("%(organisation)s offers “%(title)s”.") % {"organisation": p["organisation"], "title": p["title"]}


def _offer_ranked(p: Mapping[str, Any], locale: str) -> str:
    rank = _("Your offer would be provider #%(rank)s for this need.") % {"rank": int(p["rank"])}
    return f"{rank} {_offer(p, locale)}"


def _saved_search(p: Mapping[str, Any], locale: str) -> str:
    similarity = numbers.format_decimal(float(p["similarity"]), format="0.00", locale=locale)
    return _("Close to your saved search “%(query)s” (similarity %(similarity)s).") % {
        "query": p["query"],
        "similarity": similarity,
    }


def _targets_shared(p: Mapping[str, Any], locale: str) -> str:
    shared = p["targets"]
    return ngettext("Shares KMGBF target %(targets)s.", "Shares KMGBF targets %(targets)s.", len(shared)) % {
        "targets": _targets(shared, locale, titled=True)
    }


def _targets_none_shared(p: Mapping[str, Any], locale: str) -> str:
    return _("Shares no KMGBF target with the need (offer works on %(targets)s).") % {
        "targets": _targets(p["offer_targets"], locale, titled=False)
    }


def _works_on_targets(numbers_: Sequence[int], locale: str) -> str:
    return ngettext("Works on KMGBF target %(targets)s.", "Works on KMGBF targets %(targets)s.", len(numbers_)) % {
        "targets": _targets(numbers_, locale, titled=False)
    }


def _serves(p: Mapping[str, Any], locale: str) -> str:
    if not p["areas"] and not p["countries"]:
        return _("Lists no area it serves.")
    return _("Serves %(places)s.") % {"places": _places(p, locale)}


def _geography_outside(p: Mapping[str, Any], locale: str) -> str:
    country = _country(p["country"], locale)
    if not p["areas"] and not p["countries"]:
        return _("Does not list %(country)s or any area it serves.") % {"country": country}
    return _("Does not list %(country)s or its region (serves %(places)s).") % {
        "country": country,
        "places": _places(p, locale),
    }


def _area_of(message: str) -> Callable[[Mapping[str, Any], str], str]:
    def sentence(p: Mapping[str, Any], locale: str) -> str:
        return _(message) % {
            "country": _country(p["country"], locale),
            "area": vocab.label("region", p["area"], locale),
        }

    return sentence


def _assistance_shared(p: Mapping[str, Any], locale: str) -> str:
    types = p["types"]
    return ngettext("Provides %(types)s, as requested.", "Provides %(types)s, as requested.", len(types)) % {
        "types": _types(types, locale)
    }


def _availability(p: Mapping[str, Any], locale: str) -> str:
    problems = {
        "keyword_list": lambda: _("the description reads like a list of keywords"),
        "inactive": lambda: (
            _("the offer is %(status)s")
            % {"status": vocab.label("offer_status", p["status"], locale, in_sentence=True)}
        ),
        "no_capacity": lambda: _("the provider has no capacity left"),
    }
    said = [problems[code]() for code in p["problems"]]
    if not said:
        return _("Ranked lower because the offer is not available.")
    return _("Ranked lower because %(problems)s.") % {"problems": _list(said, locale)}


SENTENCES: Final[Mapping[str, Callable[[Mapping[str, Any], str], str]]] = {
    "offer": _offer,
    "offer.ranked": _offer_ranked,
    "saved_search": _saved_search,
    "targets.shared": _targets_shared,
    "targets.none_shared": _targets_none_shared,
    "targets.offer": lambda p, locale: _works_on_targets(p["offer_targets"], locale),
    "geography.serves": _serves,
    "geography.country": lambda p, locale: (
        _("Serves %(country)s directly.") % {"country": _country(p["country"], locale)}
    ),
    # The messages are marked here and translated when shown (_area_of calls gettext).
    "geography.sub_region": _area_of(N_("Serves %(area)s, the sub-region of %(country)s.")),
    "geography.region": _area_of(N_("Serves %(area)s, the region of %(country)s.")),
    "geography.global": lambda p, locale: _("Serves every region."),
    "geography.outside": _geography_outside,
    "assistance.shared": _assistance_shared,
    "assistance.other": lambda p, locale: (
        _("Provides %(types)s (requested: %(requested)s).")
        % {"types": _types(p["types"], locale), "requested": _types(p["requested"], locale)}
    ),
    "assistance.offer": lambda p, locale: _("Provides %(types)s.") % {"types": _types(p["types"], locale)},
    "language.shared": lambda p, locale: (
        _("Works in %(language)s, the language of the need.")
        % {"language": vocab.label("language", p["language"], locale, in_sentence=True)}
    ),
    "language.missing": lambda p, locale: (
        _("Does not list %(language)s among its working languages (%(languages)s).")
        % {
            "language": vocab.label("language", p["language"], locale, in_sentence=True),
            "languages": _languages(p["offer_languages"], locale),
        }
    ),
    "availability": _availability,
    "alert.targets": lambda p, locale: _works_on_targets(p["targets"], locale),
    "alert.area": lambda p, locale: (
        _("%(country)s is in the area you follow.") % {"country": _country(p["country"], locale)}
    ),
    "alert.assistance": lambda p, locale: _("Asks for %(types)s.") % {"types": _types(p["types"], locale)},
}
"""The sentence of each fact code, in the active language (``locale`` is that language, for the labels)."""
