"""Forward + backward of each op family, and the per-op overhead of the graph machinery, side by
side in minigrad and PyTorch eager.

    python benchmarks/bench_ops.py                   # every op, 5 alternating pairs
    python benchmarks/bench_ops.py --only overhead   # the per-op overhead rows alone
    python benchmarks/bench_ops.py --malloc off      # minigrad without its glibc malloc tuning
    python benchmarks/bench_ops.py --only "nn|" --blocks off   # fused kernels inline, on one thread
    python benchmarks/bench_ops.py --only pass       # single passes over memory, numpy against PyTorch

Each side runs in a fresh child process that imports only its framework, so neither one's
allocator settings or thread pools touch the other; the children alternate, minigrad then
PyTorch, for `--pairs` pairs, and each row's ratio is taken within each pair
(benchmarks/_common.py). One timed call is: clear the leaves' `.grad`, run the op, then
`backward` with a fixed gradient of ones (a scalar loss: plain `backward()`); a child's figure
is the median of 7 loops.

Sizes: S is a 64 x 64 operand (per-call overhead dominates), L a 2048 x 512 float32 one (4 MB,
the size of the `small` LM's feed-forward activations: memory traffic dominates). The chains of
small ops on 16-element tensors give the per-op cost of the graph machinery in microseconds.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
from _common import (
    Ratios,
    add_side_by_side_options,
    alternate,
    header,
    load_average,
    maxrss_mb,
    median_of,
    run_worker,
    setup_minigrad,
    setup_torch,
    table,
    torch_available,
)

from transformer.faq.stats import median_time

S, L = (64, 64), (2048, 512)
CHAIN_LENGTH = 100


def _arrays(seed: int, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


# A case: (family, name, size, inputs, fn). `inputs` builds the numpy operands (True = needs grad,
# False = a constant such as ids or a mask); `fn(lib, *tensors)` is the op, written once for both
# frameworks (lib.F is minigrad.functional or torch.nn.functional, lib.fw the package).
Case = tuple[str, str, str, Callable[[], list[tuple[np.ndarray, bool]]], Callable[..., Any]]


def _cases() -> list[Case]:
    cases: list[Case] = []

    def grads(*arrays: np.ndarray) -> list[tuple[np.ndarray, bool]]:
        return [(a, True) for a in arrays]

    for label, (n, d) in (("S", S), ("L", L)):
        x, y, w = _arrays(0, (n, d), (n, d), (d,))
        pos = np.abs(y) + 0.5
        mask = x > 1.0
        # elementwise
        cases += [
            ("elementwise", "a + b", label, lambda x=x, y=y: grads(x, y), lambda lib, a, b: a + b),
            ("elementwise", "a + bias (broadcast)", label, lambda x=x, w=w: grads(x, w), lambda lib, a,
             b: a + b),
            ("elementwise", "a * b", label, lambda x=x, y=y: grads(x, y), lambda lib, a, b: a * b),
            ("elementwise", "a / b", label, lambda x=x, p=pos: grads(x, p), lambda lib, a, b: a / b),
            ("elementwise", "a ** 3", label, lambda x=x: grads(x), lambda lib, a: a**3),
            ("elementwise", "exp", label, lambda x=x: grads(x), lambda lib, a: a.exp()),
            ("elementwise", "tanh", label, lambda x=x: grads(x), lambda lib, a: a.tanh()),
            ("elementwise", "sigmoid", label, lambda x=x: grads(x), lambda lib, a: a.sigmoid()),
            ("elementwise", "relu", label, lambda x=x: grads(x), lambda lib, a: a.relu()),
            (
                "elementwise",
                "masked_fill",
                label,
                lambda x=x, m=mask: [(x, True), (m, False)],
                lambda lib, a, m: a.masked_fill(m, -1e9),
            ),
        ]
        # reductions over the last dimension
        cases += [
            ("reduce", "sum(dim=-1)", label, lambda x=x: grads(x), lambda lib, a: a.sum(-1)),
            ("reduce", "mean(dim=-1)", label, lambda x=x: grads(x), lambda lib, a: a.mean(-1)),
            ("reduce", "max(dim=-1)", label, lambda x=x: grads(x), lambda lib, a: lib.amax(a, -1)),
            ("reduce", "var(dim=-1)", label, lambda x=x: grads(x), lambda lib, a: a.var(-1)),
        ]
        # shape ops
        half = n // 2
        rows = np.random.default_rng(1).integers(0, n, size=n)
        cases += [
            ("shape", "transpose", label, lambda x=x: grads(x), lambda lib, a: a.transpose(0, 1)),
            (
                "shape",
                "reshape + permute",
                label,
                lambda x=x: grads(x),
                lambda lib, a: a.reshape(a.shape[0], 4, -1).permute(1, 0, 2),
            ),
            ("shape", "getitem slice", label, lambda x=x: grads(x), lambda lib, a, h=half: a[:h, 1:]),
            (
                "shape",
                "getitem rows (gather)",
                label,
                lambda x=x, r=rows: [(x, True), (r, False)],
                lambda lib, a, r: a[r],
            ),
            ("shape", "cat(dim=0)", label, lambda x=x, y=y: grads(x, y), lambda lib, a,
             b: lib.fw.cat([a, b], 0)),
            ("shape", "stack(dim=0)", label, lambda x=x, y=y: grads(x, y), lambda lib, a,
             b: lib.fw.stack([a, b], 0)),
        ]
        # fused nn functions (minigrad.functional)
        gamma, beta = _arrays(2, (d,), (d,))
        n_classes = 64 if label == "L" else d
        logits = _arrays(3, (n, n_classes))[0]
        target = np.random.default_rng(4).integers(0, n_classes, size=n)
        table_ = _arrays(5, (256, d))[0]
        ids = np.random.default_rng(6).integers(0, 256, size=n)
        cases += [
            ("nn", "softmax(dim=-1)", label, lambda x=x: grads(x), lambda lib, a: lib.F.softmax(a, -1)),
            ("nn", "log_softmax(dim=-1)", label, lambda x=x: grads(x), lambda lib,
             a: lib.F.log_softmax(a, -1)),
            (
                "nn",
                "layer_norm",
                label,
                lambda x=x, g=gamma, b=beta: grads(x, g, b),
                lambda lib, a, g, b: lib.F.layer_norm(a, (a.shape[-1],), g, b),
            ),
            ("nn", "gelu (erf)", label, lambda x=x: grads(x), lambda lib, a: lib.F.gelu(a)),
            ("nn", "gelu (tanh)", label, lambda x=x: grads(x), lambda lib,
             a: lib.F.gelu(a, approximate="tanh")),
            (
                "nn",
                "cross_entropy",
                label,
                lambda z=logits, t=target: [(z, True), (t, False)],
                lambda lib, z, t: lib.F.cross_entropy(z, t),
            ),
            (
                "nn",
                "embedding",
                label,
                lambda i=ids, e=table_: [(i, False), (e, True)],
                lambda lib, i, e: lib.F.embedding(i, e),
            ),
        ]
        # matrix products
        k = 128 if label == "L" else d
        a2, b2, wl, bl = _arrays(7, (n, k), (k, d), (d, k), (d,))
        qa, kb = _arrays(8, (8, 4, n // 8, 32), (8, 4, 32, n // 8))
        cases += [
            ("linalg", f"matmul ({n}x{k} @ {k}x{d})", label, lambda a=a2, b=b2: grads(a, b), lambda lib, a,
             b: a @ b),
            (
                "linalg",
                f"batched matmul (8x4x{n // 8}x32 @ ..x32x{n // 8})",
                label,
                lambda a=qa, b=kb: grads(a, b),
                lambda lib, a, b: a @ b,
            ),
            (
                "linalg",
                f"linear ({n}x{k}, W {d}x{k})",
                label,
                lambda x=a2, w=wl, b=bl: grads(x, w, b),
                lambda lib, x, w, b: lib.F.linear(x, w, b),
            ),
        ]
    return cases


def _chains() -> list[tuple[str, int, Callable[..., Any]]]:
    """(name, ops recorded, fn(lib, x, a, b)) on 16-element tensors: the per-op overhead."""

    def tensor_operands(lib, x, a, b):
        for _ in range(CHAIN_LENGTH):
            x = (x * a + b).tanh()
        return x.sum()

    def number_operands(lib, x, a, b):
        for _ in range(CHAIN_LENGTH):
            x = (x * 0.5 + 0.25).tanh()
        return x.sum()

    return [
        ("chain: x = tanh(x * a + b)", 3 * CHAIN_LENGTH + 1, tensor_operands),
        ("chain: x = tanh(x * 0.5 + 0.25)", 3 * CHAIN_LENGTH + 1, number_operands),
    ]


PASSES = 8  # passes per timed call, as a fused kernel makes several passes over each block


def _passes(framework: str) -> list[tuple[str, Callable[..., None]]]:
    """(name, fn(x, y, m, out, col)): one pass over an L-sized array x (y another one, m x's
    row maxima, out an array like x, col one like m), no graph. The fused kernels are made of
    such passes, several per call: minigrad's `fn` is a kernel run in row blocks on the thread
    budget, as theirs (`minigrad.parallel`), and the timed call runs PASSES of them per block,
    so that a pass pays its share of handing blocks to threads as it does in a kernel."""
    if framework == "torch":
        import torch

        return [
            ("x * y, two arrays", lambda x, y, m, out, col: torch.mul(x, y, out=out)),
            ("x - m, m (rows, 1) broadcast", lambda x, y, m, out, col: torch.sub(x, m, out=out)),
            ("exp(x)", lambda x, y, m, out, col: torch.exp(x, out=out)),
            ("row max", lambda x, y, m, out, col: torch.amax(x, 1, keepdim=True, out=col)),
            ("row sum", lambda x, y, m, out, col: torch.sum(x, 1, keepdim=True, out=col)),
        ]
    from minigrad.ops.rows import sums

    def row_sum(x: np.ndarray, y: np.ndarray, m: np.ndarray, out: np.ndarray, col: np.ndarray) -> None:
        col[...] = sums(x, 1)

    return [
        ("x * y, two arrays", lambda x, y, m, out, col: np.multiply(x, y, out=out)),
        ("x - m, m (rows, 1) broadcast", lambda x, y, m, out, col: np.subtract(x, m, out=out)),
        ("exp(x)", lambda x, y, m, out, col: np.exp(x, out=out)),
        ("row max", lambda x, y, m, out, col: np.max(x, axis=1, keepdims=True, out=col)),
        ("row sum", row_sum),
    ]


def _time_passes(framework: str, fn: Callable[..., None], operands: list[Any]) -> float:
    """Seconds per pass of `fn`, PASSES passes per timed call."""
    if framework == "torch":
        def call() -> None:
            for _ in range(PASSES):
                fn(*operands)
    else:
        from minigrad.parallel import map_blocks

        def kernel(*blocks: np.ndarray) -> None:
            for _ in range(PASSES):
                fn(*blocks)

        def call() -> None:
            map_blocks(kernel, *operands)
    return median_time(call) / PASSES


# ----- one framework, in a child process ----------------------------------------------------------
def _load(framework: str, threads: int) -> SimpleNamespace:
    if framework == "torch":
        import torch

        setup_torch(threads)
        return SimpleNamespace(
            fw=torch,
            F=torch.nn.functional,
            amax=lambda a, d: a.amax(d),
            tensor=lambda arr, g: torch.from_numpy(arr).requires_grad_(g),
            ones_like=torch.ones_like,
            no_grad=torch.no_grad,
        )
    import minigrad
    from minigrad import functional as F

    setup_minigrad(threads)
    return SimpleNamespace(
        fw=minigrad,
        F=F,
        amax=lambda a, d: a.amax(d),
        tensor=lambda arr, g: minigrad.tensor(arr, requires_grad=g),
        ones_like=lambda t: np.ones(t.shape, dtype=t.data.dtype),
        no_grad=minigrad.no_grad,
    )


def _time_case(lib: SimpleNamespace, inputs: list[tuple[np.ndarray, bool]], fn: Callable[..., Any]) -> float:
    tensors = [lib.tensor(arr, g) for arr, g in inputs]
    leaves = [t for t, (_, g) in zip(tensors, inputs) if g]
    probe = fn(lib, *tensors)
    seed = None if probe.ndim == 0 else lib.ones_like(probe)

    def step() -> None:
        for t in leaves:
            t.grad = None
        out = fn(lib, *tensors)
        out.backward() if seed is None else out.backward(seed)

    return median_time(step)


def worker(framework: str, threads: int, only: str, blocks: str) -> dict[str, float | None]:
    lib = _load(framework, threads)
    if framework == "minigrad" and blocks == "off":
        from minigrad import parallel

        parallel.min_elements = sys.maxsize  # every array below the threshold: inline
    results: dict[str, float | None] = {}
    for family, name, size, inputs, fn in _cases():
        key = f"{family}|{name}|{size}"
        if only not in key:
            continue
        try:
            results[key] = _time_case(lib, inputs(), fn)
        except (AttributeError, NotImplementedError, TypeError) as e:  # op missing in this build
            print(f"{framework}: {name} ({size}) skipped: {e}", file=sys.stderr)
            results[key] = None
    x, y = _arrays(9, L, L)
    operands = [x, y, x.max(axis=1, keepdims=True), np.empty_like(x), np.empty((L[0], 1), dtype=x.dtype)]
    if framework == "torch":
        operands = [lib.fw.from_numpy(a) for a in operands]
    for name, fn in _passes(framework):
        key = f"pass|{name}|L"
        if only in key:
            results[key] = _time_passes(framework, fn, operands)
    x, a, b = (np.full(16, v, dtype=np.float32) for v in (0.1, 0.9, 0.05))
    for name, n_ops, fn in _chains():
        if only not in f"overhead|{name}":
            continue
        tensors = [lib.tensor(arr, True) for arr in (x, a, b)]

        def fwd_bwd(tensors=tensors, fn=fn) -> None:
            fn(lib, *tensors).backward()

        def fwd_only(tensors=tensors, fn=fn) -> None:
            with lib.no_grad():
                fn(lib, *tensors)

        results[f"overhead|{name} fwd+bwd|µs/op"] = median_time(fwd_bwd) / n_ops
        results[f"overhead|{name} no_grad fwd|µs/op"] = median_time(fwd_only) / n_ops
    results["peak_mb"] = maxrss_mb()
    return results


# ----- the parent: run the children side by side, print the table --------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", metavar="TEXT",
                        help="only the rows whose family|op|size contains TEXT (e.g. overhead, nn, |L)")
    parser.add_argument("--malloc", choices=("on", "off"), default="on",
                        help="minigrad's glibc malloc tuning")
    parser.add_argument("--blocks", choices=("on", "off"), default="on",
                        help="minigrad's fused kernels in row blocks on the thread budget (off: inline)")
    add_side_by_side_options(parser)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.only, args.blocks)))
        return

    frameworks = ["minigrad"] + (["torch"] if torch_available() and not args.no_torch else [])
    mallopt = args.malloc == "on"
    runs = alternate({f: lambda f=f: run_worker(__file__, [f, "--only", args.only, "--blocks", args.blocks],
                                                         args.threads, mallopt)
                      for f in frameworks}, args.pairs)
    torch = runs.get("torch")

    print(header("ops, forward + backward, and the per-op overhead of the graph", args.threads))
    print(f"# {args.pairs} alternating pairs of fresh processes ({' / '.join(frameworks)}); minigrad malloc "
          f"tuning {args.malloc}, row blocks {args.blocks}; sizes S={S}, L={L}")
    rows = []
    for key in runs["minigrad"][0]:
        if key == "peak_mb":
            continue
        family, name, size = key.split("|")
        scale = 1e6 if size == "µs/op" else 1e3
        ratios = Ratios.of(runs["minigrad"], torch, key) if torch else None
        rows.append([family, name, size, _figure(median_of(runs["minigrad"], key), scale),
                     _figure(median_of(torch, key), scale) if torch else "-",
                     f"{ratios.median:.2f}" if ratios else "-", ratios.spread if ratios else "-"])
    print(table(rows, ["family", "op", "size", "minigrad", "torch", "ratio", "spread"]))
    print(f"# ms per forward+backward call, except the pass rows (ms per pass, {PASSES} per call, no graph)")
    print("# and the overhead rows (µs per recorded op), medians over")
    print("# the pairs; ratio = the median over the pairs of minigrad / torch within each pair (below 1:")
    print("# minigrad is faster); spread: the lowest-highest pair")
    peaks = "; ".join(f"{f} {max(r['peak_mb'] for r in runs[f]):.0f} MB" for f in frameworks)
    print(f"# peak memory of the children (ru_maxrss, highest of each side): {peaks}")
    print(f"# load average at the end: {load_average()}")


def _figure(value: float | None, scale: float) -> str:
    return "n/a" if value is None else f"{value * scale:.3g}"


if __name__ == "__main__":
    main()
