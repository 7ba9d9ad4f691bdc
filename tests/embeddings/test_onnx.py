"""The ONNX Runtime embedder gives the torch embedder's vectors; its quality gate refuses a degraded model; the
backend is chosen from the recorded gate.

The packaged model is exported once per session (about 10 s); tests that write a gate or re-export work on a
clone of that export (hard links), never on the shared one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

import evaluation.cli
import evaluation.onnx_gate
from embeddings import Embedder, FakeEmbedder, l2_normalise
from embeddings.onnx import (
    EXPORT_RECIPE,
    GATE_FILE,
    MANIFEST_FILE,
    MODEL_FILES,
    TOKENIZER_FILE,
    VARIANTS,
    ExportManifest,
    GateRecord,
    GateResult,
    OnnxEmbedder,
    choose_backend,
    export_dir,
    export_model,
    int8_fp32_nodes,
    read_gate,
    read_manifest,
    write_gate,
)
from embeddings.transformer import PACKAGED_MODEL, SentenceTransformerEmbedder, bf16_is_fast
from evaluation.bench.embed import run_backend_comparison
from evaluation.cli import bench_app, embed_app
from evaluation.dataset import load_gold_set
from evaluation.onnx_gate import evaluate_gate, gate_texts
from matcher.data import DEMO_DIR
from matcher.engine.service import create_embedder
from matcher.settings import Settings

HEAD = "Our ministry trains customs officers to inspect timber shipments at the port. " * 25
TAIL = "The real problem is rats eating seabird eggs on remote islets and we need eradication. " * 10
TEXTS = [
    "Rodent eradication on islands",
    "Rats are killing seabird chicks; we need a plan before the nesting season starts next year.",
    "Appui à la restauration des mangroves et à la pêche durable dans le delta.",
    "",
    HEAD + TAIL,  # beyond the 256-token window: chunked
    "x",
]


@dataclass(frozen=True)
class Export:
    """The session's export of the packaged model: its data directory, export folder and manifest."""

    data_dir: Path
    directory: Path
    manifest: ExportManifest


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    data_dir = tmp_path_factory.mktemp("onnx-data")
    directory = export_dir(data_dir / "cache", PACKAGED_MODEL)
    return Export(data_dir, directory, export_model(PACKAGED_MODEL, directory))


@pytest.fixture(scope="session")
def fp32(onnx_export: Export) -> OnnxEmbedder:
    return OnnxEmbedder(onnx_export.directory, variant="onnx-fp32")


@pytest.fixture(scope="session")
def int8(onnx_export: Export) -> OnnxEmbedder:
    return OnnxEmbedder(onnx_export.directory, variant="onnx-int8")


def clone_export(source: Export, data_dir: Path) -> Path:
    """A private copy of the session export under ``data_dir`` (model files hard-linked: replaced, never
    written in place, by an export)."""
    target = export_dir(data_dir / "cache", PACKAGED_MODEL)
    target.mkdir(parents=True)
    for path in source.directory.iterdir():
        if path.name in MODEL_FILES.values():
            os.link(path, target / path.name)
        elif path.is_file() and path.name != GATE_FILE:
            shutil.copy2(path, target / path.name)
    return target


def cosines(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    values: NDArray[np.float32] = np.einsum("ij,ij->i", a, b)
    return values


# ------------------------------------------------------------------------------------------------ vectors


def test_fp32_vectors_match_torch_including_chunked_and_padded_batches(
    real_embedder: SentenceTransformerEmbedder, fp32: OnnxEmbedder
) -> None:
    reference = real_embedder.embed(TEXTS)
    batch = fp32.embed(TEXTS)
    assert batch.dtype == np.float32 and batch.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-5)
    assert cosines(batch, reference).min() >= 0.999
    # Padding to the longest text of a batch must not change any text's vector.
    alone = np.vstack([fp32.embed([text]) for text in TEXTS])
    assert cosines(batch, alone).min() >= 0.99999


