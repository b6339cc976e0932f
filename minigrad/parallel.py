"""map_blocks and matmul: run whole-array numpy work on blocks of its arrays, on a few threads.

numpy releases the GIL inside its loops, so threads running numpy calls on disjoint parts of
an array really do run at the same time. The fused kernels of `ops/nn.py` (softmax, layer_norm,
gelu, ...) treat each row on its own, so a large array can be cut into blocks of rows, each
block computed by whichever thread is free, and every block written into its own part of a
preallocated output: the same formula, on less data per call.

The matrix products of the ops (`matmul`) are cut the same way once `set_num_threads` has
given them the budget: the rows of a 2-D product (its columns, when it has fewer rows than
columns), or the batch of a batched one, in blocks, each block one BLAS call on one thread.
Then every thread minigrad uses is this pool's. The alternative, OpenBLAS's own threads for
the products and this pool for the kernels, measured worse: after each product OpenBLAS's
threads keep spinning on the cores for a while, waiting for the next one, and the kernel that
follows competes with them (an exact GELU right after a product took 1.5x its time alone; the
`medium` training step used 1.4x the CPU time).

How many threads: `minigrad.get_num_threads()`, the one budget (set with
`minigrad.set_num_threads`).

Below `min_elements` (the size of the first array), or `min_products` multiply-adds for a
product, the work runs inline, on the whole arrays, in the calling thread: waking a thread
costs tens of microseconds on an idle machine and hundreds on a busy one, which a small array
does not repay. Tests lower both to run the blocked path on small arrays.

The pool of worker threads is created on the first blocked call (never at import) and remade
when the budget changes. A kernel called from inside a block (erf inside gelu's) runs inline.
"""
from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .threads import get_num_threads, products_share_the_pool

min_elements = 1 << 18  # arrays smaller than this (256 Ki elements, 1 MB of float32) run inline
min_products = 1 << 23  # products of fewer multiply-adds (8 Mi, ~0.2 ms on one core) run inline
blocks_per_thread = 1  # blocks per thread: more of them cost more GIL hand-offs under load (measured)

_tasks: queue.SimpleQueue | None = None  # what the workers take calls from
_task_workers = 0  # how many workers take from it
_task_process = 0  # the process that started them: a forked child has the queue but no workers
_start_lock = threading.Lock()
_inside = threading.local()  # .active: this thread is running a block now


def _work_loop(tasks: queue.SimpleQueue) -> None:
    """A worker: run each call put on `tasks` until a None says the budget changed."""
    while True:
        work = tasks.get()
        if work is None:
            return
        work.run()


def _workers(n: int) -> queue.SimpleQueue:
    """The queue of `n` worker threads (the calling thread works too), started on first use and
    replaced when the budget changes, or in a forked child (which inherits the queue but not
    the threads). Daemon threads: idle, they wait on the queue, and they must not keep the
    interpreter from exiting. (A plain queue rather than a ThreadPoolExecutor: its futures and
    bookkeeping cost ~5 µs a call, its hand-off more.)"""
    global _tasks, _task_workers, _task_process
    with _start_lock:
        if _tasks is None or _task_workers != n or _task_process != os.getpid():
            if _tasks is not None and _task_process == os.getpid():
                for _ in range(_task_workers):
                    _tasks.put(None)
            _tasks, _task_workers, _task_process = queue.SimpleQueue(), n, os.getpid()
            for i in range(n):
                threading.Thread(target=_work_loop, args=(_tasks,), name=f"minigrad-block-{i}",
                                 daemon=True).start()
        return _tasks


class _Work:
    """The blocks of one call, taken one at a time by whichever thread is free: the caller
    and the workers. A worker that starts after the caller took the last block finds nothing
    to do, so the call never waits for a worker to get a core (it still pays for waking the
    worker and for the GIL changing hands: 3-25% at a load of 8 on 2 cores, measured). The
    thread that finishes the last block releases `done`, which the caller waits on."""

    def __init__(self, kernel: Callable[..., None], blocks: list[tuple[np.ndarray, ...]],
                 options: dict[str, Any]) -> None:
        self.kernel, self.blocks, self.options = kernel, blocks, options
        self.lock = threading.Lock()
        self.taken = self.finished = 0
        self.errors: list[BaseException] = []
        self.done = threading.Lock()
        self.done.acquire()

    def run(self) -> None:
        _inside.active = True
        try:
            while True:
                with self.lock:
                    i = self.taken
                    self.taken += 1
                if i >= len(self.blocks):
                    return
                try:
                    self.kernel(*self.blocks[i], **self.options)
                except BaseException as error:  # noqa: BLE001  handed to the caller, raised there
                    self.errors.append(error)
                with self.lock:
                    self.finished += 1
                    last = self.finished == len(self.blocks)
                if last:
                    self.done.release()
        finally:
            _inside.active = False


