"""The index file: one ``.npz`` shared by every implementation, written atomically.

Persistence
    ``save`` writes one uncompressed ``.npz`` (vectors including tombstoned rows, ids, live mask, kind, dim,
    count and the caller's JSON metadata) to a temporary file in the target directory, fsyncs it, renames it
    over the target and fsyncs the directory: a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

FILE_FORMAT = "pollinate-vector-index"
# The arrays every index file has; implementations may add their own (the planner: its graph's).
CORE_ARRAYS = frozenset({"format", "version", "kind", "dim", "count", "vectors", "ids", "live", "metadata"})
FILE_VERSION = 1


def write_atomically(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write ``arrays`` as an ``.npz`` to ``path`` so that a crash leaves the old file or the new, never half.

    Temporary file in the same directory (same filesystem, so the rename is atomic), fsync, rename over the
    target, fsync the directory (so the rename itself survives a power loss).
    """
    directory = path.parent
    handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, allow_pickle=False, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory_handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_handle)
    finally:
        os.close(directory_handle)
