"""Embedders return deterministic L2-normalised float32 vectors; long texts are chunked, not truncated."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings import Embedder, FakeEmbedder, l2_normalise


def test_fake_embedder_is_deterministic_normalised_and_bag_of_words_like() -> None:
    embedder = FakeEmbedder(dim=32)
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed(["rats on islands", "rats on islands", "coral reef restoration", ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, rtol=1e-6)
    assert np.array_equal(vectors[0], vectors[1])
    assert not vectors[3].any()  # empty text -> zero vector, not NaN
    similar = embedder.embed(["rats on small islands"])[0]
    assert similar @ vectors[0] > similar @ vectors[2]


def test_l2_normalise_keeps_zero_rows() -> None:
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_packaged_model_loads_offline_and_embeds(real_embedder) -> None:  # type: ignore[no-untyped-def]
    vectors = real_embedder.embed(["Rodent eradication on islands", "Rats are killing seabird chicks"])
    assert vectors.shape == (2, 384)
    assert real_embedder.dim == 384
    assert "all-MiniLM-L6-v2" in real_embedder.model_id
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    unrelated = real_embedder.embed(["Green public procurement criteria for ministries"])[0]
    assert vectors[0] @ vectors[1] > vectors[0] @ unrelated


def test_long_texts_are_chunked_so_their_end_counts(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """A text far beyond the 256-token window: with chunking, its tail changes the vector; truncated, it
    cannot."""
    head = "Our ministry trains customs officers to inspect timber shipments at the port. " * 25
    tail = "The real problem is rats eating seabird eggs on remote islets and we need eradication. " * 10
    assert real_embedder.token_count(head) > real_embedder.max_tokens
    chunks = real_embedder._chunks(head + tail)
    assert len(chunks) >= 2
    assert all(tokens <= real_embedder.max_tokens - 2 for _, tokens in chunks)
    chunked = real_embedder.embed([head + tail, head])
    assert chunked[0] @ chunked[1] < 0.99  # the tail moved the vector
    query = real_embedder.embed(["rodent eradication for seabird islands"])[0]
    assert query @ chunked[0] > query @ chunked[1]


@pytest.mark.parametrize("texts", [[], ["short"]])
def test_empty_and_short_batches(real_embedder, texts) -> None:  # type: ignore[no-untyped-def]
    assert real_embedder.embed(texts).shape == (len(texts), 384)


def test_the_tokenizer_is_never_used_by_two_threads_at_once() -> None:
    """The fast tokenizer's truncation settings are shared mutable state: concurrent token_count and embed
    calls once made a server request fail ("Unable to create tensor ..."). Calls are serialised."""
    import threading
    import time

    import torch

    from embeddings.transformer import SentenceTransformerEmbedder

    inside = 0
    most = 0
    guard = threading.Lock()

    def busy() -> None:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.002)  # widen the window a race needs
        with guard:
            inside -= 1

    class Model:  # stands in for the sentence-transformers model: two entry points use the tokenizer
        def tokenizer(self, text: str, **_: object) -> dict[str, list[int]]:
            busy()
            return {"input_ids": [0] * (len(text.split()) + 2)}

        def preprocess(self, texts: list[str]) -> dict[str, int]:
            busy()
            return {"n": len(texts)}

        def __call__(self, features: dict[str, int]) -> dict[str, torch.Tensor]:
            time.sleep(0.002)  # forward passes may overlap
            return {"sentence_embedding": torch.ones((features["n"], 4))}

    embedder = object.__new__(SentenceTransformerEmbedder)
    embedder.__dict__.update(
        _model=Model(),
        _lock=threading.RLock(),
        dim=4,
        batch_size=8,
        batch_tokens=1024,
        precision="fp32",
        long_text="chunk",
        max_tokens=256,
    )
    text = "Rats eat seabird eggs on two islets. " * 5
    errors: list[BaseException] = []
    embedded: list[int] = []

    def work(n: int) -> None:
        try:
            for _ in range(10):
                if n % 2:
                    embedder.token_count(text)
                else:
                    embedded.append(len(embedder.embed([text, "short text here"])))
        except BaseException as exc:  # a thread's exception would otherwise only be a warning
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert embedded == [2] * 20
    assert most == 1


def test_encoding_matches_sentence_transformers_encode(real_embedder) -> None:  # type: ignore[no-untyped-def]
    texts = [
        "Rats are eating seabird eggs on two islets",
        "Nous avons besoin d'aide pour restaurer les mangroves du littoral",
        "short",
        "Una comunidad quiere proteger sus semillas tradicionales " * 12,
    ]
    reference = real_embedder._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    ours = real_embedder._encode(texts)
    assert np.allclose((ours * reference).sum(axis=1), 1.0, atol=1e-5)


# ------------------------------------------------------------------------------------------------ batching


def test_forward_passes_stay_within_the_token_budget_and_give_the_batch_32_vectors(real_embedder) -> None:  # type: ignore[no-untyped-def]
    from evaluation.bench.corpus import demo_texts

    texts = demo_texts()["offers"][:40]
    shapes: list[tuple[int, int]] = []
    forward = real_embedder._forward

    def recording(features):  # type: ignore[no-untyped-def]
        shapes.append(tuple(features["input_ids"].shape))
        return forward(features)

    saved = real_embedder.batch_size, real_embedder.batch_tokens
    try:
        real_embedder.batch_size, real_embedder.batch_tokens = 32, None
        fixed = real_embedder.embed(texts)
        real_embedder.batch_size, real_embedder.batch_tokens = 32, 512
        real_embedder._forward = recording
        budgeted = real_embedder.embed(texts)
    finally:
        real_embedder.batch_size, real_embedder.batch_tokens = saved
        del real_embedder._forward
    assert len(shapes) > 40 * 150 // 512  # the budget split the texts into many passes
    assert all(rows * width <= 512 or rows == 1 for rows, width in shapes)
    assert np.einsum("ij,ij->i", fixed, budgeted).min() > 0.99999


# ------------------------------------------------------------------------------------------------ bf16


def _bf16_or_skip():  # type: ignore[no-untyped-def]
    from embeddings.transformer import SentenceTransformerEmbedder, bf16_is_fast

    if not bf16_is_fast():
        pytest.skip("this CPU has no native bf16")
    return SentenceTransformerEmbedder(precision="bf16")


def test_bf16_has_its_own_model_id_and_stays_within_the_gate(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """Cached embeddings are keyed by model id: bf16 vectors must never be read as fp32 ones. On the demo
    corpus bf16 passes the ONNX quality gate by a wide margin."""
    from evaluation.dataset import load_gold_set
    from evaluation.onnx_gate import evaluate_gate, gate_texts
    from matcher.data import DEMO_DIR

    bf16 = _bf16_or_skip()
    assert bf16.precision == "bf16"
    assert bf16.model_id == f"{real_embedder.model_id}+torch-bf16"
    needs, offers = gate_texts(load_gold_set(DEMO_DIR))
    needs, offers = needs[:12], offers[:60]
    result = evaluate_gate(
        real_embedder.embed(needs), real_embedder.embed(offers), bf16.embed(needs), bf16.embed(offers)
    )
    assert result.passed and result.mean_cosine > 0.999 and result.overlap >= 0.95


def test_bf16_falls_back_to_fp32_with_a_warning_without_native_bf16(
    real_embedder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    import embeddings.transformer

    monkeypatch.setattr(embeddings.transformer, "bf16_is_fast", lambda: False)
    with caplog.at_level("WARNING", logger="embeddings.transformer"):
        embedder = embeddings.transformer.SentenceTransformerEmbedder(precision="bf16")
    assert embedder.precision == "fp32" and embedder.model_id == real_embedder.model_id
    assert "no native bfloat16" in caplog.text
    text = ["Rats are eating seabird eggs on two islets"]
    np.testing.assert_allclose(embedder.embed(text), real_embedder.embed(text), atol=1e-6)
