"""Settings: one pydantic-settings object, built at the edges (CLI callback, ``create_app``) and passed down.

Every field can be set from the environment with the ``POLLINATE_`` prefix and ``__`` between a section and
its field: ``POLLINATE_DATA_DIR=/srv/pollinate``, ``POLLINATE_DATABASE__URL=postgresql+psycopg://...``,
``POLLINATE_API__PORT=9000``. ``Settings.table()`` lists them all (the README's settings table is generated
from it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.db import Database, sqlite_url


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pollinate", appauthor=False))


class DatabaseSettings(BaseModel):
    """Where the records live."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file `pollinate.db` in the data directory.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement.")
    busy_timeout_s: float = Field(
        default=30.0, gt=0, description="SQLite: how long a writer waits for the write lock."
    )


class ApiSettings(BaseModel):
    """The HTTP service."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Interface `pollinate serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `pollinate serve` listens on.")


class Settings(BaseSettings):
    """All of Pollinate's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="POLLINATE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Database file, index files and caches (default: the per-user data folder).",
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @property
    def database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file in the data directory."""
        return self.database.url or sqlite_url(self.data_dir / "pollinate.db")

    @property
    def index_dir(self) -> Path:
        """Where index files are written."""
        return self.data_dir / "index"

    @property
    def cache_dir(self) -> Path:
        """Where derived artefacts (exported models...) are cached."""
        return self.data_dir / "cache"

    def open_database(self) -> Database:
        """A :class:`Database` for the configured URL."""
        return Database(self.database_url, echo=self.database.echo, busy_timeout_s=self.database.busy_timeout_s)

    @classmethod
    def table(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting, for docs and ``--help``."""
        rows: list[tuple[str, str, str]] = []
        for name, field in cls.model_fields.items():
            annotation: Any = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                for sub, subfield in annotation.model_fields.items():
                    env = f"POLLINATE_{name}__{sub}".upper()
                    rows.append((env, repr(subfield.default), subfield.description or ""))
            else:
                rows.append((f"POLLINATE_{name}".upper(), "(per-user data folder)", field.description or ""))
        return rows
