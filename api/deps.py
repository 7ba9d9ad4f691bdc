"""Dependencies shared by the routers: the process-wide database, settings and matching service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matcher.alerts import AlertMatcher
from matcher.errors import NotReadyError
from matcher.service import MatchService
from matcher.settings import Settings
from models.db import Database


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


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MatchServiceDep = Annotated[MatchService, Depends(get_match_service)]
AlertMatcherDep = Annotated[AlertMatcher, Depends(get_alert_matcher)]
