"""Which texts share a forward pass: longest first, bounded by a count of texts and of padded word pieces.

A batch pads every text to its longest one, and a transformer's cost grows with ``texts × longest`` (its
activations with ``texts × longest²`` in attention). Sorting by length keeps the padding small; bounding the
padded size keeps a forward pass's activations in the CPU's caches. On one thread, the fixed batch of 32 texts
that sentence-transformers uses ran MiniLM *slower* than one text at a time (measured on the 172 demo offers,
150 word pieces on average; figures in docs/embeddings.md), so the backends batch by :func:`length_batches`:
at most ``max_texts`` texts and ``max_tokens`` padded word pieces per pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def length_batches(lengths: Sequence[int], *, max_texts: int, max_tokens: int | None) -> list[NDArray[np.intp]]:
    """Split the rows of ``lengths`` into forward passes, longest first.

    Rows are taken in decreasing length (ties in input order), so each batch's first row is its longest and
    its padded size is ``len(batch) * lengths[batch[0]]``. A batch grows while it holds fewer than
    ``max_texts`` rows and its padded size stays within ``max_tokens``; a row longer than ``max_tokens`` alone
    forms a batch of one.

    Args:
        lengths: word pieces of each text (special tokens included, capped at the model's window).
        max_texts: most rows per batch (at least 1).
        max_tokens: most padded word pieces per batch; None: no bound (``max_texts`` alone).

    Returns:
        The row indices of each batch, in the order to run them; every row appears exactly once.

    Raises:
        ValueError: ``max_texts`` or ``max_tokens`` below 1.
    """
    if max_texts < 1 or (max_tokens is not None and max_tokens < 1):
        raise ValueError(f"max_texts and max_tokens must be at least 1; got {max_texts}, {max_tokens}")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[NDArray[np.intp]] = []
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        rows = max_texts if max_tokens is None else max(1, min(max_texts, max_tokens // max(longest, 1)))
        batches.append(order[start : start + rows])
        start += rows
    return batches
