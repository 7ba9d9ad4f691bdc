"""Embeddings through the database cache: a text is embedded once per model, ever.

Texts are keyed by the SHA-256 of their exact content; the cache also records the language detected in each
text. A changed model id misses the cache everywhere, so a model change re-embeds (and is detected by the index
metadata, which records the model id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from embeddings import Embedder
from embeddings.batching import SaturatedError
from matcher.engine.texts import detect_language
from matcher.errors import ServiceBusyError
from models.db import Database
from models.repositories import EmbeddingRepository

Item = tuple[str, bytes, str]


def text_hash(text: str) -> str:
    """Cache key of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingStore:
    """Vectors and languages for texts, from the cache or the embedder (and then cached)."""

    def __init__(self, db: Database, embedder: Embedder, *, batch_size: int = 256) -> None:
        self.db = db
        self.embedder = embedder
        self.batch_size = batch_size
        self.embedded = 0  # texts embedded by the model (cache misses) since creation
        self.cached = 0  # texts served from the cache

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def get(
        self, texts: Sequence[str], *, languages: Sequence[str | None] | None = None
    ) -> tuple[NDArray[np.float32], list[str]]:
        """Vectors ``(len(texts), dim)`` and languages of ``texts``.

        Args:
            texts: the texts.
            languages: known languages per text (``None`` entries are detected); known languages are not
                cached, they override the detected one for this call.
        """
        hashes = [text_hash(t) for t in texts]
        with self.db.transaction(read_only=True) as session:
            found = EmbeddingRepository(session).get_many(self.model_id, hashes)
        missing = list(dict.fromkeys(h for h in hashes if h not in found))
        if missing:
            by_hash = dict(zip(hashes, texts, strict=True))
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                chunk_texts = [by_hash[h] for h in chunk]
                try:
                    vectors = self.embedder.embed(chunk_texts)
                except SaturatedError as exc:
                    raise ServiceBusyError(str(exc), retry_after=exc.retry_after) from exc
                items = [
                    (h, vectors[i].astype("<f4").tobytes(), detect_language(t))
                    for i, (h, t) in enumerate(zip(chunk, chunk_texts, strict=True))
                ]
                self._store(items)
                found.update({h: (v, lang) for h, v, lang in items})
            self.embedded += len(missing)
        self.cached += len(hashes) - len(missing)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        langs: list[str] = []
        for i, h in enumerate(hashes):
            blob, lang = found[h]
            out[i] = np.frombuffer(blob, dtype="<f4")
            known = languages[i] if languages is not None else None
            langs.append(known or lang)
        return out, langs

    def _store(self, items: list[Item]) -> None:
        def work(session: Session) -> None:
            EmbeddingRepository(session).put_many(self.model_id, self.dim, items)

        self.db.run(work)