def test_chunks_and_token_counts_are_the_torch_backends(
    real_embedder: SentenceTransformerEmbedder, fp32: OnnxEmbedder
) -> None:
    sentence = "Mangrove restoration with fishing communities needs long-term monitoring and funding. "
    for text in [*TEXTS, sentence * 40, HEAD + "A single sentence without a stop " * 60]:
        assert fp32.token_count(text) == real_embedder.token_count(text)
        assert fp32._chunks(text) == real_embedder._chunks(text)
    assert len(fp32._chunks(HEAD + TAIL)) >= 2
    assert fp32.max_tokens == real_embedder.max_tokens == 256


def test_truncation_matches_torch(fp32: OnnxEmbedder, onnx_export: Export) -> None:
    torch_truncating = SentenceTransformerEmbedder(long_text="truncate")
    onnx_truncating = OnnxEmbedder(onnx_export.directory, variant="onnx-fp32", long_text="truncate")
    texts = [HEAD + TAIL, HEAD]
    vectors = onnx_truncating.embed(texts)
    assert cosines(vectors, torch_truncating.embed(texts)).min() >= 0.999
    assert vectors[0] @ vectors[1] > 0.999  # both cut inside HEAD: the tail is lost, unlike with chunking
    chunked = fp32.embed(texts)
    assert chunked[0] @ chunked[1] < 0.99


def test_int8_stays_close_to_torch(real_embedder: SentenceTransformerEmbedder, int8: OnnxEmbedder) -> None:
    gold = load_gold_set(DEMO_DIR)
    needs, offers = gate_texts(gold)
    texts = [*needs[:10], *offers[:20], *TEXTS]
    values = cosines(int8.embed(texts), real_embedder.embed(texts))
    assert values.mean() >= 0.99
    assert values.min() >= 0.95


def test_model_ids_differ_per_backend(
    real_embedder: SentenceTransformerEmbedder, fp32: OnnxEmbedder, int8: OnnxEmbedder
) -> None:
    """Embeddings are cached per model id: the backends must not share cache rows."""
    ids = {real_embedder.model_id, fp32.model_id, int8.model_id}
    assert len(ids) == 3
    assert fp32.model_id == f"{real_embedder.model_id}+onnx-fp32"
    assert int8.model_id == f"{real_embedder.model_id}+onnx-int8"
    assert isinstance(int8, Embedder) and int8.dim == 384


def test_concurrent_calls_give_the_sequential_vectors(int8: OnnxEmbedder) -> None:
    """Server threads share one embedder: its tokenizers are configured once and never changed."""
    expected = int8.embed(TEXTS)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(2):
                assert int8.token_count(HEAD) > int8.max_tokens
                np.testing.assert_allclose(int8.embed(TEXTS), expected, atol=1e-6)
        except BaseException as exc:  # collected and re-raised in the test thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_empty_batch(int8: OnnxEmbedder) -> None:
    assert int8.embed([]).shape == (0, 384)


# ------------------------------------------------------------------------------------------------ export


def test_export_writes_both_variants_and_is_kept(
    real_embedder: SentenceTransformerEmbedder, onnx_export: Export
) -> None:
    manifest = onnx_export.manifest
    assert read_manifest(onnx_export.directory) == manifest
    assert manifest.model_id == real_embedder.model_id
    for variant in VARIANTS:
        path = manifest.path(onnx_export.directory, variant)
        assert path.stat().st_size == manifest.files[variant]["bytes"]
    # int8 weights: the quantised file is smaller (the word-embedding table and the feed-forward output
    # projections stay fp32).
    assert manifest.files["onnx-int8"]["bytes"] < 0.8 * manifest.files["onnx-fp32"]["bytes"]
    assert manifest.recipe == EXPORT_RECIPE
    assert export_model(PACKAGED_MODEL, onnx_export.directory) == manifest  # complete: not exported again
    assert onnx_export.directory.parent == onnx_export.data_dir / "cache" / "onnx"


