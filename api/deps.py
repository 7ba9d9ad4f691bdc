"""Dependencies shared by the routers: the process-wide database, settings and matching service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from matcher.alerts.reverse import AlertMatcher
from matcher.assist.service import AssistService
from matcher.engine.service import MatchService
from matcher.errors import InvalidInputError, NotReadyError, UnknownTermError
from matcher.settings import Settings
from matcher.usecases.needs import NeedService
from models.db import Database

T = TypeVar("T")


def get_db(request: Request) -> Database:
    """The process-wide database opened by the lifespan."""
    db = request.app.state.db
    assert isinstance(db, Database)
    return db


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_match_service(request: Request) -> MatchService:
    """The process-wide matching service (model and index loaded by the lifespan, or once the schema is
    current)."""
    holder = getattr(request.app.state, "services", None)
    service = holder.start_if_ready() if holder is not None else None
    if not isinstance(service, MatchService):
        raise NotReadyError("the matching service is not ready: the database schema is not current")
    return service


def get_alert_matcher(
    request: Request, service: Annotated[MatchService, Depends(get_match_service)]
) -> AlertMatcher:
    """The process-wide subscription matcher (started with the matching service)."""
    alerts = request.app.state.services.alerts
    assert isinstance(alerts, AlertMatcher)
    assert alerts.service is service
    return alerts


def get_need_service(request: Request, alerts: Annotated[AlertMatcher, Depends(get_alert_matcher)]) -> NeedService:
    """Posting and changing needs, over the process's matching service and subscription matcher."""
    return NeedService(alerts.service, alerts, get_settings(request).notifications)


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MatchServiceDep = Annotated[MatchService, Depends(get_match_service)]
AlertMatcherDep = Annotated[AlertMatcher, Depends(get_alert_matcher)]
NeedServiceDep = Annotated[NeedService, Depends(get_need_service)]


def vocabulary(values: Iterable[str], parse: Callable[[str], T], field: str) -> tuple[T, ...]:
    """Query values turned into vocabulary terms (422 naming the field and the closest valid values)."""
    try:
        return tuple(dict.fromkeys(parse(v) for v in values))
    except UnknownTermError as exc:
        raise InvalidInputError(str(exc), field=field) from exc


def get_assist_service(
    request: Request, service: Annotated[MatchService, Depends(get_match_service)]
) -> AssistService:
    """The process-wide assistant (started with the matching service, sharing its embedding store)."""
    assist = request.app.state.services.assist
    assert isinstance(assist, AssistService)
    return assist


AssistServiceDep = Annotated[AssistService, Depends(get_assist_service)]
