"""ONNX Runtime backend: the sentence-transformers model exported once with ``torch.onnx``, run in fp32 or int8.

Export (:func:`export_model`, ``pollinate embed export``) writes, into a folder of the cache keyed by the torch
embedder's model id (which names the model and its version, see :func:`export_dir`):

- ``model.onnx``: the transformer (token embeddings out), traced by the TorchScript exporter in about 2 s;
- ``model-int8.onnx``: ONNX Runtime dynamic quantisation of it, MatMul weights only, one scale per output
  channel, the six feed-forward output projections left in fp32 (:func:`_quantise` has the measurements).
  Per-channel scales are what matters for the cosine (0.948 with the library's defaults: every op, one scale
  per tensor); the fp32 projections are what the top-10 overlap needs (0.932 with every MatMul in int8);
- ``tokenizer.json``: the model's fast tokenizer, and ``export.json``: what was exported (its recipe,
  :data:`EXPORT_RECIPE`, and file hashes).

:class:`OnnxEmbedder` keeps the semantics of :class:`~embeddings.transformer.SentenceTransformerEmbedder`: the
same word pieces (truncated at the model's ``max_seq_length``; the packaged ``tokenizer.json`` would pad every
input to 128 tokens and truncate at 128, so both settings are replaced: pad to the longest text of the batch),
the same sentence-aligned chunking of texts longer than the window, mean pooling over the attention mask and L2
normalisation. Its model id is the torch one plus the variant (``...+onnx-int8``): embeddings are cached per
model id, and vectors of different backends must not share cache rows.

Which backend serves is decided by :func:`choose_backend` from the quality gate recorded next to the export
(``gate.json``, written by ``pollinate embed gate``) and the CPU: ``auto`` takes int8 if its gate passed, else
torch in bf16 where the CPU computes bf16 natively (unless a recorded gate failed it), else fp32 ONNX if its gate
passed, else torch. Nothing is exported or gated implicitly (an export takes about 10 s with the model load, the
gate over the dev set about a minute, and the choice of a model is a quality decision to record, not a side
effect of starting a server); bf16 needs no export and stays within a twentieth of int8's distance from fp32,
which is why it alone is served without a recorded gate. On the dev set int8 passes
with a mean cosine of 0.997 and a top-10 overlap of 0.952: a thin margin (many offers are near-ties in cosine),
so a gate run elsewhere (another CPU, another onnxruntime) may fail it, and ``auto`` then serves fp32. Imports
nothing of ours but :mod:`embeddings`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from embeddings.base import file_lock, l2_normalise
from embeddings.bucketing import length_batches
from embeddings.chunking import WindowedEmbedder

# The torch backend's sentence splitter and model id: the ONNX backend must chunk and name models exactly as it.
from embeddings.transformer import PACKAGED_MODEL, bf16_is_fast, model_version, packaged_model_path

__all__ = [
    "AUTO_ORDER",
    "EXPORT_RECIPE",
    "GATE_MIN_COSINE",
    "GATE_MIN_OVERLAP",
    "MODEL_FILES",
    "VARIANTS",
    "Backend",
    "BackendChoice",
    "ExportManifest",
    "GateRecord",
    "GateResult",
    "GatedBackend",
    "OnnxEmbedder",
    "OnnxVariant",
    "ServedBackend",
    "choose_backend",
    "export_dir",
    "export_model",
    "int8_fp32_nodes",
    "library_versions",
    "read_gate",
    "read_manifest",
    "write_gate",
]

Backend = Literal["auto", "torch", "torch-bf16", "onnx-fp32", "onnx-int8"]
OnnxVariant = Literal["onnx-fp32", "onnx-int8"]
ServedBackend = Literal["torch", "torch-bf16", "onnx-fp32", "onnx-int8"]
GatedBackend = Literal["torch-bf16", "onnx-fp32", "onnx-int8"]
VARIANTS: tuple[OnnxVariant, ...] = get_args(OnnxVariant)
MODEL_FILES: dict[OnnxVariant, str] = {"onnx-fp32": "model.onnx", "onnx-int8": "model-int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "export.json"
GATE_FILE = "gate.json"
# auto's order, fastest first (one thread, the demo offers, docs/embeddings.md): int8 ... bf16 ... fp32.
AUTO_ORDER: tuple[GatedBackend, ...] = ("onnx-int8", "torch-bf16", "onnx-fp32")
# The quality gate of issue 8: mean cosine against the torch model, and top-10 overlap of the offer rankings.
GATE_MIN_COSINE = 0.99
GATE_MIN_OVERLAP = 0.95
# The export recipe (how model.onnx is traced and model-int8.onnx quantised), recorded in export.json: an export
# of another recipe counts as no export, so changing the recipe re-exports and voids the recorded gate.
EXPORT_RECIPE = "int8-matmul-per-channel-ffn-out-fp32/2"
# The MatMuls the int8 recipe leaves in fp32, by node name (the torch module path, which the TorchScript exporter
# keeps): the feed-forward output projections. Quantising their input, the GELU output, to 8 bits per tensor
# costs more than any other MatMul (see _quantise).
_INT8_FP32_NODES = re.compile(r"/layer\.\d+/output/dense/MatMul$")
# Opset 17 has LayerNormalization as one op; ONNX Runtime 1.31 runs it natively.
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

_log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ files


def export_dir(cache_dir: Path, model: str = PACKAGED_MODEL) -> Path:
    """Folder of the ONNX export of ``model`` under ``cache_dir``: ``cache_dir/onnx/<model key>``.

    The key is derived from the torch embedder's model id, which names the model and its version (the package
    version for the packaged model, the config's modification time for a local folder): a new model version
    is exported to a new folder, never mixed with an old export.
    """
    model_id = model_version(model)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id.split("@", 1)[0]).strip("-")[-48:]
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:12]
    return cache_dir / "onnx" / f"{slug}-{digest}"


@dataclass(frozen=True)
class ExportManifest:
    """``export.json``: what an export folder holds.

    Attributes:
        model_id: the torch embedder's model id of the exported model.
        max_seq_length: word pieces the model reads (the chunking window).
        dim: vector dimension.
        pad_token: the tokenizer's padding token, and pad_id its id.
        files: per variant, ``{"file", "bytes", "sha256"}`` of its ONNX model.
        versions: torch, onnxruntime, onnx, transformers, sentence-transformers at export time.
        exported_at: ISO timestamp (UTC).
        export_s: seconds spent exporting fp32 (model load excluded), quantise_s quantising to int8.
        recipe: :data:`EXPORT_RECIPE` of the export; a manifest of another recipe is no export.
        int8_fp32_nodes: the MatMul nodes the int8 model keeps in fp32.
    """

    model_id: str
    max_seq_length: int
    dim: int
    pad_token: str
    pad_id: int
    files: dict[str, dict[str, Any]]
    versions: dict[str, str]
    exported_at: str
    export_s: float
    quantise_s: float
    recipe: str
    int8_fp32_nodes: list[str]

    def path(self, directory: Path, variant: OnnxVariant) -> Path:
        """The ONNX model file of ``variant``."""
        return directory / str(self.files[variant]["file"])


def read_manifest(directory: Path) -> ExportManifest | None:
    """The manifest of a complete export in ``directory``, or None (not exported, an export interrupted, or an
    export of another recipe than :data:`EXPORT_RECIPE`).

    The manifest is written last and removed first by :func:`export_model`, so its presence means every file
    it lists is complete. Manifests written before the recipe was recorded lack the field and fail to parse.
    """
    try:
        data = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        manifest = ExportManifest(**data)
    except (OSError, ValueError, TypeError):
        return None
    if manifest.recipe != EXPORT_RECIPE:
        return None
    files = [manifest.path(directory, variant) for variant in VARIANTS]
    if not all(path.is_file() for path in [*files, directory / TOKENIZER_FILE]):
        return None
    return manifest


@dataclass(frozen=True)
class GateResult:
    """The quality gate of one ONNX variant against the torch model.

    Attributes:
        mean_cosine: mean cosine between the two embeddings of each text (need and offer texts).
        min_cosine: the lowest of those cosines.
        overlap: mean over needs of ``|top-k torch ∩ top-k ONNX| / k``, offers ranked by cosine.
        k: ranking depth of the overlap.
        texts: texts compared; needs: needs whose rankings were compared.
        min_mean_cosine: threshold on ``mean_cosine``; min_overlap: threshold on ``overlap``.
        passed: both thresholds met.
    """

    mean_cosine: float
    min_cosine: float
    overlap: float
    k: int
    texts: int
    needs: int
    min_mean_cosine: float
    min_overlap: float
    passed: bool


@dataclass(frozen=True)
class GateRecord:
    """``gate.json``: the gate of both variants, recorded next to the export it was computed on.

    Attributes:
        model_id: the torch model id the export came from.
        results: per variant (``onnx-fp32``, ``onnx-int8``), its :class:`GateResult`.
        files: per variant, the sha256 of the model file gated; a re-export voids the gate.
        dataset: the gold set whose texts were compared (its path).
        recorded_at: ISO timestamp (UTC).
        versions: torch, onnxruntime and onnx versions of the run.
        recipe: the :data:`EXPORT_RECIPE` of the export gated (empty in records older than the field).
    """

    model_id: str
    results: dict[str, GateResult]
    files: dict[str, str]
    dataset: str
    recorded_at: str
    versions: dict[str, str] = field(default_factory=dict)
    recipe: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-serialisable data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateRecord:
        """Parse :meth:`to_json` output (``ValueError``/``TypeError``/``KeyError`` when malformed)."""
        results = {name: GateResult(**value) for name, value in dict(data["results"]).items()}
        return cls(**{**data, "results": results})


def write_gate(directory: Path, record: GateRecord) -> Path:
    """Write ``gate.json`` into the export folder (atomically) and return its path."""
    path = directory / GATE_FILE
    _write_atomic(path, (json.dumps(record.to_json(), indent=2) + "\n").encode("utf-8"))
    return path


def read_gate(directory: Path) -> GateRecord | None:
    """The recorded gate in ``directory``, or None when there is none or it cannot be read."""
    try:
        return GateRecord.from_json(json.loads((directory / GATE_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        _log.warning("ignoring the unreadable ONNX gate record %s: %s", directory / GATE_FILE, exc)
        return None


@dataclass(frozen=True)
class BackendChoice:
    """The backend :func:`choose_backend` picked, and why (for logs and ``pollinate embed gate``)."""

    backend: ServedBackend
    reason: str


def choose_backend(
    requested: Backend, directory: Path, *, bf16_fast: Callable[[], bool] = bf16_is_fast
) -> BackendChoice:
    """Resolve ``auto`` from the gate recorded in ``directory`` and the CPU; any other request is kept.

    ``auto`` takes the first of :data:`AUTO_ORDER` (fastest first) that may serve, else torch:

    - an ONNX variant if its recorded gate passed for the exact file it was computed on (the sha256 in
      ``gate.json`` must match the current ``export.json``: a re-export falls back until the gate is run again);
    - torch in bf16 if the CPU computes bf16 natively (``bf16_fast``), unless a recorded gate failed it. It is
      the one backend served without a recorded gate: it needs no export, and its deviation from fp32 is a
      twentieth of int8's (mean cosine 0.9999 on the dev set; docs/embeddings.md), so it is the default on
      such CPUs rather than a choice to make after a gate run.
    """
    if requested != "auto":
        return BackendChoice(requested, "configured")
    gate = read_gate(directory)
    manifest = read_manifest(directory) if gate is not None else None
    exported = gate is not None and manifest is not None and manifest.model_id == gate.model_id
    passed = f"recorded gate passed ({gate.recorded_at})" if gate is not None else ""
    failed: list[str] = []
    for backend in AUTO_ORDER:
        result = gate.results.get(backend) if gate is not None else None
        if backend == "torch-bf16":
            if not bf16_fast():
                failed.append("torch-bf16 (no native bf16 on this CPU)")
            elif result is not None and not result.passed:
                failed.append("torch-bf16 (recorded gate failed)")
            else:
                reason = passed if result is not None else "this CPU computes bf16 natively; gate not recorded"
                return _chosen(backend, reason, failed)
        elif result is None or not result.passed or not exported:
            failed.append(backend)
        elif (
            manifest is not None
            and gate is not None
            and gate.files.get(backend) == manifest.files[backend]["sha256"]
        ):
            return _chosen(backend, passed, failed)
        else:
            failed.append(f"{backend} (re-exported since the gate)")
    if gate is None:
        failed.append("no recorded ONNX gate (run `pollinate embed gate`)")
    elif not exported:
        failed.append(f"the ONNX export in {directory} is missing or not the one gated")
    return BackendChoice("torch", f"not served: {'; '.join(failed)}")


def _chosen(backend: ServedBackend, reason: str, failed: list[str]) -> BackendChoice:
    return BackendChoice(backend, reason + (f"; not served: {', '.join(failed)}" if failed else ""))


# ------------------------------------------------------------------------------------------------ export


@dataclass(frozen=True)
class _Pipeline:
    """The parts of a sentence-transformers model the export needs."""

    transformer: Any
    tokenizer: Any
    max_seq_length: int
    dim: int


def export_model(
    model: str, directory: Path, *, force: bool = False, progress: Callable[[str], None] | None = None
) -> ExportManifest:
    """Export ``model`` to ``directory`` (fp32 and int8) unless a complete export is there already.

    Writes are atomic and serialised by a lock file, so concurrent processes asking for the same export (two
    server workers starting) export once. An export of another :data:`EXPORT_RECIPE` counts as none and is
    replaced. A new export removes the recorded gate: it was computed on other files.

    Args:
        model: ``"all-MiniLM-L6-v2"`` for the packaged copy, or a local sentence-transformers model folder.
        directory: the export folder (:func:`export_dir`).
        force: export again even if a complete export exists.
        progress: called with a short message as each step starts.

    Raises:
        ValueError: The model is not a transformer followed by mean pooling (and optional normalisation), the
            only pipeline the ONNX embedder reproduces, or its graph lacks the nodes the int8 recipe keeps.
    """
    say = progress or (lambda _message: None)
    directory.mkdir(parents=True, exist_ok=True)
    with file_lock(directory / ".lock"):
        existing = read_manifest(directory)
        if existing is not None and not force:
            return existing
        for name in (MANIFEST_FILE, GATE_FILE):
            (directory / name).unlink(missing_ok=True)
        say(f"loading {model} with sentence-transformers")
        pipeline = _load_pipeline(model)
        say(f"exporting the fp32 model to {directory / MODEL_FILES['onnx-fp32']}")
        started = time.perf_counter()
        _export_fp32(pipeline, directory / MODEL_FILES["onnx-fp32"])
        export_s = time.perf_counter() - started
        say(
            "quantising to int8 (MatMul weights per channel, feed-forward output projections kept in fp32): "
            f"{directory / MODEL_FILES['onnx-int8']}"
        )
        started = time.perf_counter()
        kept = _quantise(directory / MODEL_FILES["onnx-fp32"], directory / MODEL_FILES["onnx-int8"])
        quantise_s = time.perf_counter() - started
        # The tokenizer as the model uses it (its padding/truncation are reset by OnnxEmbedder anyway).
        _write_atomic(directory / TOKENIZER_FILE, pipeline.tokenizer.backend_tokenizer.to_str().encode("utf-8"))
        manifest = ExportManifest(
            model_id=model_version(model),
            max_seq_length=pipeline.max_seq_length,
            dim=pipeline.dim,
            pad_token=str(pipeline.tokenizer.pad_token),
            pad_id=int(pipeline.tokenizer.pad_token_id),
            files={
                variant: {
                    "file": MODEL_FILES[variant],
                    "bytes": (directory / MODEL_FILES[variant]).stat().st_size,
                    "sha256": _sha256(directory / MODEL_FILES[variant]),
                }
                for variant in VARIANTS
            },
            versions=library_versions(),
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            export_s=round(export_s, 2),
            quantise_s=round(quantise_s, 2),
            recipe=EXPORT_RECIPE,
            int8_fp32_nodes=kept,
        )
        _write_atomic(directory / MANIFEST_FILE, (json.dumps(asdict(manifest), indent=2) + "\n").encode("utf-8"))
        return manifest


def library_versions() -> dict[str, str]:
    """Versions of the libraries an export or a gate depends on (``"-"`` for one not installed)."""
    out: dict[str, str] = {}
    for name in ("torch", "onnxruntime", "onnx", "transformers", "sentence-transformers", "tokenizers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def _load_pipeline(model: str) -> _Pipeline:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    location = str(packaged_model_path()) if model == PACKAGED_MODEL else model
    st: Any = SentenceTransformer(location, device="cpu")
    kinds = [type(module).__name__ for module in st]
    pooling = getattr(st[1], "pooling_mode", None) if len(kinds) > 1 else None
    if kinds[:2] != ["Transformer", "Pooling"] or pooling != "mean" or kinds[2:] not in ([], ["Normalize"]):
        raise ValueError(
            f"model {model!r} is {kinds} with pooling {pooling!r}: the ONNX backend reproduces only a "
            "transformer with mean pooling (and optional normalisation); use backend `torch` for it"
        )
    tokenizer = st[0].tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"model {model!r} has no fast tokenizer (tokenizer.json); use backend `torch` for it")
    dim = st.get_embedding_dimension()
    return _Pipeline(
        transformer=st[0].auto_model.eval(),
        tokenizer=tokenizer,
        max_seq_length=int(st.max_seq_length),
        dim=int(dim),
    )


def _export_fp32(pipeline: _Pipeline, path: Path) -> None:
    """Trace the transformer (token embeddings out) with dynamic batch and sequence axes."""
    import warnings

    import torch

    class TokenEmbeddings(torch.nn.Module):
        """The transformer with positional inputs and its last hidden state as the only output."""

        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # A padded batch (two texts of different lengths) as the example, so that the attention-mask path is the
    # one traced; a test checks that padding to the longest text leaves every vector unchanged.
    example = pipeline.tokenizer(
        ["A padded example input.", "A longer example input, so that the first one is padded to its length."],
        padding=True,
        return_tensors="pt",
    )
    args = tuple(example[name] for name in _INPUTS)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the torch.export one, which needs onnxscript (not
        # a dependency). The tracer warnings are about shape checks in transformers' mask code, constant for an
        # encoder: the exported model matches torch to cosine 1.0 on padded batches (tests check it).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings(pipeline.transformer).eval(),
            args,
            str(tmp),
            dynamo=False,
            input_names=list(_INPUTS),
            output_names=["token_embeddings"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "token_embeddings")},
            opset_version=_OPSET,
            do_constant_folding=True,
        )
    os.replace(tmp, path)


class _DropPreprocessingAdvice(logging.Filter):
    """onnxruntime's quantiser logs advice to run its pre-processing first; on this graph that pre-processing
    fails ("Incomplete symbolic shape inference") and the plain export passes the gate, so the advice is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def int8_fp32_nodes(nodes: Sequence[tuple[str, str]]) -> list[str]:
    """The MatMul nodes, among ``(op_type, name)`` pairs of the fp32 graph, that the int8 recipe keeps in fp32.

    Raises:
        ValueError: No node matches: the exporter named the graph's nodes differently, and quantising every
            MatMul would fail the gate (mean top-10 overlap 0.932 on the dev set).
    """
    kept = [name for op_type, name in nodes if op_type == "MatMul" and _INT8_FP32_NODES.search(name)]
    if not kept:
        raise ValueError(
            f"no MatMul node of the exported graph matches {_INT8_FP32_NODES.pattern!r} (the feed-forward "
            "output projections the int8 recipe keeps in fp32): the exporter's node names changed"
        )
    return kept


