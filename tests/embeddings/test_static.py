"""The static (Model2Vec) copy of a sentence-transformers model: its id, folder, distillation and loading.

Distilling the packaged MiniLM runs 30k word pieces through six layers (about 50 s on one thread), so the fast
tests distil a tiny random BERT that uses MiniLM's own tokenizer (one layer, 32 wide: a few seconds); one `slow`
test distils the packaged model itself.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from embeddings.static import (
    MANIFEST_FILE,
    RECIPE,
    StaticEmbedder,
    distil_model,
    read_manifest,
    static_dir,
    static_model_id,
)
from embeddings.transformer import PACKAGED_MODEL, model_version, packaged_model_path
from matcher.engine.service import create_embedder
from matcher.settings import Settings

TEXTS = [
    "Restoring mangroves along the coast of Senegal with local fishing communities.",
    "Formation à la surveillance des récifs coralliens.",
    "Genetic barcoding of freshwater fish " * 200,  # longer than any transformer window
    "",
]
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer random BERT with the packaged model's tokenizer, saved as a local model folder."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).eval().save_pretrained(folder)
    for name in _TOKENIZER_FILES:
        shutil.copy(packaged_model_path() / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def distilled(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    directory = static_dir(cache, str(tiny_model))
    distil_model(str(tiny_model), directory, threads=1)
    return directory


def test_the_model_id_names_the_source_model_the_recipe_and_the_library() -> None:
    model_id = static_model_id()
    assert model_id.startswith(model_version(PACKAGED_MODEL) + "+static:")
    assert RECIPE in model_id and "pca256" in RECIPE
    assert "@model2vec==" in model_id
    # A static copy never shares cache rows (keyed by model id) with the transformer it came from.
    assert model_id != model_version(PACKAGED_MODEL)


def test_the_folder_is_keyed_by_the_model_id(tmp_path: Path, tiny_model: Path) -> None:
    packaged = static_dir(tmp_path)
    assert packaged.parent == tmp_path / "static"
    assert static_dir(tmp_path, str(tiny_model)) != packaged
    assert static_dir(tmp_path) == packaged


def test_distillation_writes_a_manifest_and_loads_as_unit_vectors(distilled: Path, tiny_model: Path) -> None:
    manifest = read_manifest(distilled)
    assert manifest is not None
    assert manifest["model_id"] == static_model_id(str(tiny_model)) and manifest["recipe"] == RECIPE
    assert manifest["vocabulary"] > 29_000  # every word piece but the [unused] ones
    embedder = StaticEmbedder(distilled)
    assert embedder.model_id == manifest["model_id"] and embedder.dim == manifest["dim"]
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim) and vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[:3], 1.0, atol=1e-5)
    assert norms[3] == 0.0  # no word piece: a zero vector, not NaN
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_a_long_text_is_read_whole(distilled: Path) -> None:
    """No 512-token truncation: words past the window change the vector."""
    embedder = StaticEmbedder(distilled)
    head = "Genetic barcoding of freshwater fish. " * 150
    a, b = embedder.embed([head + "coral reefs " * 100, head + "desert locusts " * 100])
    assert float(a @ b) < 0.9999


def test_distillation_is_deterministic(distilled: Path, tiny_model: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    manifest = distil_model(str(tiny_model), again, threads=1)
    first = read_manifest(distilled)
    assert first is not None and manifest["sha256"] == first["sha256"]
    np.testing.assert_array_equal(StaticEmbedder(again).embed(TEXTS), StaticEmbedder(distilled).embed(TEXTS))


def test_saved_weights_load_to_the_same_vectors(distilled: Path) -> None:
    np.testing.assert_array_equal(StaticEmbedder(distilled).embed(TEXTS), StaticEmbedder(distilled).embed(TEXTS))


def test_an_existing_distillation_is_kept_and_a_partial_one_is_not_loaded(distilled: Path, tmp_path: Path) -> None:
    before = (distilled / MANIFEST_FILE).stat().st_mtime_ns
    assert distil_model("no-such-model-folder", distilled) == read_manifest(distilled)  # kept: nothing loaded
    assert (distilled / MANIFEST_FILE).stat().st_mtime_ns == before
    partial = tmp_path / "partial"
    shutil.copytree(distilled, partial)
    (partial / MANIFEST_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="distil it first"):
        StaticEmbedder(partial)
    other_recipe = tmp_path / "other"
    shutil.copytree(distilled, other_recipe)
    manifest = json.loads((other_recipe / MANIFEST_FILE).read_text())
    (other_recipe / MANIFEST_FILE).write_text(json.dumps({**manifest, "recipe": "model2vec-older"}))
    assert read_manifest(other_recipe) is None


def test_distillation_and_loading_open_no_connection(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    embedder = StaticEmbedder.for_model(str(tiny_model), tmp_path, threads=1)
    assert embedder.embed(TEXTS[:1]).shape == (1, embedder.dim)


def test_the_setting_selects_the_static_copy_as_the_first_encoder(
    settings: Settings, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", str(tiny_model))
    monkeypatch.setenv("POLLINATE_EMBEDDING__ENGLISH_ENCODER", "static")
    monkeypatch.setenv("POLLINATE_EMBEDDING__MULTILINGUAL", "none")
    configured = Settings()
    embedder = create_embedder(configured)
    assert isinstance(embedder, StaticEmbedder)
    assert embedder.model_id == static_model_id(str(tiny_model))
    assert read_manifest(static_dir(configured.cache_dir, str(tiny_model))) is not None


@pytest.mark.slow
def test_the_packaged_model_distils_into_a_static_model_that_keeps_its_sense(tmp_path: Path) -> None:
    embedder = StaticEmbedder.for_model(PACKAGED_MODEL, tmp_path, threads=1)
    assert embedder.dim == 256 and embedder.model_id == static_model_id()
    need, mangroves, locusts = embedder.embed(
        [
            "We need help to restore mangrove forests on the Senegalese coast.",
            "Training in mangrove restoration and coastal wetland monitoring.",
            "Control of desert locust swarms with drones.",
        ]
    )
    assert float(need @ mangroves) > float(need @ locusts) + 0.1
