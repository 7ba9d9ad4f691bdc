"""Per-language analysis for BM25: each language's stemmer, Arabic normalisation, Chinese bigrams."""

from __future__ import annotations

import numpy as np

from matcher.engine.analysis import analyse, han_bigrams, normalise_arabic
from matcher.engine.lexical import LexicalIndex


def test_inflected_forms_meet_under_their_own_language_stemmer() -> None:
    # The English stemmer left these apart ("especi" vs "especies"; Cyrillic untouched).
    assert analyse("especies", "es") == analyse("especie", "es")
    assert analyse("видов", "ru") == analyse("виды", "ru")
    assert analyse("espèces", "fr") == analyse("espèce", "fr")


def test_stop_words_of_the_text_language_are_dropped() -> None:
    assert analyse("и в на для степей", "ru") == analyse("степей", "ru")
    assert analyse("في المراعي", "ar") == analyse("المراعي", "ar")


def test_arabic_spelling_variants_fold_together() -> None:
    # Hamza on alef, ta marbuta, alef maqsura and diacritics are written inconsistently.
    assert normalise_arabic("أَرْض") == normalise_arabic("ارض")
    assert normalise_arabic("محمية") == normalise_arabic("محميه")
    assert normalise_arabic("على") == normalise_arabic("علي")
    assert analyse("إعادة تأهيل", "ar") == analyse("اعاده تاهيل", "ar")


def test_chinese_runs_become_character_bigrams_and_latin_words_stay_words() -> None:
    assert han_bigrams("保护地") == ["保护", "护地"]
    assert han_bigrams("林") == ["林"]
    terms = analyse("红树林保护 IUCN", "zh")
    assert {"红树", "树林", "保护", "iucn"} <= set(terms)


def test_bm25_matches_a_chinese_query_without_spaces_to_the_chinese_offer() -> None:
    index = LexicalIndex()
    index.append(
        [
            "我们帮助社区恢复红树林并开展监测培训。",
            "我们提供城市绿地规划和海绵城市技术咨询。",
            "We restore mangroves with coastal communities.",
        ]
    )
    scores = index.scores_batch(["请帮助我们恢复红树林"])[0]
    assert int(np.argmax(scores)) == 0
    assert scores[0] > scores[1] >= 0.0


def test_bm25_matches_russian_inflections() -> None:
    index = LexicalIndex()
    index.append(["Восстановление степей на заброшенных пашнях.", "Охрана снежного барса в горах."])
    scores = index.scores_batch(["восстановить степь"])[0]
    assert scores[0] > 0.0 and scores[1] == 0.0
