"""set_num_threads: how many threads the BLAS under numpy uses, chosen at run time.

numpy's matrix products run in OpenBLAS (or MKL, ...), which starts as many threads as there
are cores. On the small matrices of this project a second thread brings little, and on a busy
machine the threads stall each other waiting for a core: on a shared 2-core machine a training
run was 4-6x slower with two threads than with one. Environment variables such as
OPENBLAS_NUM_THREADS are read only when numpy is first imported; `threadpoolctl` changes the
count of a BLAS already loaded, which is what this module does.
"""

from __future__ import annotations

from typing import Any


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:  # a declared dependency; only a broken installation lacks it
        raise RuntimeError(
            "set_num_threads needs the threadpoolctl package (pip install threadpoolctl)"
        ) from None
    return threadpoolctl


def set_num_threads(n: int) -> None:
    """Use `n` threads in numpy's BLAS from now on, in this process (like torch.set_num_threads)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _threadpoolctl().threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """The number of threads numpy's BLAS uses now (1 when it reports none)."""
    pools = [p["num_threads"] for p in _threadpoolctl().threadpool_info() if p.get("user_api") == "blas"]
    return max(pools, default=1)
