"""Turning a text into index terms in its own language (the analysis BM25 and the keyword check share).

Each text is analysed in the language it is written in (``texts.detect_language``, or the language given):

- **en, fr, es, ru, ar** (and the other languages Snowball knows): lower-cased words, that language's stop words
  removed, then that language's Snowball stemmer (PyStemmer). Before, every text went through the English
  stemmer with English, French and Spanish stop words: a Spanish need's "especies"/"especie" or a Russian one's
  "видов"/"виды" never met.
- **ar**: normalised first, as Arabic retrieval systems do (Lucene's ``ArabicNormalizer``): diacritics (harakat)
  and tatweel dropped, alef with hamza or madda read as bare alef, alef maqsura as ya, ta marbuta as ha, so that
  spelling variants of one word meet before stemming.
- **zh** (and Japanese): runs of Han characters become overlapping character bigrams (Lucene's
  ``CJKAnalyzer``), since Chinese is written without spaces; a lone character stays a unigram. No dictionary is
  needed, so nothing is downloaded or built at run time. Latin words inside (species names, acronyms) are
  analysed as English.

Terms of different languages share one vocabulary: a stem of one language seldom equals another's, and when it
does (a shared Latin name) the match is wanted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import cache
from typing import Final

import bm25s.stopwords
import Stemmer

# Snowball stemmer per ISO 639-1 code (the languages of the demo corpus, the UN's six and a few neighbours).
STEMMERS: Final = {
    "ar": "arabic",
    "ca": "catalan",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "id": "indonesian",
    "it": "italian",
    "nl": "dutch",
    "pt": "portuguese",
    "ru": "russian",
    "tr": "turkish",
}
CJK: Final = frozenset({"zh", "ja"})

_HAN: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD: Final = re.compile(r"(?u)\b\w\w+\b")
_ARABIC_DIACRITICS: Final = re.compile(r"[\u064b-\u0652\u0670\u0640]")  # harakat, dagger alef, tatweel
_ARABIC_LETTERS: Final = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})


def normalise_arabic(text: str) -> str:
    """Arabic spelling variants folded together (diacritics, hamza on alef, alef maqsura, ta marbuta)."""
    return _ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_LETTERS)


# Frequent Arabic function words (prepositions, conjunctions, pronouns, particles): bm25s ships no Arabic list.
# Normalised like the text they are looked up in.
_ARABIC_STOPWORDS: Final = frozenset(
    normalise_arabic(word)
    for word in (
        "في",
        "من",
        "إلى",
        "على",
        "عن",
        "مع",
        "أن",
        "أو",
        "ثم",
        "حتى",
        "إذا",
        "كما",
        "لكن",
        "بل",
        "قد",
        "لقد",
        "لم",
        "لن",
        "لا",
        "ما",
        "هل",
        "هذا",
        "هذه",
        "ذلك",
        "تلك",
        "هو",
        "هي",
        "هم",
        "هن",
        "نحن",
        "أنا",
        "أنت",
        "التي",
        "الذي",
        "الذين",
        "كل",
        "بعض",
        "غير",
        "بين",
        "عند",
        "منذ",
        "خلال",
        "حول",
        "ضد",
        "دون",
        "لدى",
        "عبر",
        "وفي",
        "ومن",
        "وإلى",
        "وعلى",
        "وعن",
        "ومع",
        "وأن",
        "أيضا",
        "كان",
        "كانت",
        "يكون",
        "تكون",
        "فيه",
        "فيها",
        "منه",
        "منها",
        "عليه",
        "عليها",
        "إليه",
        "لها",
        "له",
        "لهم",
        "به",
        "بها",
        "مثل",
        "حسب",
        "بعد",
        "قبل",
        "كذلك",
        "ذات",
        "أي",
        "إلا",
        "نحو",
        "حيث",
        "وهي",
        "وهو",
        "وكذلك",
        "ولا",
    )
)

STOPWORDS: Final = {
    "en": frozenset(bm25s.stopwords.STOPWORDS_EN),
    "fr": frozenset(bm25s.stopwords.STOPWORDS_FRENCH),
    "es": frozenset(bm25s.stopwords.STOPWORDS_SPANISH),
    "pt": frozenset(bm25s.stopwords.STOPWORDS_PORTUGUESE),
    "it": frozenset(bm25s.stopwords.STOPWORDS_ITALIAN),
    "de": frozenset(bm25s.stopwords.STOPWORDS_GERMAN),
    "ru": frozenset(bm25s.stopwords.STOPWORDS_RUSSIAN),
    "ar": _ARABIC_STOPWORDS,
    "zh": frozenset(bm25s.stopwords.STOPWORDS_CHINESE),
}
# The function words the keyword-stuffing check counts: those of the alphabetic UN languages (its thresholds
# were measured on en/fr/es texts; Chinese is written without spaces and is not judged).
FUNCTION_WORDS: Final = frozenset().union(*(STOPWORDS[lang] for lang in ("en", "fr", "es", "ru", "ar")))


def han_bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a run of Han characters (the run itself when it is one character)."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


_local = threading.local()  # PyStemmer stemmers are not thread-safe: one set per thread


@cache
def _snowball_name(language: str) -> str:
    return STEMMERS.get(language, "english")


def _stemmer(language: str) -> Stemmer.Stemmer:
    stemmers: dict[str, Stemmer.Stemmer] = getattr(_local, "stemmers", None) or {}
    _local.stemmers = stemmers
    name = _snowball_name(language)
    if name not in stemmers:
        stemmers[name] = Stemmer.Stemmer(name)
    return stemmers[name]


def analyse(text: str, language: str) -> list[str]:
    """The index terms of ``text`` written in ``language`` (ISO 639-1; unknown languages are read as English)."""
    text = text.lower()
    terms: list[str] = []
    if language in CJK or _HAN.search(text):
        han_stop = STOPWORDS["zh"]
        terms.extend(b for run in _HAN.findall(text) for b in han_bigrams(run) if b not in han_stop)
        text = _HAN.sub(" ", text)
        if language in CJK:
            language = "en"  # the Latin words left: species names, acronyms, English terms
    if language == "ar":
        text = normalise_arabic(text)
    stop = STOPWORDS.get(language, STOPWORDS["en"])
    words = [w for w in _WORD.findall(text) if w not in stop]
    terms.extend(_stemmer(language).stemWords(words))
    return terms


def analyse_all(texts: Sequence[str], languages: Sequence[str]) -> list[list[str]]:
    """:func:`analyse` of each text in its language."""
    return [analyse(text, language) for text, language in zip(texts, languages, strict=True)]
