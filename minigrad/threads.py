"""set_num_threads: the one thread budget of minigrad, shared by numpy's BLAS and the row-block
kernels, chosen at run time.

numpy's matrix products run in OpenBLAS (or MKL, ...), which starts as many threads as there
are cores. On the small matrices of this project a second thread brings little, and on a busy
machine the threads stall each other waiting for a core: on a shared 2-core machine a training
run was 4-6x slower with two threads than with one. Environment variables such as
OPENBLAS_NUM_THREADS are read only when numpy is first imported; `threadpoolctl` changes the
count of a BLAS already loaded, which is what this module does.

The fused kernels of `ops/nn.py` also run on threads, in blocks of rows (`minigrad.parallel`).
They run between the matrix products, never during one, so both use the same `n` threads: one
budget, like `torch.set_num_threads`, and never more threads busy than it allows.
"""

from __future__ import annotations

from typing import Any

_budget: int | None = None  # set by set_num_threads; None: not chosen yet, numpy's BLAS count


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:  # a declared dependency; only a broken installation lacks it
        raise RuntimeError(
            "set_num_threads needs the threadpoolctl package (pip install threadpoolctl)"
        ) from None
    return threadpoolctl


def set_num_threads(n: int) -> None:
    """Use `n` threads from now on, in this process (like torch.set_num_threads): `n` in numpy's
    BLAS and `n` for the row blocks of the fused kernels."""
    global _budget
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _threadpoolctl().threadpool_limits(limits=n, user_api="blas")
    _budget = n


def blas_num_threads() -> int:
    """The number of threads numpy's BLAS uses now (1 when it reports none)."""
    pools = [p["num_threads"] for p in _threadpoolctl().threadpool_info() if p.get("user_api") == "blas"]
    return max(pools, default=1)


def get_num_threads() -> int:
    """The thread budget: the last `set_num_threads(n)`, or, until one is made, the threads
    numpy's BLAS started with (OPENBLAS_NUM_THREADS or the core count), read once."""
    global _budget
    if _budget is None:
        _budget = blas_num_threads()
    return _budget
