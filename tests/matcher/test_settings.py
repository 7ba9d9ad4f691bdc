"""Settings come from POLLINATE_* variables with nested sections."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from matcher.settings import Settings


def test_defaults_put_everything_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("POLLINATE_DATABASE__URL", raising=False)
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/pollinate.db"
    assert settings.index_dir == tmp_path / "index"
    assert settings.cache_dir == tmp_path / "cache"


def test_nested_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLINATE_DATABASE__URL", "postgresql+psycopg://u@db.example/pollinate")
    monkeypatch.setenv("POLLINATE_API__PORT", "9001")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@db.example/pollinate"
    assert settings.api.port == 9001


def test_unknown_and_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Settings(api={"port": 0})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(database={"uri": "sqlite://"})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ['["10.0.0.1", "192.168.0.0/16"]', "10.0.0.1, 192.168.0.0/16"])
def test_trusted_proxies_from_a_json_list_or_commas(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("POLLINATE_API__TRUSTED_PROXIES", value)
    assert [str(p) for p in Settings().api.trusted_proxies] == ["10.0.0.1/32", "192.168.0.0/16"]


@pytest.mark.parametrize("value", ["*", "10.0.0.1/8", "proxy.example"])
def test_trusted_proxies_are_addresses_or_networks(value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(api={"trusted_proxies": [value]})  # type: ignore[arg-type]