def test_an_interrupted_export_does_not_count(onnx_export: Export, tmp_path: Path) -> None:
    directory = clone_export(onnx_export, tmp_path)
    assert read_manifest(directory) is not None
    (directory / MODEL_FILES["onnx-int8"]).unlink()
    assert read_manifest(directory) is None
    with pytest.raises(FileNotFoundError, match="pollinate embed export"):
        OnnxEmbedder(directory)


def test_int8_keeps_the_feed_forward_output_projections_in_fp32(onnx_export: Export) -> None:
    import onnx

    graph = onnx.load(str(onnx_export.manifest.path(onnx_export.directory, "onnx-int8")), load_external_data=False)
    kinds: dict[str, list[str]] = {}
    for node in graph.graph.node:
        kinds.setdefault(node.op_type, []).append(node.name)
    kept = onnx_export.manifest.int8_fp32_nodes
    assert kept == [f"/transformer/encoder/layer.{i}/output/dense/MatMul" for i in range(6)]
    # The six kept projections plus the 12 activation-by-activation attention products stay MatMul; the other
    # 30 weight MatMuls (query, key, value, attention output and feed-forward input of 6 layers) are int8.
    assert set(kept) <= set(kinds["MatMul"]) and len(kinds["MatMul"]) == 6 + 12
    assert len(kinds["MatMulInteger"]) == 30


def test_the_int8_recipe_refuses_a_graph_without_the_nodes_it_keeps() -> None:
    names = [("MatMul", "/transformer/encoder/layer.0/output/dense/MatMul"), ("Gather", "/x/output/dense/MatMul")]
    assert int8_fp32_nodes(names) == ["/transformer/encoder/layer.0/output/dense/MatMul"]
    with pytest.raises(ValueError, match="node names changed"):
        int8_fp32_nodes([("MatMul", "/encoder/layer.0/ffn/out/MatMul"), ("Gather", names[1][1])])


def test_an_export_of_another_recipe_is_no_export(onnx_export: Export, tmp_path: Path) -> None:
    """A change of recipe re-exports: the old files, and the gate recorded on them, no longer count."""
    directory = clone_export(onnx_export, tmp_path)
    write_gate(directory, gate_record(directory, int8=True, fp32=True))
    assert choose_backend("auto", directory).backend == "onnx-int8"
    data = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    (directory / MANIFEST_FILE).write_text(json.dumps({**data, "recipe": "older"}), encoding="utf-8")
    assert read_manifest(directory) is None
    assert choose_backend("auto", directory, bf16_fast=no_bf16).backend == "torch"
    del data["recipe"], data["int8_fp32_nodes"]  # a manifest written before the recipe was recorded
    (directory / MANIFEST_FILE).write_text(json.dumps(data), encoding="utf-8")
    assert read_manifest(directory) is None
    with pytest.raises(FileNotFoundError, match="pollinate embed export"):
        OnnxEmbedder(directory)


@pytest.mark.slow
def test_a_new_export_voids_the_gate(onnx_export: Export, tmp_path: Path) -> None:
    directory = clone_export(onnx_export, tmp_path)
    write_gate(directory, gate_record(directory, int8=True, fp32=True))
    assert choose_backend("auto", directory).backend == "onnx-int8"
    manifest = export_model(PACKAGED_MODEL, directory, force=True)
    assert read_gate(directory) is None
    assert choose_backend("auto", directory, bf16_fast=no_bf16).backend == "torch"
    # The export is deterministic: the same bytes as the session's.
    assert manifest.files == onnx_export.manifest.files


# ------------------------------------------------------------------------------------------------ gate


def unit_rows(rng: np.random.Generator, n: int, dim: int = 32) -> NDArray[np.float32]:
    return l2_normalise(rng.standard_normal((n, dim)))


def test_gate_passes_the_reference_itself() -> None:
    rng = np.random.default_rng(0)
    needs, offers = unit_rows(rng, 8), unit_rows(rng, 40)
    result = evaluate_gate(needs, offers, needs, offers)
    assert result.passed
    assert result.mean_cosine == pytest.approx(1.0) and result.overlap == 1.0
    assert (result.k, result.texts, result.needs) == (10, 48, 8)
    assert (result.min_mean_cosine, result.min_overlap) == (0.99, 0.95)


