"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

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


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
