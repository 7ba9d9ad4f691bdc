"""The words of the missing-information prompts, in English, French and Spanish.

The check (:mod:`matcher.assist.missing`) returns a code and parameters; an adapter (the HTTP route, the CLI,
the need form) renders them here in the reader's language. Each prompt speaks to the Party writing the need
("say where…"), asks one question, and says why a provider needs the answer. Labels quoted in a prompt (a
country, a target, an assistance type) come from the vocabularies in the same language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from matcher.assist.missing import Gap
from models import vocabularies as vocab

LANGUAGES: Final = ("en", "fr", "es")

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    "too_short": {
        "en": "Your description has {words} words. Providers usually need at least {minimum} to judge whether "
        "they can help: describe the situation, the problem and what you would like to achieve.",
        "fr": "Votre description compte {words} mots. Les prestataires en ont généralement besoin d'au moins "
        "{minimum} pour juger s'ils peuvent aider : décrivez la situation, le problème et ce que vous "
        "souhaitez obtenir.",
        "es": "Su descripción tiene {words} palabras. Los proveedores suelen necesitar al menos {minimum} para "
        "saber si pueden ayudar: describa la situación, el problema y lo que desea lograr.",
    },
    "where": {
        "en": "Say where the work would take place: the provinces, sites or ecosystems concerned. Providers "
        "check first whether they can work there.",
        "fr": "Indiquez où le travail aurait lieu : les provinces, sites ou écosystèmes concernés. Les "
        "prestataires vérifient d'abord s'ils peuvent y travailler.",
        "es": "Indique dónde se realizaría el trabajo: las provincias, los sitios o los ecosistemas afectados. "
        "Los proveedores comprueban primero si pueden trabajar allí.",
    },
    "where_party": {
        "en": "Say where in {party} the work would take place: the provinces, sites or ecosystems concerned. "
        "Providers check first whether they can work there.",
        "fr": "Indiquez où, dans le pays ({party}), le travail aurait lieu : les provinces, sites ou écosystèmes "
        "concernés. Les prestataires vérifient d'abord s'ils peuvent y travailler.",
        "es": "Indique en qué lugar de {party} se realizaría el trabajo: las provincias, los sitios o los "
        "ecosistemas afectados. Los proveedores comprueban primero si pueden trabajar allí.",
    },
    "scale": {
        "en": "Give the scale: how many hectares, sites, species or people are concerned. It tells a provider "
        "how much work and money the request means.",
        "fr": "Précisez l'ampleur : combien d'hectares, de sites, d'espèces ou de personnes sont concernés. Cela "
        "indique au prestataire le travail et le budget que représente la demande.",
        "es": "Indique la escala: cuántas hectáreas, sitios, especies o personas están implicados. Así el "
        "proveedor sabe cuánto trabajo y dinero supone la solicitud.",
    },
    "tried": {
        "en": "Say what has already been done or tried, and what did not work. Providers can then build on it "
        "rather than repeat it.",
        "fr": "Dites ce qui a déjà été fait ou essayé, et ce qui n'a pas fonctionné. Les prestataires pourront "
        "s'appuyer dessus plutôt que le refaire.",
        "es": "Explique qué se ha hecho o intentado ya y qué no ha funcionado. Así los proveedores pueden "
        "partir de ello en lugar de repetirlo.",
    },
    "when": {
        "en": "Say by when you need the support, or how long it should last. Providers plan their capacity months "
        "ahead.",
        "fr": "Indiquez pour quand vous avez besoin de l'appui, ou combien de temps il devrait durer. Les "
        "prestataires planifient leurs capacités des mois à l'avance.",
        "es": "Indique para cuándo necesita el apoyo o cuánto debería durar. Los proveedores planifican su "
        "capacidad con meses de antelación.",
    },
    "trainees": {
        "en": "Say who would be trained and how many: their role (rangers, technicians, officials...) and their "
        "current level. A course is designed for its audience.",
        "fr": "Précisez qui serait formé et combien de personnes : leur fonction (gardes, techniciens, "
        "fonctionnaires...) et leur niveau actuel. Une formation se conçoit pour son public.",
        "es": "Indique quién recibiría la capacitación y cuántas personas: su función (guardaparques, técnicos, "
        "funcionarios...) y su nivel actual. Un curso se diseña para su público.",
    },
    "language": {
        "en": "Say in which language the support should be given (and any local languages). Many providers work "
        "in only some languages.",
        "fr": "Précisez dans quelle langue l'appui devrait être fourni (et les éventuelles langues locales). "
        "Beaucoup de prestataires ne travaillent que dans certaines langues.",
        "es": "Indique en qué idioma debería prestarse el apoyo (y las lenguas locales, si las hay). Muchos "
        "proveedores solo trabajan en algunos idiomas.",
    },
    "choose_targets": {
        "en": "Choose the KMGBF targets this need serves. From your text, likely: {suggested}.",
        "fr": "Choisissez les cibles du Cadre mondial de la biodiversité auxquelles ce besoin contribue. "
        "D'après votre texte, probablement : "
        "{suggested}.",
        "es": "Elija las metas del Marco Mundial de Biodiversidad a las que contribuye esta necesidad. "
        "Según su texto, probablemente: "
        "{suggested}.",
    },
    "check_targets": {
        "en": "Check the targets you chose ({chosen}): your text reads more like {suggested}. Providers search by "
        "target, and the right ones bring the right offers.",
        "fr": "Vérifiez les cibles choisies ({chosen}) : votre texte correspond plutôt à {suggested}. Les "
        "prestataires cherchent par cible, et les bonnes cibles amènent les bonnes offres.",
        "es": "Revise las metas elegidas ({chosen}): su texto se parece más a {suggested}. Los proveedores buscan "
        "por meta, y las metas correctas traen las ofertas adecuadas.",
    },
    "choose_types": {
        "en": "Choose the kinds of assistance you need. From your text, likely: {suggested}.",
        "fr": "Choisissez les types d'appui dont vous avez besoin. D'après votre texte, probablement : "
        "{suggested}.",
        "es": "Elija los tipos de asistencia que necesita. Según su texto, probablemente: {suggested}.",
    },
}


def _targets(numbers: object, lang: str) -> str:
    assert isinstance(numbers, list)
    return ", ".join(f"{n} ({vocab.label('target', n, lang)})" for n in numbers)


def _types(codes: object, lang: str) -> str:
    assert isinstance(codes, list)
    return ", ".join(vocab.label("assistance_type", c, lang).lower() for c in codes)


def render(gap: Gap, language: str) -> str:
    """The prompt for ``gap`` in ``language`` (English for a language without prompts)."""
    lang = language if language in LANGUAGES else "en"
    code = gap.code
    params: dict[str, object] = dict(gap.params)
    if code == "where" and params.get("party"):
        code = "where_party"
        params["party"] = vocab.label("country", str(params["party"]), lang)
    for name in ("suggested", "chosen"):
        if name in params:
            show = _types if code == "choose_types" else _targets
            params[name] = show(params[name], lang)
    return MESSAGES[code][lang].format(**params)
