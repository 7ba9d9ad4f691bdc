"""``matcher`` re-exports its public API from one stable place, without loading the engine until it is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import matcher
from matcher.engine.query import MatchFilters, NeedQuery
from matcher.engine.service import MatchService, create_embedder
from matcher.errors import PollinateError
from matcher.settings import Settings


def test_public_names_are_the_defining_objects() -> None:
    from matcher import MatchFilters as Filters
    from matcher import MatchService as Service
    from matcher import NeedQuery as Query
    from matcher import PollinateError as Error
    from matcher import Settings as Config
    from matcher import create_embedder as embedder_factory

    assert (Service, Query, Filters, Config, embedder_factory, Error) == (
        MatchService,
        NeedQuery,
        MatchFilters,
        Settings,
        create_embedder,
        PollinateError,
    )
    assert all(getattr(matcher, name) is not None for name in matcher.__all__)
    assert set(matcher.__all__) <= set(dir(matcher))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Matcher'"):
        _ = matcher.Matcher  # type: ignore[attr-defined]


def test_importing_settings_does_not_load_the_engine() -> None:
    code = "import sys, matcher.settings; print(sorted({'faiss', 'matcher.engine.service'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
