"""A saved search written in one language fires on needs written in another (the default encoders)."""

from __future__ import annotations

import pytest

from embeddings.composite import CompositeEmbedder
from matcher.access.rules import Principal
from matcher.alerts import subscriptions
from matcher.alerts.reverse import AlertMatcher
from matcher.engine.query import NeedQuery
from matcher.engine.service import MatchService
from matcher.settings import NotificationSettings
from models.db import Database
from models.orm import Organisation

SAVED_SEARCH = "restauración de manglares con las comunidades costeras"  # Spanish
MANGROVES = {
    "fr": (
        "Restaurer les mangroves du delta du Saloum",
        "Nous avons besoin d'aide pour replanter les mangroves dégradées du delta avec les villages de pêcheurs.",
    ),
    "en": (
        "Restoring mangroves in the Saloum delta",
        "We need help replanting degraded mangroves in the delta with the fishing villages.",
    ),
    "zh": ("恢复萨卢姆三角洲的红树林", "我们需要帮助，与渔村一起在三角洲重新种植退化的红树林。"),
}
BATS = {
    "fr": (
        "Inventaire des chauves-souris des grottes",
        "Nous voulons recenser les colonies de chauves-souris dans les grottes calcaires du pays.",
    ),
    "en": ("Bat survey in caves", "We want to count bat colonies in the limestone caves of the country."),
}


def _need(language: str, text: tuple[str, str]) -> NeedQuery:
    return NeedQuery(
        title=text[0], description=text[1], targets=(), assistance_types=(), language=language, party="SEN"
    )


@pytest.fixture
def matcher(sqlite_db: Database, multilingual_embedder: CompositeEmbedder) -> AlertMatcher:
    with sqlite_db.transaction() as session:
        org = Organisation(name="Manglares Vivos", org_type="ngo", country="ESP")
        session.add(org)
        session.flush()
        who = Principal(role="provider", user_id=None, organisation_id=org.id)
        values = {"kind": "query", "query": SAVED_SEARCH, "min_score": 0.2}
        subscriptions.create_subscription(session, who, values, NotificationSettings())
    service = MatchService(sqlite_db, multilingual_embedder)
    service.start()
    return AlertMatcher(service)


@pytest.mark.parametrize("language", sorted(MANGROVES))
def test_a_spanish_saved_search_fires_on_a_mangrove_need_in_another_language(
    matcher: AlertMatcher, language: str
) -> None:
    alerts = matcher.alerts(_need(language, MANGROVES[language]), visibility="public", status="open")
    assert len(alerts) == 1, language


@pytest.mark.parametrize("language", sorted(BATS))
def test_the_spanish_saved_search_stays_silent_on_an_unrelated_need(matcher: AlertMatcher, language: str) -> None:
    assert matcher.alerts(_need(language, BATS[language]), visibility="public", status="open") == []