def offers_scored(scores: list[float]) -> NDArray[np.float32]:
    """Unit offer vectors whose cosine with the need (1, 0) is each given score."""
    return np.array([[score, np.sqrt(1 - score**2)] for score in scores], dtype=np.float32)


def test_gate_overlap_counts_shared_top_k_offers() -> None:
    need = np.array([[1.0, 0.0]], dtype=np.float32)
    reference = offers_scored([0.9, 0.8, 0.7, 0.6])  # top 2: offers 0 and 1
    swapped = evaluate_gate(need, reference, need, offers_scored([0.9, 0.6, 0.7, 0.8]), k=2)  # top 2: 0 and 3
    assert swapped.overlap == 0.5
    reversed_ = evaluate_gate(need, reference, need, offers_scored([0.6, 0.7, 0.8, 0.9]), k=2)  # top 2: 3 and 2
    assert reversed_.overlap == 0.0 and not reversed_.passed
    deep = evaluate_gate(need, reference, need, offers_scored([0.6, 0.7, 0.8, 0.9]))  # k capped at 4 offers
    assert deep.k == 4 and deep.overlap == 1.0


def test_gate_refuses_noisy_vectors() -> None:
    rng = np.random.default_rng(1)
    needs, offers = unit_rows(rng, 20, 64), unit_rows(rng, 200, 64)
    noisy_needs = l2_normalise(needs + 0.03 * rng.standard_normal(needs.shape))
    noisy_offers = l2_normalise(offers + 0.03 * rng.standard_normal(offers.shape))
    result = evaluate_gate(needs, offers, noisy_needs, noisy_offers)
    assert 0.95 < result.mean_cosine < 0.99
    assert not result.passed


def test_gate_refuses_mismatched_shapes() -> None:
    rng = np.random.default_rng(2)
    needs, offers = unit_rows(rng, 3), unit_rows(rng, 5)
    with pytest.raises(ValueError, match="shapes differ"):
        evaluate_gate(needs, offers, needs, offers[:4])
    with pytest.raises(ValueError, match="at least one need"):
        evaluate_gate(needs[:0], offers, needs[:0], offers)


