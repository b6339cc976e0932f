"""Causal attention, forward + backward, three ways: minigrad's fused
`F.scaled_dot_product_attention`, the same computation written with minigrad's small ops
(scores, additive mask, softmax, weighted sum: the path `MultiHeadAttention` takes for its
experiment variants), and, where installed, PyTorch's `scaled_dot_product_attention`.

    python benchmarks/bench_attention.py                  # the medium shape, 5 alternating triples
    python benchmarks/bench_attention.py --shape 16 8 256 32 --pairs 3

Shape (B, h, T, d_k) defaults to the `medium` model of bench_train_step.py: 16 x 8 heads x 128
positions x 32. Each variant runs in a fresh child process (one framework imported, 2 threads
each unless `--threads`), the three alternating for `--pairs` rounds, and the ratios are taken
within each round (benchmarks/_common.py). The fused op gets the causal mask as the model gives
it, a boolean `attn_mask`. One timed call: clear the .grad of q, k, v, attention, backward with
a fixed gradient.

Memory, per child: `+peak MB` is the child's peak resident size (ru_maxrss) minus its size just
before the first call, so it counts what one forward + backward allocates at its worst;
`kept MB` (minigrad only) adds up the arrays the graph holds for backward after the forward.
"""
from __future__ import annotations

import argparse
import json
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

VARIANTS = ("fused", "unfused", "torch")


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


def _run_minigrad(variant: str, shape: tuple[int, ...], threads: int) -> dict[str, float]:
    import minigrad as mg
    import minigrad.functional as F

    setup_minigrad(threads)
    arrays, grad = _inputs(shape)
    q, k, v = (mg.tensor(a, requires_grad=True) for a in arrays)
    T, d = shape[-2], shape[-1]
    hidden = np.triu(np.ones((T, T), dtype=bool), 1)
    bias = np.where(hidden, np.finfo(np.float32).min, 0).astype(np.float32)  # (T, T) additive mask

    def attention() -> Any:
        if variant == "fused":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=~hidden)  # True = may attend
        scores = (q * (1.0 / d ** 0.5)) @ k.transpose(-2, -1)  # (B, h, T, T)
        return F.softmax(scores + bias, dim=-1) @ v  # (B, h, T, d)

    def step() -> None:
        for t in (q, k, v):
            t.grad = None
        attention().backward(grad)

    before = maxrss_mb()
    seconds = median_time(step)
    peak = maxrss_mb() - before
    return {"ms": seconds * 1e3, "peak_mb": peak, "kept_mb": _kept_bytes(attention()) / 2**20}


def _run_torch(shape: tuple[int, ...], threads: int) -> dict[str, float]:
    import torch

    setup_torch(threads)
    arrays, grad = _inputs(shape)
    q, k, v = (torch.tensor(a, requires_grad=True) for a in arrays)
    g = torch.from_numpy(grad)

    def step() -> None:
        for t in (q, k, v):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)

    before = maxrss_mb()
    seconds = median_time(step)
    return {"ms": seconds * 1e3, "peak_mb": maxrss_mb() - before, "kept_mb": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[16, 8, 128, 32], metavar=("B", "H", "T", "D"))
    add_side_by_side_options(parser)
    args = parser.parse_args()
    shape = tuple(args.shape)
    if args.worker:
        run = _run_torch(shape, args.threads) if args.worker == "torch" else _run_minigrad(args.worker, shape,
                                                                                          args.threads)
        print(json.dumps(run))
        return

    variants = [v for v in VARIANTS if v != "torch" or (torch_available() and not args.no_torch)]
    arguments = ["--shape", *map(str, shape)]
    runs = alternate({v: lambda v=v: run_worker(__file__, [v, *arguments], args.threads) for v in variants},
                     args.pairs)
    print(header(f"causal attention forward + backward, (B, h, T, d_k) = {shape}, float32", args.threads))
    print(f"# {args.pairs} alternating rounds of fresh processes ({' / '.join(variants)}); "
          "+peak MB = ru_maxrss growth during the timed calls; kept MB = arrays saved for backward")
    names = {"fused": "minigrad F.scaled_dot_product_attention", "unfused": "minigrad small ops",
             "torch": "torch F.scaled_dot_product_attention"}
    rows = []
    for v in variants:
        vs_small = Ratios.of(runs[v], runs["unfused"], "ms")
        vs_torch = Ratios.of(runs[v], runs["torch"], "ms") if "torch" in runs else None
        kept = "-" if v == "torch" else f"{median_of(runs[v], 'kept_mb'):.0f}"
        rows.append([names[v], f"{median_of(runs[v], 'ms'):.2f}", str(vs_small), str(vs_torch or "-"),
                     f"{max(r['peak_mb'] for r in runs[v]):.0f}", kept])
    print(table(rows, ["variant", "ms", "vs small ops", "vs torch", "+peak MB", "kept MB"]))
    print("# ms: median over the rounds; ratios: median (lowest-highest) of the ratios within each round")
    print(f"# load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
