"""The fused kernels in row blocks on threads (minigrad.parallel): the blocked path gives the
same bits as the inline one whatever the number of threads, gradients check on both sides of
the size threshold, and the pool is an explicit, lazy thing sharing one budget with BLAS."""
from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import minigrad
from minigrad import functional as F
from minigrad import parallel
from minigrad.ops.erf import erf
from minigrad.threads import blas_num_threads, get_num_threads, products_share_the_pool, set_num_threads


@pytest.fixture
def budget(monkeypatch):
    """set(threads, blocked): that many threads, every array above the threshold (blocked) or
    none (inline); the thread budget is restored afterwards."""
    before = get_num_threads()

    def set_(threads: int, blocked: bool) -> None:
        set_num_threads(threads)
        monkeypatch.setattr(parallel, "min_elements", 0 if blocked else 1 << 62)
        monkeypatch.setattr(parallel, "min_products", 0 if blocked else 1 << 62)

    yield set_
    set_num_threads(before)


def _target(n: int, classes: int, ignored: bool) -> np.ndarray:
    target = np.random.default_rng(7).integers(0, classes, size=n)
    if ignored:
        target[::3] = -100
    return target


# (id, fn over tensors, input shapes); every input requires grad.
KERNELS = [
    ("softmax last", lambda x: F.softmax(x, dim=-1), [(13, 6)]),
    ("softmax middle", lambda x: F.softmax(x, dim=1), [(3, 4, 5)]),
    ("softmax first", lambda x: F.softmax(x, dim=0), [(3, 4, 5)]),
    ("log_softmax last", lambda x: F.log_softmax(x, dim=-1), [(13, 6)]),
    ("log_softmax first", lambda x: F.log_softmax(x, dim=0), [(9, 13)]),
    ("layer_norm affine", lambda x, w, b: F.layer_norm(x, (6,), w, b), [(3, 4, 6), (6,), (6,)]),
    ("layer_norm plain", lambda x: F.layer_norm(x, (6,)), [(13, 6)]),
    ("layer_norm two dims", lambda x, w: F.layer_norm(x, (3, 2), w), [(5, 3, 2), (3, 2)]),
    ("rms_norm weight", lambda x, w: F.rms_norm(x, (6,), w), [(13, 6), (6,)]),
    ("rms_norm plain", lambda x: F.rms_norm(x, (6,)), [(13, 6)]),
    ("gelu", lambda x: F.gelu(x), [(13, 6)]),
    ("gelu tanh", lambda x: F.gelu(x, approximate="tanh"), [(3, 4, 5)]),
    ("cross_entropy mean", lambda x: F.cross_entropy(x, _target(13, 6, False)), [(13, 6)]),
    ("cross_entropy ignored, smoothed",
     lambda x: F.cross_entropy(x, _target(13, 6, True), label_smoothing=0.1), [(13, 6)]),
    ("matmul 2-D", lambda a, b: a @ b, [(13, 7), (7, 5)]),
    ("matmul batched", lambda a, b: a @ b, [(4, 3, 5, 6), (4, 3, 6, 2)]),
    ("matmul broadcast", lambda a, b: a @ b, [(4, 5, 6), (6, 3)]),
    ("linear", lambda x, w, b: F.linear(x, w, b), [(3, 9, 6), (4, 6), (4,)]),
    ("attention", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     [(2, 3, 7, 4), (2, 3, 7, 4), (2, 3, 7, 5)]),
    ("cross_entropy none", lambda x: F.cross_entropy(x, _target(13, 6, True), reduction="none"),
     [(13, 6)]),
]
IDS = [k[0] for k in KERNELS]


def _run(fn, shapes, dtype):
    """The forward values and every input's gradient, under a random upstream gradient."""
    rng = np.random.default_rng(0)
    inputs = [minigrad.tensor(rng.standard_normal(s).astype(dtype) * 3, requires_grad=True) for s in shapes]
    out = fn(*inputs)
    out.backward(minigrad.tensor(rng.standard_normal(out.shape).astype(dtype)))
    return [out.data] + [t.grad.data for t in inputs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "fn", "shapes"), KERNELS, ids=IDS)