def test_gate_refuses_int8_quantised_with_the_default_settings(
    real_embedder: SentenceTransformerEmbedder,
    onnx_export: Export,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The library's default dynamic quantisation (every op, one scale per tensor) is a deliberately degraded
    model: the gate must refuse it, and pass the per-channel MatMul-only one on the same texts."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the quantiser appends to sys.path on import
    from onnxruntime.quantization import quantize_dynamic

    directory = clone_export(onnx_export, tmp_path)
    degraded = directory / MODEL_FILES["onnx-int8"]
    degraded.unlink()  # a hard link to the session's file: never written through
    quantize_dynamic(str(directory / MODEL_FILES["onnx-fp32"]), str(degraded))
    gold = load_gold_set(DEMO_DIR)
    needs, offers = gate_texts(gold)
    needs, offers = needs[:6], offers[:24]
    reference = real_embedder.embed(needs), real_embedder.embed(offers)
    bad = OnnxEmbedder(directory, variant="onnx-int8")
    refused = evaluate_gate(*reference, bad.embed(needs), bad.embed(offers))
    assert not refused.passed and refused.mean_cosine < 0.97
    good = OnnxEmbedder(onnx_export.directory, variant="onnx-int8")
    kept = evaluate_gate(*reference, good.embed(needs), good.embed(offers))
    assert kept.mean_cosine >= 0.99 > refused.mean_cosine


# ------------------------------------------------------------------------------------------------ backend choice


def passing(passed: bool) -> GateResult:
    return GateResult(
        mean_cosine=0.995 if passed else 0.95,
        min_cosine=0.98,
        overlap=0.97 if passed else 0.9,
        k=10,
        texts=250,
        needs=50,
        min_mean_cosine=0.99,
        min_overlap=0.95,
        passed=passed,
    )


def gate_record(directory: Path, *, int8: bool, fp32: bool, bf16: bool | None = None) -> GateRecord:
    manifest = read_manifest(directory)
    assert manifest is not None
    bf16_result = {} if bf16 is None else {"torch-bf16": passing(bf16)}
    return GateRecord(
        model_id=manifest.model_id,
        results={"onnx-fp32": passing(fp32), "onnx-int8": passing(int8), **bf16_result},
        files={variant: str(manifest.files[variant]["sha256"]) for variant in VARIANTS},
        dataset="/somewhere/dev",
        recorded_at="2026-01-01T00:00:00+00:00",
    )


@pytest.fixture
def fake_export(tmp_path: Path) -> Path:
    """An export folder with a manifest and placeholder files: enough for the backend choice."""
    directory = tmp_path / "export"
    directory.mkdir()
    files: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        (directory / MODEL_FILES[variant]).write_bytes(variant.encode())
        files[variant] = {"file": MODEL_FILES[variant], "bytes": len(variant), "sha256": f"sha-{variant}"}
    (directory / TOKENIZER_FILE).write_text("{}", encoding="utf-8")
    manifest = ExportManifest(
        model_id="model@1",
        max_seq_length=256,
        dim=384,
        pad_token="[PAD]",
        pad_id=0,
        files=files,
        versions={},
        exported_at="2026-01-01T00:00:00+00:00",
        export_s=1.0,
        quantise_s=1.0,
        recipe=EXPORT_RECIPE,
        int8_fp32_nodes=[],
    )
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest.__dict__), encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("int8_passed", "fp32_passed", "expected"),
    [(True, True, "onnx-int8"), (True, False, "onnx-int8"), (False, True, "onnx-fp32"), (False, False, "torch")],
)
def test_auto_follows_the_recorded_gate(
    fake_export: Path, int8_passed: bool, fp32_passed: bool, expected: str
) -> None:
    write_gate(fake_export, gate_record(fake_export, int8=int8_passed, fp32=fp32_passed))
    choice = choose_backend("auto", fake_export, bf16_fast=no_bf16)
    assert choice.backend == expected
    assert read_gate(fake_export) == gate_record(fake_export, int8=int8_passed, fp32=fp32_passed)


def no_bf16() -> bool:
    """A CPU without native bf16 (stands in for ``embeddings.transformer.bf16_is_fast``)."""
    return False


def native_bf16() -> bool:
    """A CPU with native bf16."""
    return True


@pytest.mark.parametrize(
    ("int8_passed", "bf16_passed", "fp32_passed", "expected"),
    [
        (True, True, True, "onnx-int8"),  # the fastest gated backend first
        (False, True, True, "torch-bf16"),
        (False, None, True, "torch-bf16"),  # a gate recorded before bf16 was gated: bf16 is not refused
        (False, False, True, "onnx-fp32"),  # the gate decides: a failed bf16 is never served
        (False, False, False, "torch"),
    ],
)
def test_auto_takes_bf16_on_a_cpu_with_native_bf16_unless_its_gate_failed(
    fake_export: Path, int8_passed: bool, bf16_passed: bool | None, fp32_passed: bool, expected: str
) -> None:
    write_gate(fake_export, gate_record(fake_export, int8=int8_passed, fp32=fp32_passed, bf16=bf16_passed))
    assert choose_backend("auto", fake_export, bf16_fast=native_bf16).backend == expected
    # Without native bf16 it is never chosen, whatever its gate.
    without = expected if expected != "torch-bf16" else ("onnx-fp32" if fp32_passed else "torch")
    assert choose_backend("auto", fake_export, bf16_fast=no_bf16).backend == without


def test_auto_without_a_gate_is_bf16_where_the_cpu_has_it_else_torch(fake_export: Path, tmp_path: Path) -> None:
    choice = choose_backend("auto", fake_export, bf16_fast=no_bf16)
    assert choice.backend == "torch" and "pollinate embed gate" in choice.reason and "bf16" in choice.reason
    assert choose_backend("auto", tmp_path / "never-exported", bf16_fast=no_bf16).backend == "torch"
    native = choose_backend("auto", tmp_path / "never-exported", bf16_fast=native_bf16)
    assert native.backend == "torch-bf16" and "natively" in native.reason