def _quantise(source: Path, path: Path) -> list[str]:
    """Write the int8 model of ``source`` to ``path``; return the MatMul nodes left in fp32.

    Dynamic quantisation: int8 weights with one scale per output channel, activations quantised to 8 bits per
    tensor at run time, every weight MatMul but the feed-forward output projections. Quantising one kind of
    MatMul in all six layers, against torch on the dev set (mean cosine, top-10 overlap): query 0.99996, 0.996;
    key 0.9999, 0.984; value 0.9989, 0.984; attention output 0.9999, 0.996; feed-forward input 0.9987, 0.962;
    feed-forward output 0.9970, 0.956; all of them 0.9944, 0.932. Weights alone (fake-quantised, fp32 compute)
    cost 0.0006 of cosine: the loss is the activations', and the GELU output feeding the feed-forward output
    projection is the hardest to quantise per tensor. Without those six: 0.9973, 0.952, at 1.5 times the fp32
    throughput (all MatMuls: 2.2 times). Also measured and not taken: keeping the feed-forward input in fp32 as
    well (0.966, but 1.1 times fp32), 8-bit block-wise weights (MatMulNBits, 0.990, 1.06 times fp32), graph
    fusion (``onnxruntime.transformers``' Attention, SkipLayerNorm, BiasGelu: cosine 1.0 but 10% slower on
    these short inputs), SmoothQuant-style rescaling (0.984), reduce_range (0.993), uint8 weights (0.918).
    """
    import onnx

    graph = onnx.load(str(source), load_external_data=False).graph
    kept = int8_fp32_nodes([(node.op_type, node.name) for node in graph.node])
    # Importing the quantiser appends onnxruntime/transformers to sys.path, whose `models` folder would then
    # shadow our `models` package (as a namespace package) in a process that has not imported it yet.
    saved_path = list(sys.path)
    advice = _DropPreprocessingAdvice()
    root = logging.getLogger()
    root.addFilter(advice)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # MatMul only, one scale per output channel: quantising the word-embedding Gather too, with one scale
        # per tensor (the defaults), drops the mean cosine to 0.948 against torch.
        quantize_dynamic(
            str(source),
            str(tmp),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=kept,
        )
    finally:
        root.removeFilter(advice)
        sys.path[:] = saved_path
    os.replace(tmp, path)
    return kept


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ embedder


