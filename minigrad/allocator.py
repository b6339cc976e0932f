"""`tune_allocator()`: keep freed large arrays inside the process, on glibc (Linux), for speed.

glibc's malloc serves every block above its mmap threshold (128 KiB at first, raised on the fly
up to 32 MiB) with a fresh `mmap` and gives it back to the OS on `free`; the top of its heap is
trimmed back the same way once more than twice that size is free there. A training step makes
and drops hundreds of multi-MB arrays, so each new array comes back as fresh pages the kernel
must fault in and zero, which costs more than the arithmetic on them. Raising both thresholds
lets freed arrays be reused as they are. `benchmarks/README.md` has the measured effect.

The trim threshold must exceed how far a step's memory swings, from the activations the
forward keeps to what is left after backward, or the heap is trimmed and faulted in again on
every step: at 128 MiB the `medium` benchmark step (~250 MB of activations) still took 14,868
page faults and 65-70 ms of system time a step; at 1 GiB, 4.

It changes the whole process (any other library in it keeps up to 1 GiB of freed memory too,
never more than the process's own peak), so it is never done behind a user's back: `import
minigrad` leaves the allocator alone, and the callers that want speed call
`minigrad.tune_allocator()` explicitly: `train()`, the console command, the examples and the
benchmarks. On other C libraries and systems it does nothing.
"""
from __future__ import annotations

import ctypes
import platform
import sys

M_TRIM_THRESHOLD = -1  # <malloc.h>: free bytes at the heap top before it is given back to the OS
M_MMAP_THRESHOLD = -3  # <malloc.h>: blocks at least this large get their own mmap
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest value glibc accepts on 64-bit systems
TRIM_THRESHOLD = 1024 * 1024 * 1024  # above a training step's swing (see above)

tuned = False  # whether the thresholds were set in this process


def tune_allocator() -> bool:
    """Raise glibc's mmap threshold to 32 MiB and its trim threshold to 1 GiB, once per
    process, so the multi-MB arrays a training step makes and drops are reused rather than
    returned to the OS and faulted in again (a step of the `small` benchmark model: 74 -> 64 ms,
    peak memory unchanged; `benchmarks/README.md`). True when the thresholds are raised (now or
    by an earlier call); False where there is no glibc, which is harmless."""
    global tuned
    if tuned:
        return True
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


__all__ = ["tune_allocator"]
