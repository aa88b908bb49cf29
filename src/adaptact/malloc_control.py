"""Keep glibc's heap from shrinking and regrowing between timed calls, and count the page faults of a block.

With glibc's defaults a freed block above the *mmap threshold* goes back to
the kernel at once, and the top of the heap is trimmed when more than the
*trim threshold* is free; the next call of the same size then faults every
page in again (a 16 MB tensor: 4,096 minor faults, a few ms). Whether that
happens depends on the allocation history of the process (the mmap threshold
grows with the blocks freed), so two processes timing the same code can
differ by 3x. :func:`hold_heap` sets both thresholds (``mallopt``) so that
the heap keeps its pages: every size a benchmark allocates is served from
memory already faulted in. :func:`faults` reads the process's minor and major
page faults (``getrusage``), so that a measurement can show that it did not
pay for any.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import resource
from typing import Optional

__all__ = ["HELD_MMAP_THRESHOLD", "HELD_TRIM_THRESHOLD", "faults", "hold_heap"]

#: mallopt parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
#: the largest mmap threshold glibc accepts on 64-bit machines (32 MiB): blocks below it come from the heap
HELD_MMAP_THRESHOLD = 32 * 1024 * 1024
#: keep up to 2 GiB free at the top of the heap (mallopt takes an int)
HELD_TRIM_THRESHOLD = 2**31 - 1
#: grow the heap in steps of this many bytes
_TOP_PAD = 64 * 1024 * 1024


def hold_heap() -> Optional[dict]:
    """Set glibc's trim and mmap thresholds so that freed memory stays with the process.

    Returns the settings applied, or None when this C library has no
    ``mallopt`` (not glibc) or refused one of them; a benchmark records it.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = {"trim_threshold": HELD_TRIM_THRESHOLD, "mmap_threshold": HELD_MMAP_THRESHOLD,
                "top_pad": _TOP_PAD}
    applied = [mallopt(_M_TRIM_THRESHOLD, settings["trim_threshold"]),
               mallopt(_M_MMAP_THRESHOLD, settings["mmap_threshold"]),
               mallopt(_M_TOP_PAD, settings["top_pad"])]
    return settings if all(r == 1 for r in applied) else None


def faults() -> tuple[int, int]:
    """``(minor, major)`` page faults of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt, usage.ru_majflt