class OnnxEmbedder(WindowedEmbedder):
    """Embeds with an exported model under ONNX Runtime, as :class:`SentenceTransformerEmbedder` does with torch.

    Args:
        directory: a complete export folder (:func:`export_model`).
        variant: ``"onnx-int8"`` or ``"onnx-fp32"``.
        batch_size: texts (or chunks) per forward pass at most.
        batch_tokens: padded word pieces per forward pass at most (None: no bound); see
            :mod:`embeddings.bucketing`.
        long_text: ``"chunk"`` (split and pool, the default) or ``"truncate"``.
        threads: ONNX Runtime intra-op threads of this session (None: 1, the serving setting: parallelism
            comes from requests and worker processes).

    Raises:
        FileNotFoundError: ``directory`` holds no complete export.
    """

    def __init__(
        self,
        directory: Path,
        *,
        variant: OnnxVariant = "onnx-int8",
        batch_size: int = 32,
        batch_tokens: int | None = None,
        long_text: Literal["chunk", "truncate"] = "chunk",
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        manifest = read_manifest(directory)
        if manifest is None:
            raise FileNotFoundError(f"no complete ONNX export in {directory}: run `pollinate embed export`")
        self.model_id = f"{manifest.model_id}+{variant}"
        self.variant = variant
        self.recipe = manifest.recipe
        self.dim = manifest.dim
        self.max_tokens = manifest.max_seq_length
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.long_text = long_text
        self.threads = threads or 1
        # Two tokenizers whose settings are fixed here and never changed, so no lock is needed (the torch
        # backend serialises its one tokenizer because every call there resets its truncation).
        self._counter = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self._counter.no_padding()
        self._counter.no_truncation()
        self._tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        # No padding by the tokenizer (the packaged tokenizer.json pads every input to 128 tokens): _encode pads
        # each forward pass to its longest text.
        self._tokenizer.no_padding()
        self._pad_id = manifest.pad_id

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Spinning worker threads burn the other core between calls and made timings erratic on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session: Any = ort.InferenceSession(
            str(manifest.path(directory, variant)), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self._session.get_inputs()]

    @classmethod
    def for_model(
        cls,
        model: str,
        cache_dir: Path,
        *,
        variant: OnnxVariant = "onnx-int8",
        batch_size: int = 32,
        batch_tokens: int | None = None,
        long_text: Literal["chunk", "truncate"] = "chunk",
        threads: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> OnnxEmbedder:
        """The embedder of ``model``'s export under ``cache_dir``, exporting it first if it is missing.

        Exporting takes about 5 s and 150 MB of disk for the packaged model (once per model version).
        """
        directory = export_dir(cache_dir, model)
        if read_manifest(directory) is None:
            _log.info("exporting %s to ONNX in %s", model, directory)
            export_model(model, directory, progress=progress)
        return cls(
            directory,
            variant=variant,
            batch_size=batch_size,
            batch_tokens=batch_tokens,
            long_text=long_text,
            threads=threads,
        )

    def token_count(self, text: str) -> int:
        """Word pieces the model would read for ``text`` (special tokens included)."""
        return len(self._counter.encode(text).ids)

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        """Mean-pooled, L2-normalised vectors; texts tokenized once, then run in the forward passes of
        :func:`~embeddings.bucketing.length_batches` (as the torch backend), each padded to its longest text."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        for rows in length_batches(lengths, max_texts=self.batch_size, max_tokens=self.batch_tokens):
            width = lengths[rows[0]]  # the longest: batches run longest first
            feeds = {name: np.zeros((len(rows), width), dtype=np.int64) for name in _INPUTS}
            feeds["input_ids"][:] = self._pad_id
            for row, i in enumerate(rows):
                encoding = encodings[i]
                feeds["input_ids"][row, : lengths[i]] = encoding.ids
                feeds["attention_mask"][row, : lengths[i]] = encoding.attention_mask
                feeds["token_type_ids"][row, : lengths[i]] = encoding.type_ids
            (tokens,) = self._session.run(None, {name: feeds[name] for name in self._inputs})
            mask = feeds["attention_mask"][:, :, None].astype(np.float32)
            out[rows] = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), np.float32(1e-9))
        return l2_normalise(out)
