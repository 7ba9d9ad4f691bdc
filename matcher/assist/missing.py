"""What a draft need leaves out that providers need to answer it: rules on the text, plus the models.

A provider deciding whether it can help asks the same questions every time — where, how big, what has been
tried, by when, who would be trained, in which language — and the secretariat's helpdesk asks them back when a
need leaves them out (the "vague needs that may not be realistic" of CBD/WGRI/5/3 §16a). Each rule looks for
the words or numbers that answer one question, in English, French and Spanish; the models add what rules cannot
know: whether the text reads like a training request (then: who would be trained?), which targets and
assistance types to propose when none were chosen, and whether the chosen targets fit the text at all.

The check returns codes and parameters (:class:`Gap`), never sentences: the words shown to the Party, in its
language, are rendered by :mod:`matcher.assist.prompts`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matcher.assist.places import Place

# Below this, a description rarely says enough for a provider to reply without writing back (the shortest
# needs of the demo corpus and the dev set, 33-40 words, are the ones that leave most of the questions open).
MIN_WORDS = 40
# A label whose probability reaches this is what the text is about (the display threshold of the suggestions).
LIKELY = 0.5

_YEAR = r"(?:19|20)\d\d"
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]
_TIME_WORDS = [
    "month",
    "months",
    "week",
    "weeks",
    "year",
    "years",
    "deadline",
    "before",
    "until",
    "by",
    "the",
    "end",
    "of",
    "within",
    "mois",
    "semaine",
    "semaines",
    "an",
    "ans",
    "année",
    "années",
    "avant",
    "fin",
    "échéance",
    "délai",
    "d'ici",
    "mes",
    "meses",
    "semana",
    "semanas",
    "año",
    "años",
    "antes",
    "plazo",
    "finales",
    "hasta",
]

_RE = {
    "number": re.compile(rf"(?<![\w.,])(?!{_YEAR}\b)\d[\d,. ]*(?:\s?%)?", re.UNICODE),
    "when": re.compile(
        rf"\b(?:{_YEAR}|{'|'.join(_MONTHS)}|(?:within|in|dans|en|d'ici)\s+\w+\s+(?:months?|years?|weeks?|mois|ans?|"
        rf"années?|semaines?|mes(?:es)?|años?|semanas?)|by the end of|before the|deadline|échéance|d'ici|plazo|"
        rf"antes de|avant (?:la|le|l')|next (?:year|season)|l'an prochain|el próximo año)\b",
        re.IGNORECASE | re.UNICODE,
    ),
    "tried": re.compile(
        r"\b(?:tried|already|so far|until now|to date|previous(?:ly)?|existing|currently|we have (?:started|"
        r"begun|run|piloted|set up|used)|has been|have been|pilot(?:ed)?|attempts?|"
        r"déjà|essayé|tenté|jusqu'à présent|jusqu'ici|existant(?:e|s|es)?|actuellement|précédent|"
        r"ya |intentado|hasta ahora|hasta la fecha|existente(?:s)?|actualmente|anterior(?:es)?|hemos)\b",
        re.IGNORECASE | re.UNICODE,
    ),
    "people": re.compile(
        r"\b(?:staff|officers?|officials?|rangers?|technicians?|experts?|scientists?|teachers?|farmers?|"
        r"fishers?|people|participants?|trainees?|students?|inspectors?|wardens?|managers?|communit(?:y|ies)|"
        r"agents?|personnel|techniciens?|fonctionnaires?|gardes?|chercheurs?|agriculteurs?|pêcheurs?|"
        r"participants?|formateurs?|funcionarios?|técnicos?|guardaparques|guardas?|investigadores?|"
        r"agricultores?|pescadores?|personal|participantes?|docentes?|comunidades?)\b",
        re.IGNORECASE | re.UNICODE,
    ),
    "language": re.compile(
        r"\b(?:english|french|spanish|portuguese|arabic|russian|chinese|swahili|amharic|bahasa|indonesian|"
        r"malay|khmer|lao|vietnamese|thai|burmese|mongolian|hindi|bengali|nepali|urdu|persian|turkish|"
        r"tok pisin|bislama|creole|kreyòl|quechua|aymara|guaraní|guarani|wolof|hausa|yoruba|igbo|"
        r"anglais|français|espagnol|portugais|arabe|russe|chinois|créole|"
        r"inglés|francés|español|portugués|árabe|ruso|chino|criollo|lenguas? indígenas?|langues? locales?|"
        r"local languages?|in (?:our|the) language|langue|idioma|language)\b",
        re.IGNORECASE | re.UNICODE,
    ),
}


@dataclass(frozen=True, slots=True)
class Gap:
    """One thing the draft should say and does not.

    Attributes:
        field: the question it answers (``where``, ``scale``, ``tried``, ``when``, ``trainees``, ``language``,
            ``detail``, ``targets``, ``assistance_types``): stable, for forms to place the prompt.
        code: which prompt (a field may have several: ``targets`` has ``choose_targets`` and ``check_targets``).
        params: the values the prompt quotes (a country, suggested targets...).
    """

    field: str
    code: str
    params: Mapping[str, object] = dataclasses.field(default_factory=dict)


def _suggested(probabilities: Mapping[str, float], *, top: int = 3) -> list[str]:
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    return [label for label, p in ranked[:top] if p >= LIKELY] or [ranked[0][0]] if ranked else []


def missing(
    text: str,
    *,
    places: Sequence[Place],
    party: str | None,
    targets: Sequence[int],
    assistance_types: Sequence[str],
    target_probabilities: Mapping[str, float],
    type_probabilities: Mapping[str, float],
) -> list[Gap]:
    """The gaps of a draft need (``text``: title and description; the others: what the draft chose, what the
    text names and what the models read in it), in the order a form asks them."""
    gaps: list[Gap] = []
    words = len(text.split())
    if words < MIN_WORDS:
        gaps.append(Gap("detail", "too_short", {"words": words, "minimum": MIN_WORDS}))
    if not places:
        gaps.append(Gap("where", "where", {"party": party} if party else {}))
    if not _RE["number"].search(text):
        gaps.append(Gap("scale", "scale"))
    if not _RE["tried"].search(text):
        gaps.append(Gap("tried", "tried"))
    if not _RE["when"].search(text):
        gaps.append(Gap("when", "when"))
    wants_training = "training" in assistance_types or type_probabilities.get("training", 0.0) >= LIKELY
    if wants_training and not (_RE["people"].search(text) and _RE["number"].search(text)):
        gaps.append(Gap("trainees", "trainees"))
    if not _RE["language"].search(text):
        gaps.append(Gap("language", "language"))
    if not targets:
        gaps.append(
            Gap("targets", "choose_targets", {"suggested": [int(t) for t in _suggested(target_probabilities)]})
        )
    else:
        likely = {int(t) for t, p in target_probabilities.items() if p >= LIKELY}
        top5 = {int(t) for t, _ in sorted(target_probabilities.items(), key=lambda kv: -kv[1])[:5]}
        if likely and not (set(targets) & top5):
            gaps.append(Gap("targets", "check_targets", {"chosen": sorted(targets), "suggested": sorted(likely)}))
    if not assistance_types:
        gaps.append(Gap("assistance_types", "choose_types", {"suggested": _suggested(type_probabilities)}))
    return gaps