def test_a_gate_counts_only_for_the_files_it_was_computed_on(fake_export: Path) -> None:
    record = gate_record(fake_export, int8=True, fp32=True)
    write_gate(fake_export, replace(record, files={**record.files, "onnx-int8": "sha-of-an-older-export"}))
    choice = choose_backend("auto", fake_export, bf16_fast=no_bf16)
    assert choice.backend == "onnx-fp32" and "re-exported" in choice.reason
    (fake_export / MANIFEST_FILE).unlink()  # an export in progress
    assert choose_backend("auto", fake_export, bf16_fast=no_bf16).backend == "torch"


def test_an_unreadable_gate_is_no_gate(fake_export: Path) -> None:
    (fake_export / GATE_FILE).write_text("{not json", encoding="utf-8")
    assert read_gate(fake_export) is None
    assert choose_backend("auto", fake_export, bf16_fast=no_bf16).backend == "torch"


@pytest.mark.parametrize("backend", ["torch", "torch-bf16", "onnx-fp32", "onnx-int8"])
def test_an_explicit_backend_is_kept(fake_export: Path, backend: Any) -> None:
    write_gate(fake_export, gate_record(fake_export, int8=False, fp32=False, bf16=False))
    assert choose_backend(backend, fake_export, bf16_fast=no_bf16).backend == backend