def test_blocked_results_equal_inline_bit_for_bit_for_any_thread_count(budget, name, fn, shapes, dtype):
    budget(1, blocked=False)
    inline = _run(fn, shapes, dtype)
    for threads in (2, 3, 4):
        budget(threads, blocked=True)
        blocked = _run(fn, shapes, dtype)
        for a, b in zip(inline, blocked):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a, b), f"{name}: {threads} threads differ from inline"


@pytest.mark.parametrize("blocked", [False, True], ids=["inline", "blocked"])
@pytest.mark.parametrize(("name", "fn", "shapes"), KERNELS, ids=IDS)
def test_gradcheck_on_both_sides_of_the_threshold(budget, name, fn, shapes, blocked):
    budget(3, blocked=blocked)
    rng = np.random.default_rng(1)
    inputs = [minigrad.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert minigrad.gradcheck(fn, inputs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_in_blocks_equals_erf_inline(budget, dtype):
    x = np.random.default_rng(2).standard_normal(1001).astype(dtype) * 3
    x[::97] = np.nan
    budget(1, blocked=False)
    inline = erf(x)
    budget(3, blocked=True)
    np.testing.assert_array_equal(erf(x), inline)


def test_a_failing_block_raises_in_the_caller(budget):
    budget(3, blocked=True)

    def kernel(x, out):
        if x[0] > 0:
            raise ValueError("kernel: a bad block")
        out[...] = x

    x, out = np.arange(-5.0, 4.0), np.empty(9)
    with pytest.raises(ValueError, match="a bad block"):
        parallel.map_blocks(kernel, x, out)


def test_a_kernel_called_inside_a_block_runs_inline(budget):
    budget(2, blocked=True)
    outer_calls, inner_calls = [], []

    def inner(x, out):
        inner_calls.append(len(x))
        out[...] = x

    def outer(x, out):
        outer_calls.append(len(x))
        parallel.map_blocks(inner, x, out)

    x, out = np.arange(40.0), np.empty(40)
    parallel.map_blocks(outer, x, out)
    np.testing.assert_array_equal(out, x)
    assert len(outer_calls) > 1 and inner_calls == outer_calls  # each outer block: one inner call


def test_blocks_cut_along_the_axis_asked_for_at_least_two_slices_each(budget):
    budget(3, blocked=True)
    shapes = []

    def kernel(x, out):
        shapes.append(x.shape)
        np.cumsum(x, axis=0, out=out)  # sums over axis 0: only correct in blocks of columns

    x = np.random.default_rng(3).standard_normal((7, 9))
    out = np.empty_like(x)
    parallel.map_blocks(kernel, x, out, axis=1)
    np.testing.assert_array_equal(out, np.cumsum(x, axis=0))
    assert len(shapes) == min(3 * parallel.blocks_per_thread, 9 // 2) and sum(w for _, w in shapes) == 9
    assert all(rows == 7 and w >= 2 for rows, w in shapes)


def test_one_budget_for_the_blocks_with_blas_on_one_thread(budget):
    calls = []

    def kernel(x, out):
        calls.append(threading.get_ident())
        out[...] = x

    budget(2, blocked=True)
    assert get_num_threads() == 2 and blas_num_threads() == 1 and products_share_the_pool()
    parallel.map_blocks(kernel, np.arange(100.0), np.empty(100))
    assert len(calls) == 2 * parallel.blocks_per_thread
    budget(1, blocked=True)
    assert get_num_threads() == 1 and blas_num_threads() == 1 and not products_share_the_pool()
    calls.clear()
    parallel.map_blocks(kernel, np.arange(100.0), np.empty(100))
    assert calls == [threading.get_ident()]  # one thread: inline, whatever the size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_in_blocks_are_within_a_few_ulp_of_one_product(budget, dtype):
    """OpenBLAS picks its inner kernels by the shape of a block, so a row of a cut product
    may be summed in another order than in the whole one: within a few ulp of the largest
    element. (At the sizes of the models most blocks give the same bits.)"""
    rng = np.random.default_rng(4)
    cases = [((37, 300), (300, 513)), ((200, 64), (64, 96)), ((1, 64), (64, 301)),
             ((6, 5, 33, 17), (6, 5, 17, 9))]
    for sa, sb in cases:
        a, b = rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
        budget(1, blocked=False)
        whole = parallel.matmul(a, b)
        np.testing.assert_array_equal(whole, a @ b)
        for threads in (2, 3):
            budget(threads, blocked=True)
            cut = parallel.matmul(a, b)
            assert cut.dtype == whole.dtype and cut.shape == whole.shape
            bound = 4 * np.finfo(dtype).eps * (np.abs(a) @ np.abs(b)).max()
            assert np.abs(cut - whole).max() <= bound, f"{sa} @ {sb}, {threads} threads"


@pytest.mark.parametrize("blocked", [False, True], ids=["inline", "blocked"])
def test_gradcheck_of_a_one_row_product_cut_by_columns(budget, blocked):
    budget(3, blocked=blocked)
    rng = np.random.default_rng(5)
    a, b = (minigrad.tensor(rng.standard_normal(s), requires_grad=True) for s in [(1, 7), (7, 9)])
    assert minigrad.gradcheck(lambda a, b: a @ b, [a, b])


def test_products_that_cannot_be_cut_are_numpys(budget):
    budget(2, blocked=True)
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(parallel.matmul(ints, ints.T), ints @ ints.T)
    mixed = parallel.matmul(np.ones((3, 4), np.float32), np.ones((4, 2)))
    assert mixed.dtype == np.float64
    broadcast = parallel.matmul(np.ones((5, 3, 4)), np.ones((1, 4, 2)))
    assert broadcast.shape == (5, 3, 2)
    with pytest.raises(ValueError):
        parallel.matmul(np.ones((3, 4)), np.ones((5, 2)))


def test_import_starts_no_thread():
    code = ("import threading, minigrad, numpy as np; from minigrad import functional as F;"
            "F.softmax(minigrad.tensor(np.ones((4, 4))), dim=-1);"
            "print(sorted(t.name for t in threading.enumerate()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(minigrad.__file__).rsplit("/minigrad/", 1)[0]).stdout
    assert out.strip() == "['MainThread']"


def test_callers_in_several_threads_get_their_own_results_while_the_budget_changes(budget):
    # Several user threads share the one pool; the budget changes under them (the old workers
    # leave and new ones start). Every call still returns its own, correct result, and none hangs.
    budget(3, blocked=True)
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((40, 7)) for _ in range(4)]
    expected = [np.exp(x) / np.exp(x).sum(axis=1, keepdims=True) for x in inputs]
    failures = []

    def caller(i: int) -> None:
        for _ in range(50):
            got = F.softmax(minigrad.tensor(inputs[i]), dim=-1).data
            if not np.allclose(got, expected[i], rtol=1e-12, atol=0):
                failures.append(i)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for n in (2, 4, 3):
        set_num_threads(n)
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and failures == []


def test_the_workers_are_named_daemon_threads_that_leave_when_the_budget_changes(budget):
    budget(3, blocked=True)
    parallel.map_blocks(np.negative, np.arange(10.0), np.empty(10))
    workers = [t for t in threading.enumerate() if t.name.startswith("minigrad-block")]
    assert len(workers) >= 2 and all(t.daemon for t in workers)
    budget(2, blocked=True)
    parallel.map_blocks(np.negative, np.arange(10.0), np.empty(10))
    for t in workers:
        t.join(timeout=10)  # the workers of the old budget were told to stop
    assert not any(t.is_alive() for t in workers)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_workers(budget):
    import os

    budget(2, blocked=True)
    parallel.map_blocks(np.negative, np.arange(10.0), np.empty(10))  # the parent's workers exist
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its blocked calls must not queue work for the parent's threads
        try:
            out = np.empty(10)
            parallel.map_blocks(np.negative, np.arange(10.0), out)
            workers = [t for t in threading.enumerate() if t.name.startswith("minigrad-block")]
            ok = (np.array_equal(out, -np.arange(10.0)) and len(workers) == 1
                  and parallel._task_process == os.getpid())
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
