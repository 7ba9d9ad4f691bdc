"""Measuring a benchmark's process: its resident memory now and at its peak."""

from __future__ import annotations

import os
import sys

__all__ = ["high_water_mb", "peak_rss_mb", "rss_bytes"]


def rss_bytes() -> int | None:
    """Resident memory of this process now (Linux ``/proc``), None elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, None where the platform does not tell (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Kilobytes on Linux, bytes on macOS.
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 2**10, 1)


def high_water_mb() -> float | None:
    """Peak resident memory of this process (Linux ``VmHWM``), None elsewhere.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries it over ``fork`` and ``exec``, so a spawned Dask worker
    would report the peak of the process that started it when that was larger (measured: 372 MB, the bench
    process's, from workers whose own peak was 248 MB).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 2**10, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None
