"""Keep freed large arrays inside the process, on glibc (Linux), for speed.

glibc's malloc serves every block above its mmap threshold (128 KiB at first, raised on the fly
up to 32 MiB) with a fresh `mmap` and gives it back to the OS on `free`; the top of its heap is
trimmed back the same way once more than twice that size is free there. A training step makes
and drops hundreds of multi-MB arrays, so each new array comes back as fresh pages the kernel
must fault in and zero, which costs more than the arithmetic on them. Raising both thresholds
lets freed arrays be reused as they are. `benchmarks/README.md` has the measured effect.

Called once at `import minigrad`. Set MINIGRAD_NO_MALLOPT=1 before the import to leave the
allocator alone; on other C libraries and systems this does nothing.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

M_TRIM_THRESHOLD = -1  # <malloc.h>: free bytes at the heap top before it is given back to the OS
M_MMAP_THRESHOLD = -3  # <malloc.h>: blocks at least this large get their own mmap
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest value glibc accepts on 64-bit systems
TRIM_THRESHOLD = 128 * 1024 * 1024

tuned = False  # whether the thresholds were set in this process


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds; True when it was done."""
    global tuned
    if tuned or os.environ.get("MINIGRAD_NO_MALLOPT", "") not in ("", "0"):
        return tuned
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    tuned = (bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
             and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
    return tuned


tune_malloc()