def map_blocks(kernel: Callable[..., None], *arrays: np.ndarray, axis: int = 0, **options: Any) -> None:
    """Call `kernel(*blocks, **options)` on matching blocks of `arrays` cut along `axis`, on the
    threads of the budget, or `kernel(*arrays, **options)` once, inline, when the first array
    is small, the budget is one thread, or `axis` is not an axis of the arrays.

    `arrays` are the kernel's inputs and its outputs (preallocated, e.g. `np.empty_like`), all
    of the same length along `axis`; the kernel writes its results into the output blocks and
    returns nothing. It must treat the slices along `axis` independently (reduce over other
    axes only): then every element is computed by the same numpy calls whatever the blocks,
    and the result does not depend on the number of threads.
    """
    first = arrays[0]
    if first.size < min_elements:  # the common case first: small arrays pay for no more checks
        kernel(*arrays, **options)
        return
    _run_blocks(kernel, arrays, axis, options)


def _run_blocks(kernel: Callable[..., None], arrays: tuple[np.ndarray, ...], axis: int,
                options: dict[str, Any]) -> None:
    """map_blocks past its size threshold: the blocks on the pool, or inline when they cannot be."""
    first = arrays[0]
    threads = get_num_threads()
    # Blocks of at least two slices: a block of one slice would drop the axis, and numpy could
    # then sum the block's elements in another order (pairwise instead of one by one).
    length = first.shape[axis] if axis < first.ndim else 0
    count = min(threads * blocks_per_thread, length // 2)
    if threads == 1 or count < 2 or getattr(_inside, "active", False):
        kernel(*arrays, **options)
        return
    bounds = [length * i // count for i in range(count + 1)]
    index = (slice(None),) * axis
    work = _Work(kernel, [tuple(a[index + (slice(bounds[i], bounds[i + 1]),)] for a in arrays)
                          for i in range(count)], options)
    tasks = _workers(threads - 1)
    for _ in range(threads - 1):
        tasks.put(work)
    work.run()
    work.done.acquire()  # the blocks a worker took (those the caller took are done)
    if work.errors:
        raise work.errors[0]


def _product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    np.matmul(a, b, out=out)


def _product_rows(a: np.ndarray, out: np.ndarray, b: np.ndarray) -> None:
    np.matmul(a, b, out=out)  # rows of a, all of b


def _product_columns(b: np.ndarray, out: np.ndarray, a: np.ndarray) -> None:
    np.matmul(a, b, out=out)  # all of a, columns of b


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, on the pool's threads when the budget has more than one and the product is large,
    in blocks, one single-threaded BLAS call each: for 2-D a and b the rows of a, or the
    columns of b when a has fewer rows than b columns (one token's step in a language model is
    a (1, d) @ (d, n) product); for batched a and b of one batch shape, the batch (axis 0).
    Each element of the result is one BLAS dot product over the same inner dimension whichever
    block holds it, but OpenBLAS picks its inner kernels by block shape, so a cut product may
    differ from the uncut one in the last bits (tested: within a few ulp), as BLAS's own
    threads may. Otherwise, and for other shapes and dtypes, exactly `a @ b`."""
    if not products_share_the_pool() or a.dtype != b.dtype or a.dtype.kind != "f":
        return a @ b
    axis = 0
    if a.ndim == b.ndim == 2 and a.shape[1] == b.shape[0]:
        shape = (a.shape[0], b.shape[1])
        if a.shape[0] >= b.shape[1]:
            arrays, kernel, options = (a,), _product_rows, {"b": b}
        else:
            arrays, kernel, options, axis = (b,), _product_columns, {"a": a}, 1
    elif a.ndim == b.ndim > 2 and a.shape[:-2] == b.shape[:-2] and a.shape[-1] == b.shape[-2]:
        arrays, kernel, options = (a, b), _product, {}
        shape = a.shape[:-1] + b.shape[-1:]
    else:
        return a @ b
    if math.prod(shape) * a.shape[-1] < min_products:
        return a @ b
    out = np.empty(shape, dtype=a.dtype)
    _run_blocks(kernel, arrays + (out,), axis, options)
    return out
