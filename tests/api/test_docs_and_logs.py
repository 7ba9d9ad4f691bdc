"""The README's curl example works against the demo, and request logs never carry a key or a body."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from embeddings import FakeEmbedder
from matcher.records.seed import demo_keys, seed_demo
from matcher.settings import Settings
from models import migrate

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_post_need() -> tuple[str, dict[str, object]]:
    """The path and JSON body of the README's `curl -X POST .../v1/needs` example."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"curl -s -X POST (http://\S+/v1/needs) \\\n(.*?)\n#", text, re.DOTALL)
    assert match, "the README has no curl example posting a need"
    words = shlex.split(match.group(2).replace("\\\n", " "))
    return match.group(1).removeprefix("http://127.0.0.1:8000"), json.loads(words[words.index("-d") + 1])


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    settings = Settings(data_dir=tmp_path)
    db = settings.open_database()
    migrate.upgrade(db)
    seed_demo(db)
    keys = {k.role: k.secret for k in demo_keys(db)}
    db.dispose()
    return settings, keys


def test_the_readme_curl_example_posts_a_need_and_gets_explained_providers(
    demo: tuple[Settings, dict[str, str]],
) -> None:
    settings, keys = demo
    path, body = readme_post_need()
    with TestClient(create_app(settings, embedder=FakeEmbedder(dim=64))) as client:
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {keys['party']}"})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["need"]["party"] == "KEN" and answer["need"]["title"] == body["title"]
    matches = answer["ranking"]["matches"]
    assert len(matches) == 10
    assert all(m["explanation"]["text"] and m["explanation"]["reasons"] for m in matches)


def test_demo_keys_are_fresh_at_every_start(demo: tuple[Settings, dict[str, str]]) -> None:
    settings, old = demo
    db = settings.open_database()
    new = {k.role: k.secret for k in demo_keys(db)}
    db.dispose()
    assert set(new) == {"party", "provider", "secretariat"} and not set(new.values()) & set(old.values())
    with TestClient(create_app(settings, embedder=FakeEmbedder(dim=64))) as client:
        assert client.get("/v1/me", headers={"Authorization": f"Bearer {old['party']}"}).status_code == 401
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {new['party']}"}).json()
    assert me["role"] == "party" and me["country"] == "KEN"


def test_request_logs_have_an_id_and_no_secrets(
    demo: tuple[Settings, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, keys = demo
    _, body = readme_post_need()
    with TestClient(create_app(settings, embedder=FakeEmbedder(dim=64))) as client:
        capsys.readouterr()
        response = client.post(
            "/v1/needs?k=3",
            json=body,
            headers={"Authorization": f"Bearer {keys['party']}", "X-Request-ID": "req-123"},
        )
        assert response.headers["X-Request-ID"] == "req-123"
        client.get("/v1/me", headers={"Authorization": "Bearer pk_0123456789abcdef_not-a-real-secret"})
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request"]
    assert access[0]["request_id"] == "req-123" and access[0]["status"] == 201 and access[0]["role"] == "party"
    assert access[1]["status"] == 401
    key_secret = keys["party"].split("_", 2)[2]
    for forbidden in (key_secret, "not-a-real-secret", str(body["description"])[:40], "Bearer"):
        assert forbidden not in logged


def test_oversized_bodies_are_refused_before_parsing(demo: tuple[Settings, dict[str, str]]) -> None:
    settings, keys = demo
    small = settings.model_copy(update={"api": settings.api.model_copy(update={"max_body_bytes": 4096})})
    with TestClient(create_app(small, embedder=FakeEmbedder(dim=64))) as client:
        response = client.post(
            "/v1/match",
            content=json.dumps({"text": "x" * 10_000}),
            headers={"Authorization": f"Bearer {keys['party']}", "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_streamed_oversized_bodies_are_refused_too(demo: tuple[Settings, dict[str, str]]) -> None:
    settings, keys = demo
    small = settings.model_copy(update={"api": settings.api.model_copy(update={"max_body_bytes": 4096})})

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield b'{"text": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    with TestClient(create_app(small, embedder=FakeEmbedder(dim=64))) as client:
        response = client.post(
            "/v1/match",
            content=chunks(),
            headers={"Authorization": f"Bearer {keys['party']}", "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_an_unexpected_error_is_logged_with_its_request_id_and_traceback(
    demo: tuple[Settings, dict[str, str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, keys = demo

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("matcher.records.needs.get_need", broken)
    app = create_app(settings, embedder=FakeEmbedder(dim=64))
    with TestClient(app, raise_server_exceptions=False) as client:
        capsys.readouterr()
        response = client.get(
            "/v1/needs/1", headers={"Authorization": f"Bearer {keys['party']}", "X-Request-ID": "req-500"}
        )
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "unexpected error; it has been logged"}
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    error = next(line for line in lines if line.get("event") == "unexpected error")
    assert error["request_id"] == "req-500" and error["level"] == "error"
    assert "Traceback" in error["exception"] and "disk on fire" in error["exception"]