def test_create_embedder_follows_the_gate(
    onnx_export: Export, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = clone_export(onnx_export, tmp_path)
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("POLLINATE_EMBEDDING__BACKEND", raising=False)
    monkeypatch.setenv("POLLINATE_EMBEDDING__MULTILINGUAL", "none")  # the backend is MiniLM's alone
    assert isinstance(create_embedder(Settings()), SentenceTransformerEmbedder)  # no gate yet
    write_gate(directory, gate_record(directory, int8=True, fp32=True))
    embedder = create_embedder(Settings())
    assert isinstance(embedder, OnnxEmbedder) and embedder.variant == "onnx-int8"
    write_gate(directory, gate_record(directory, int8=False, fp32=True, bf16=False))
    embedder = create_embedder(Settings())
    assert isinstance(embedder, OnnxEmbedder) and embedder.variant == "onnx-fp32"
    write_gate(directory, gate_record(directory, int8=False, fp32=True, bf16=True))
    embedder = create_embedder(Settings())
    if bf16_is_fast():
        assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.precision == "bf16"
    else:
        assert isinstance(embedder, OnnxEmbedder) and embedder.variant == "onnx-fp32"
    monkeypatch.setenv("POLLINATE_EMBEDDING__BACKEND", "torch")
    assert isinstance(create_embedder(Settings()), SentenceTransformerEmbedder)
    monkeypatch.setenv("POLLINATE_EMBEDDING__MODEL", "hashing")
    assert isinstance(create_embedder(Settings()), FakeEmbedder)


# ------------------------------------------------------------------------------------------------ commands


class NoisyEmbedder(FakeEmbedder):
    """The hashing embedder with seeded noise: a candidate the gate must refuse."""

    def __init__(self, noise: float, backend: str) -> None:
        super().__init__(dim=64)
        self.noise = noise
        self.model_id = f"fake+{backend}"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        clean = super().embed(texts)
        rng = np.random.default_rng(len(texts))
        return l2_normalise(clean + self.noise * rng.standard_normal(clean.shape))


@pytest.fixture
def gated_data(onnx_export: Export, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with a clone of the export; the gate command gets fake embedders: fp32 identical to
    the reference, int8 noisy."""
    directory = clone_export(onnx_export, tmp_path)
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path))
    built = {"torch": NoisyEmbedder(0.0, "torch"), "onnx-fp32": NoisyEmbedder(0.0, "fp32")}
    built["onnx-int8"] = NoisyEmbedder(0.2, "int8")
    built["torch-bf16"] = NoisyEmbedder(0.2, "bf16")  # refused, so that auto's choice is the same on any CPU
    monkeypatch.setattr(evaluation.onnx_gate, "create_embedder", lambda s: built[s.embedding.backend])
    return directory


def test_gate_command_prints_figures_and_records_the_gate(gated_data: Path) -> None:
    result = CliRunner().invoke(embed_app, ["gate", "--dataset", str(DEMO_DIR)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for words in ("mean cosine", "top-10 overlap", "onnx-fp32", "onnx-int8", "torch-bf16", "PASS", "FAIL"):
        assert words in result.stdout
    record = read_gate(gated_data)
    assert record is not None and record.dataset == str(DEMO_DIR.resolve()) and record.recipe == EXPORT_RECIPE
    assert record.results["onnx-fp32"].passed and not record.results["onnx-int8"].passed
    assert not record.results["torch-bf16"].passed
    assert choose_backend("auto", gated_data).backend == "onnx-fp32"


def test_the_gate_command_gates_bf16_and_auto_follows_it(
    gated_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = {backend: NoisyEmbedder(0.0, backend) for backend in ("torch", "torch-bf16", "onnx-fp32")}
    built["onnx-int8"] = NoisyEmbedder(0.2, "int8")
    monkeypatch.setattr(evaluation.onnx_gate, "create_embedder", lambda s: built[s.embedding.backend])
    result = CliRunner().invoke(embed_app, ["gate", "--dataset", str(DEMO_DIR), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"]["torch-bf16"]["passed"] is True
    assert choose_backend("auto", gated_data, bf16_fast=native_bf16).backend == "torch-bf16"
    assert choose_backend("auto", gated_data, bf16_fast=no_bf16).backend == "onnx-fp32"


def test_the_gate_command_skips_bf16_without_native_bf16(
    gated_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without native bf16 the bf16 embedder is the fp32 one (same model id): nothing to gate."""
    built = {backend: NoisyEmbedder(0.0, "torch") for backend in ("torch", "torch-bf16")}
    built["onnx-fp32"], built["onnx-int8"] = NoisyEmbedder(0.0, "fp32"), NoisyEmbedder(0.0, "int8")
    monkeypatch.setattr(evaluation.onnx_gate, "create_embedder", lambda s: built[s.embedding.backend])
    result = CliRunner().invoke(embed_app, ["gate", "--dataset", str(DEMO_DIR), "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["results"]) == {"onnx-fp32", "onnx-int8"}


def test_gate_command_json_names_cosine_and_overlap(gated_data: Path) -> None:
    result = CliRunner().invoke(embed_app, ["gate", "--dataset", str(DEMO_DIR), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["auto_backend"] == "onnx-fp32"
    int8_gate = report["results"]["onnx-int8"]
    assert int8_gate["passed"] is False and int8_gate["mean_cosine"] < 0.99
    assert set(int8_gate) >= {"mean_cosine", "min_cosine", "overlap", "k", "passed"}
    assert report["results"]["onnx-fp32"]["overlap"] == 1.0


def test_gate_command_fails_when_no_variant_passes(gated_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    noisy = {"torch": NoisyEmbedder(0.0, "torch")}
    monkeypatch.setattr(
        evaluation.onnx_gate, "create_embedder", lambda s: noisy.get(s.embedding.backend, NoisyEmbedder(0.3, "x"))
    )
    result = CliRunner().invoke(embed_app, ["gate", "--dataset", str(DEMO_DIR)])
    assert result.exit_code == 1
    assert choose_backend("auto", gated_data).backend == "torch"


def test_gate_command_reports_a_bad_dataset(gated_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        embed_app, ["gate", "--dataset", str(tmp_path / "missing")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 1 and "not a directory" in result.output


def test_export_command_reports_sizes(
    onnx_export: Export, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone_export(onnx_export, tmp_path)
    monkeypatch.setenv("POLLINATE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(embed_app, ["export", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files"] == onnx_export.manifest.files
    table = CliRunner().invoke(embed_app, ["export"], env={"COLUMNS": "160"})
    assert "model-int8.onnx" in table.stdout and "MB" in table.stdout


# ------------------------------------------------------------------------------------------------ bench


def test_backend_comparison_reports_every_backend_side_by_side() -> None:
    embedders: dict[str, Embedder] = {"torch": FakeEmbedder(16), "onnx-int8": FakeEmbedder(8)}
    corpora = {"short": ["a b", "c d e"], "long": ["word " * 50]}
    report = run_backend_comparison(
        embedders, texts=corpora, batch_size=4, n_texts=6, repeats=2, latency_queries=5
    )
    assert [row["backend"] for row in report["backends"]] == ["torch", "onnx-int8"]
    for row in report["backends"]:
        assert [r["corpus"] for r in row["results"]] == ["short", "long"]
        assert all(r["texts"] == 8 and r["calls"] == 2 for r in row["results"])
        assert row["short_texts_per_s"] == row["results"][0]["texts_per_s"] > 0
        assert 0 < row["single_p50_ms"] <= row["single_p99_ms"]
        assert row["recipe"] is None  # only ONNX embedders have an export recipe
    assert report["backends"][0]["speedup"] == 1.0
    assert report["backends"][1]["reference_texts_per_s"] == 1450.0
    assert report["reference"]["target_int8_texts_per_s"] == 1200.0
    assert json.loads(json.dumps(report)) == report
    with pytest.raises(ValueError, match="no embedder"):
        run_backend_comparison({}, texts=corpora)


def test_bench_cli_compares_the_requested_backends(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def factory(given: Settings) -> FakeEmbedder:
        asked.append(given.embedding.backend)
        return FakeEmbedder(dim=8)

    monkeypatch.setattr(evaluation.cli, "create_embedder", factory)
    args = ["embed", "--batch-sizes", "2", "--repeats", "1", "--texts", "2", "--compare-texts", "32"]
    result = CliRunner().invoke(
        bench_app, [*args, "--latency-queries", "3", "--backends", "onnx-int8,torch,onnx-fp32", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [row["backend"] for row in report["comparison"]["backends"]] == ["torch", "onnx-fp32", "onnx-int8"]
    assert asked == ["auto", "torch", "onnx-fp32", "onnx-int8"]
    table = CliRunner().invoke(
        bench_app, [*args, "--latency-queries", "3", "--backends", "torch,onnx-int8"], env={"COLUMNS": "200"}
    )
    assert table.exit_code == 0, table.output
    assert "Backends side by side" in table.stdout and "single p50 ms" in table.stdout


def test_bench_cli_refuses_unknown_backends(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation.cli, "create_embedder", lambda _s: pytest.fail("must not load a model"))
    result = CliRunner().invoke(bench_app, ["embed", "--backends", "tensorrt"])
    assert result.exit_code == 2 and "--backends" in result.output


def test_the_gate_judges_minilm_alone_when_the_multilingual_encoder_is_configured(
    gated_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default fused pair, the gate once compared the concatenations, whose identical USE-m3 half
    lifted a failing MiniLM (cosine 0.988) above the threshold (0.994)."""
    from embeddings.composite import CompositeEmbedder

    other = FakeEmbedder(dim=32)
    built = {backend: NoisyEmbedder(0.0, backend) for backend in ("torch", "torch-bf16", "onnx-fp32")}
    built["onnx-int8"] = NoisyEmbedder(0.02, "int8")
    monkeypatch.setattr(
        evaluation.onnx_gate,
        "create_embedder",
        lambda s: CompositeEmbedder([built[s.embedding.backend], other]),
    )
    result = CliRunner().invoke(embed_app, ["gate", "--dataset", str(DEMO_DIR), "--json"])
    assert result.exit_code == 0, result.output
    int8_gate = json.loads(result.stdout)["results"]["onnx-int8"]
    assert 0.97 < int8_gate["mean_cosine"] < 0.99 and int8_gate["passed"] is False
