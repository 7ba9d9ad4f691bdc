"""``/v1/vocabularies/...``: the controlled values the API accepts (readable without a key)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from api.routers.common import ERRORS
from api.schemas import VocabularyItem
from models import vocabularies as vocab

router = APIRouter(prefix="/v1/vocabularies", tags=["vocabularies"], responses=ERRORS)

Name = Literal["targets", "regions", "countries", "assistance-types", "organisation-types", "languages"]


def _label(value: str) -> str:
    return vocab.ASSISTANCE_LABELS.get(value, value.replace("_", " "))


@router.get("/{name}", response_model=list[VocabularyItem], summary="A controlled vocabulary")
def vocabulary(name: Name) -> list[VocabularyItem]:
    """KMGBF targets (with titles and summaries), regions (Global, M49 regions and sub-regions), countries
    (ISO alpha-3 with their M49 placement), assistance types, organisation types or ISO 639-1 languages."""
    if name == "targets":
        return [
            VocabularyItem(value=t.number, label=t.title, extra={"summary": t.summary})
            for t in vocab.targets().values()
        ]
    if name == "regions":
        items = [VocabularyItem(value=vocab.GLOBAL, label=vocab.GLOBAL, extra={"level": "global"})]
        for region, subs in vocab.regions().items():
            items.append(VocabularyItem(value=region, label=region, extra={"level": "region"}))
            items += [
                VocabularyItem(value=s, label=s, extra={"level": "sub-region", "region": region}) for s in subs
            ]
        return items
    if name == "countries":
        return [
            VocabularyItem(
                value=c.alpha3,
                label=c.name,
                extra={"alpha2": c.alpha2, "region": c.region, "sub_region": c.sub_region},
            )
            for c in vocab.countries().values()
        ]
    if name == "assistance-types":
        return [VocabularyItem(value=t, label=_label(t)) for t in vocab.ASSISTANCE_TYPES]
    if name == "organisation-types":
        return [VocabularyItem(value=t, label=_label(t)) for t in vocab.ORGANISATION_TYPES]
    return [VocabularyItem(value=lang.code, label=lang.name) for lang in vocab.languages().values()]
