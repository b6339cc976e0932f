"""set_num_threads: the one thread budget of minigrad, chosen at run time.

numpy's matrix products run in OpenBLAS (or MKL, ...), which starts as many threads as there
are cores. On the small matrices of this project a second thread brings little, and on a busy
machine the threads stall each other waiting for a core: on a shared 2-core machine a training
run was 4-6x slower with two threads than with one. Environment variables such as
OPENBLAS_NUM_THREADS are read only when numpy is first imported; `threadpoolctl` changes the
count of a BLAS already loaded, which is what this module does.

`set_num_threads(n)`, like `torch.set_num_threads`, makes n threads the budget of everything
minigrad runs in parallel, in one pool (`minigrad.parallel`): the fused kernels of `ops/nn.py`
in blocks of rows and the ops' matrix products in blocks of rows or of the batch. numpy's BLAS
itself is set to one thread, so that its own threads never compete with the pool's (they spin
on the cores after each product, which slowed the kernels between products measurably).
Until `set_num_threads` is called nothing changes: BLAS keeps its threads, the products are
not cut, and the kernels' budget is BLAS's thread count.
"""

from __future__ import annotations

from typing import Any

_budget: int | None = None  # set by set_num_threads; None: not chosen yet, numpy's BLAS count
_products_on_pool = False  # set_num_threads(n > 1) was called: the pool cuts the matrix products


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:  # a declared dependency; only a broken installation lacks it
        raise RuntimeError(
            "set_num_threads needs the threadpoolctl package (pip install threadpoolctl)"
        ) from None
    return threadpoolctl


def set_num_threads(n: int) -> None:
    """Use `n` threads from now on, in this process (like torch.set_num_threads): `n` for the
    blocks of the fused kernels and of the ops' matrix products, with numpy's BLAS on one thread."""
    global _budget, _products_on_pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _threadpoolctl().threadpool_limits(limits=1, user_api="blas")
    _budget = n
    _products_on_pool = n > 1


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


def products_share_the_pool() -> bool:
    """Whether the ops' matrix products run in blocks on the pool (`parallel.matmul`): after
    `set_num_threads(n)` with n > 1, which left numpy's BLAS one thread."""
    return _products_on_pool
