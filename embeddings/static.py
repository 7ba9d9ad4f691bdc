"""A static (Model2Vec) copy of the sentence-transformers model: one vector per word piece, a text is their mean.

Why: issue 16's budget for the default setup is one need in at most 60 ms and at least 40 offers/s, both on one
thread, and MiniLM's six transformer layers alone index 12 to 35 offers/s. Model2Vec (the ``model2vec``
package) *distils* the model once: every word piece of its vocabulary is run through the transformer alone
(``[CLS] piece [SEP]``, mean-pooled), the 384-d outputs are reduced by PCA and weighted by an estimate of the
piece's frequency (SIF, from its rank in the vocabulary). Embedding a text is then a tokenizer call and a mean of
table rows: no network runs at all.

Where the weights come from: :func:`distil_model` distils the configured model (the packaged all-MiniLM-L6-v2 by
default) into the cache, ``<cache>/static/<model and recipe>/``, on first use (about 50 s on one thread, 15 MB
written) — as the ONNX export of :mod:`embeddings.onnx` is made — under a file lock, so two processes starting
together distil once. Nothing is downloaded: the source model is read from its folder (``HF_HUB_OFFLINE=1``) and
Model2Vec never asks the Hub about a local path. The folder is keyed by the model id, which names the source
model's id, the recipe (:data:`RECIPE`) and the ``model2vec`` version: another recipe or library is another
folder and other cache entries, never a mix.

A static model has no window: a long text is embedded whole (``max_length=None``), without chunking.

Dependencies: ``model2vec`` is pinned without its ``distill`` extra, which caps ``transformers`` below 5.4 while
sentence-transformers here brings 5.25; distillation needs only ``skeletoken`` besides what is installed (pinned
too), and :func:`distil_model` is tested on the installed versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embeddings.base import file_lock, l2_normalise
from embeddings.transformer import PACKAGED_MODEL, model_version, packaged_model_path

__all__ = [
    "MANIFEST_FILE",
    "PCA_DIMS",
    "RECIPE",
    "StaticEmbedder",
    "distil_model",
    "read_manifest",
    "static_dir",
    "static_model_id",
]

# The distillation recipe, recorded in the model id: Model2Vec's defaults (mean pooling, SIF 1e-4, float16
# table) with 256 PCA components. A change here is a new model id, so a new folder and new cache entries.
PCA_DIMS = 256
SIF_COEFFICIENT = 1e-4
RECIPE = f"model2vec-mean-pca{PCA_DIMS}-sif{SIF_COEFFICIENT:g}-fp16"
MANIFEST_FILE = "static.json"

_log = logging.getLogger(__name__)


def static_model_id(model: str = PACKAGED_MODEL) -> str:
    """The model id of ``model``'s static copy: the source model's id, the recipe and the library version."""
    return f"{model_version(model)}+static:{RECIPE}@model2vec=={version('model2vec')}"


def static_dir(cache_dir: Path, model: str = PACKAGED_MODEL) -> Path:
    """Folder of ``model``'s static copy under ``cache_dir``: ``cache_dir/static/<model key>``."""
    model_id = static_model_id(model)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id.split("@", 1)[0]).strip("-")[-48:]
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:12]
    return cache_dir / "static" / f"{slug}-{digest}"


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a complete distillation in ``directory``, or None (missing, partial or another recipe)."""
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("recipe") != RECIPE or not (directory / "model.safetensors").exists():
        return None
    return manifest


def distil_model(
    model: str, directory: Path, *, threads: int | None = None, force: bool = False
) -> dict[str, Any]:
    """Distil ``model`` into ``directory`` (once: an existing distillation of the same recipe is kept).

    The weights are written to a temporary folder beside ``directory`` and the manifest last, so a killed
    distillation leaves no folder that :func:`read_manifest` accepts.

    Args:
        model: ``"all-MiniLM-L6-v2"`` for the packaged copy, or a local sentence-transformers folder.
        directory: the target folder (:func:`static_dir`).
        threads: torch threads for the forward passes (``None`` keeps torch's setting).
        force: distil again even if a distillation is there.

    Returns:
        The manifest: ``model_id``, ``recipe``, ``source``, ``dim``, ``vocabulary``, ``seconds``, ``sha256``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    directory.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(directory.parent / f".{directory.name}.lock"):
        existing = read_manifest(directory)
        if existing is not None and not force:
            return existing
        import torch
        import transformers
        from model2vec.distill import distill

        transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        if threads is not None:
            torch.set_num_threads(threads)
        source = str(packaged_model_path()) if model == PACKAGED_MODEL else model
        started = time.perf_counter()
        static = distill(model_name=source, pca_dims=PCA_DIMS, sif_coefficient=SIF_COEFFICIENT)
        seconds = time.perf_counter() - started
        # Saved without a window (texts are read whole), so loading with max_length=None matches the config and
        # model2vec does not warn "does not match config value 512" in every process that loads it.
        static.max_length = None
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        static.save_pretrained(str(partial))
        weights = (partial / "model.safetensors").read_bytes()
        manifest = {
            "model_id": static_model_id(model),
            "recipe": RECIPE,
            "source": model,
            "dim": int(static.embedding.shape[1]),
            "vocabulary": int(static.embedding.shape[0]),
            "seconds": round(seconds, 1),
            "sha256": hashlib.sha256(weights).hexdigest(),
        }
        (partial / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        shutil.rmtree(directory, ignore_errors=True)
        partial.rename(directory)
        _log.info("distilled %s into %s in %.1f s", model, directory, seconds)
        return manifest


class StaticEmbedder:
    """Embeddings from a distilled static model (see the module docstring): L2-normalised, ``dim`` = 256.

    Args:
        directory: a complete distillation (:func:`distil_model`).
        batch_size: texts per table lookup.
    """

    def __init__(self, directory: Path, *, batch_size: int = 32) -> None:
        manifest = read_manifest(directory)
        if manifest is None:
            raise FileNotFoundError(f"no static model of recipe {RECIPE} in {directory}: distil it first")
        from model2vec import StaticModel

        self._model: Any = StaticModel.from_pretrained(str(directory), max_length=None, normalize=True)
        self.model_id = str(manifest["model_id"])
        self.dim = int(manifest["dim"])
        self.batch_size = batch_size
        self.threads = 1  # NumPy lookups and a mean: nothing runs in parallel
        # Every encode call resets the tokenizer's truncation (model2vec's _encode_dispatch), shared mutable state
        # as in the transformer backend: calls are serialised (one takes about a millisecond).
        self._lock = threading.Lock()

    @classmethod
    def for_model(
        cls, model: str, cache_dir: Path, *, batch_size: int = 32, threads: int | None = None
    ) -> StaticEmbedder:
        """The static copy of ``model`` under ``cache_dir``, distilled first if it is missing (about 50 s)."""
        directory = static_dir(cache_dir, model)
        if read_manifest(directory) is None:
            _log.info("distilling %s into a static model in %s", model, directory)
            distil_model(model, directory, threads=threads)
        return cls(directory, batch_size=batch_size)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), max_length=None, batch_size=self.batch_size, use_multiprocessing=False
            )
        return l2_normalise(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim))
