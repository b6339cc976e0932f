"""Causal attention, forward + backward, three ways: minigrad's fused
`F.scaled_dot_product_attention`, the same computation written with minigrad's small ops
(scores, additive mask, softmax, weighted sum: the path `MultiHeadAttention` takes for its
experiment variants), and, where installed, PyTorch's `scaled_dot_product_attention`.

    python benchmarks/bench_attention.py                  # the medium shape, 3 rounds
    python benchmarks/bench_attention.py --shape 16 8 256 32 --rounds 1

Shape (B, h, T, d_k) defaults to the `medium` model of bench_train_step.py: 16 x 8 heads x 128
positions x 32. Each variant runs in its own child process (one framework imported, BLAS
threads as numpy's), alternating over `--rounds` rounds; each figure is the child's fastest
round. One timed call: clear the .grad of q, k, v, attention, backward with a fixed gradient.

Memory, per child: `+peak MB` is the child's peak resident size (ru_maxrss) minus its size just
before the first call, so it counts what one forward + backward allocates at its worst;
`kept MB` (minigrad only) adds up the arrays the graph holds for backward after the forward.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from typing import Any

import numpy as np
from _common import child_env, header, numpy_blas_threads, table, torch_available

from transformer.faq.stats import median_time

VARIANTS = ("fused", "unfused", "torch")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _inputs(shape: tuple[int, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    q, k, v, grad = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    return [q, k, v], grad


def _kept_bytes(out: Any) -> int:
    """Bytes of the distinct arrays the graph below `out` saved for backward."""
    from minigrad.autograd import topological_order

    seen: dict[int, int] = {}
    for node in topological_order(out.grad_fn):
        for array in node.__dict__.get("_saved") or ():
            if isinstance(array, np.ndarray):
                base = array if array.base is None else array.base
                seen[id(base)] = base.nbytes
    return sum(seen.values())


def _run_minigrad(variant: str, shape: tuple[int, ...]) -> dict[str, float]:
    import minigrad as mg
    import minigrad.functional as F

    arrays, grad = _inputs(shape)
    q, k, v = (mg.tensor(a, requires_grad=True) for a in arrays)
    T, d = shape[-2], shape[-1]
    hidden = np.triu(np.ones((T, T), dtype=bool), 1)
    bias = np.where(hidden, np.finfo(np.float32).min, 0).astype(np.float32)  # (T, T) additive mask

    def attention() -> Any:
        if variant == "fused":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        scores = (q * (1.0 / d ** 0.5)) @ k.transpose(-2, -1)  # (B, h, T, T)
        return F.softmax(scores + bias, dim=-1) @ v  # (B, h, T, d)

    def step() -> None:
        for t in (q, k, v):
            t.grad = None
        attention().backward(grad)

    before = _maxrss_mb()
    seconds = median_time(step)
    peak = _maxrss_mb() - before
    return {"ms": seconds * 1e3, "peak_mb": peak, "kept_mb": _kept_bytes(attention()) / 2**20}


def _run_torch(shape: tuple[int, ...], threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    arrays, grad = _inputs(shape)
    q, k, v = (torch.tensor(a, requires_grad=True) for a in arrays)
    g = torch.from_numpy(grad)

    def step() -> None:
        for t in (q, k, v):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)

    before = _maxrss_mb()
    seconds = median_time(step)
    return {"ms": seconds * 1e3, "peak_mb": _maxrss_mb() - before, "kept_mb": float("nan")}


def _child(variant: str, shape: tuple[int, ...], threads: int) -> None:
    result = _run_torch(shape, threads) if variant == "torch" else _run_minigrad(variant, shape)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[16, 8, 128, 32], metavar=("B", "H", "T", "D"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(args.shape)
    if args.child:
        _child(args.child, shape, args.threads)
        return

    threads = numpy_blas_threads()
    variants = [v for v in VARIANTS if v != "torch" or torch_available()]
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            command = [sys.executable, __file__, "--child", variant, "--threads", str(threads),
                       "--shape", *map(str, shape)]
            done = subprocess.run(command, env=child_env(threads), capture_output=True, text=True, check=True)
            runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = {v: {key: min(r[key] for r in results) for key in results[0]} for v, results in runs.items()}

    print(header(f"causal attention forward + backward, (B, h, T, d_k) = {shape}, float32"))
    print(f"# {args.rounds} rounds, fastest kept; {threads} BLAS thread(s); +peak MB = ru_maxrss growth "
          "during the timed calls; kept MB = arrays saved for backward")
    names = {"fused": "minigrad F.scaled_dot_product_attention", "unfused": "minigrad small ops",
             "torch": "torch F.scaled_dot_product_attention"}
    rows = []
    for v in variants:
        kept = "-" if v == "torch" else f"{best[v]['kept_mb']:.0f}"
        rows.append([names[v], f"{best[v]['ms']:.2f}", f"{best[v]['ms'] / best['unfused']['ms']:.2f}",
                     f"{best[v]['peak_mb']:.0f}", kept])
    print(table(rows, ["variant", "ms", "vs small ops", "+peak MB", "kept MB"]))


if __name__ == "__main__":
    main()
