"""Q3: why dot-product scores rather than additive ones, and how do their costs differ?

Claim (the tutorial): dot products are faster; additive scoring is about as costly in theory
(it acts like a hidden layer), and how the two compare in quality depends on d_k: the larger
d_k, the more additive scoring gains (over unscaled dot products, as in Vaswani et al. 2017).

Per batch element and head, with T positions and head size d_k:

    dot       s_ij = q_i . k_j / sqrt(d_k)     2 T^2 d_k flops in one matrix product (BLAS);
                                               keeps T^2 scores
    additive  s_ij = v . tanh(q_i + k_j)       T^2 d_k adds + T^2 d_k tanh + 2 T^2 d_k flops,
                                               elementwise (memory-bound, no BLAS); keeps the
                                               T^2 d_k array tanh(q_i + k_j) for backward

Same order of arithmetic, but additive scoring holds d_k times more memory and runs as
elementwise passes over that big array. Part 1 measures forward + backward of one
`MultiHeadAttention` (B = 8, 4 heads) as T and d_k grow: the best wall time of several runs
(the one least disturbed by other processes), and the peak of memory allocated during one run
as counted by Python's `tracemalloc` (numpy reports every array buffer it allocates to
tracemalloc, so this is the peak of live numpy data plus Python objects, above what existed
before the run). Part 2 trains the same model with dot (scaled and unscaled) and additive
scores at a small and a large d_k.
"""
from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np

import minigrad
from minigrad import Tensor

from ..attention import MultiHeadAttention
from . import svg_chart as svg
from .report import DEFAULT_OUT, Result, Table, experiment, per_seed
from .training import TrainSettings, mean, train_seeds

BATCH, HEADS, D_MODEL = 8, 4, 64
MiB = 1024 * 1024


def forward_backward(attn: MultiHeadAttention, x: Tensor) -> None:
    attn(x).sum().backward()


def measure(score: str, T: int, d_k: int, repeats: int, seed: int) -> tuple[float, float]:
    """(best seconds of `repeats`, peak MiB allocated) of one forward + backward at this size."""
    minigrad.manual_seed(seed)
    attn = MultiHeadAttention(D_MODEL, HEADS, score=score, head_dim=d_k)
    x = Tensor(np.random.default_rng(seed).standard_normal((BATCH, T, D_MODEL)).astype(np.float32),
               requires_grad=True)
    forward_backward(attn, x)  # warm up: first-touch page faults, lazy imports
    times = []
    for _ in range(repeats):
        attn.zero_grad()
        x.grad = None
        started = time.perf_counter()
        forward_backward(attn, x)
        times.append(time.perf_counter() - started)
    attn.zero_grad()
    x.grad = None
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        forward_backward(attn, x)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return min(times), peak / MiB


def score_bytes(score: str, T: int, d_k: int) -> float:
    """MiB of the float32 array the scoring keeps for backward: (B, h, T, T), or (B, h, T, T, d_k)."""
    return 4 * BATCH * HEADS * T * T * (d_k if score == "additive" else 1) / MiB


@experiment("q3")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    result = Result("q3")
    sizes = [(16, 16), (32, 16)] if quick else \
        [(T, 32) for T in (16, 32, 64, 128)] + [(64, d) for d in (8, 16, 64, 128)]
    repeats = 2 if quick else 7
    cost = Table(f"Forward + backward of MultiHeadAttention(d_model={D_MODEL}, n_heads={HEADS}, "
                 f"head_dim=d_k) on x of shape ({BATCH}, T, {D_MODEL}); time: best of {repeats}; memory: "
                 "tracemalloc peak",
                 ["T", "d_k", "dot time (ms)", "additive time (ms)", "time ratio", "dot peak (MiB)",
                  "additive peak (MiB)", "memory ratio", "scores kept: dot (MiB)", "additive (MiB)"])
    measured = {}
    for T, d_k in sizes:
        (td, md), (ta, ma) = measure("dot", T, d_k, repeats, seed), measure("additive", T, d_k, repeats, seed)
        measured[T, d_k] = (td, ta, md, ma)
        cost.rows.append([T, d_k, 1000 * td, 1000 * ta, ta / td, md, ma, ma / md,
                          score_bytes("dot", T, d_k), score_bytes("additive", T, d_k)])
    result.tables.append(cost)
    result.facts["cost"] = {f"T={T},d_k={d}": v for (T, d), v in measured.items()}

    by_T = sorted((T, v) for (T, d), v in measured.items() if d == sizes[0][1])
    by_d = sorted((d, v) for (T, d), v in measured.items() if T == 64)
    for name, rows, xlabel in (("T", by_T, f"T (d_k = {sizes[0][1]})"), ("dk", by_d, "d_k (T = 64)")):
        if len(rows) < 2:
            continue
        xs = [r[0] for r in rows]
        for what, i, unit, scale in (("time", 0, "ms", 1000), ("memory", 2, "MiB", 1)):
            result.figures.append(svg.save(svg.line_chart(
                [svg.Series("dot", xs, [scale * v[i] for _, v in rows]),
                 svg.Series("additive", xs, [scale * v[i + 1] for _, v in rows])],
                title=f"Forward + backward {what} as {xlabel.split()[0]} grows", xlabel=xlabel,
                ylabel=f"{'best time' if what == 'time' else 'peak allocated'} ({unit})", log_x=2, log_y=10),
                out_dir / f"q3_{what}_{name}.svg"))

    # Part 2: quality at a small and a large d_k.
    settings = TrainSettings.quick() if quick else TrainSettings(steps=400, eval_interval=100)
    seeds = (seed,) if quick else (seed, seed + 1)
    head_dims = (8,) if quick else (8, 128)
    variants = (("q.k / sqrt(d_k)", "dot", True), ("q.k", "dot", False), ("additive", "additive", True))
    quality = Table(f"Training on `{settings.task}` (length {settings.length}): one layer, "
                    f"d_model={settings.d_model}, {settings.n_heads} heads of size d_k, {settings.steps} "
                    f"steps, seeds {', '.join(map(str, seeds))}",
                    ["d_k", "scores", "held-out exact match (per seed)", "held-out loss (mean)",
                     "time per run (s)"])
    curves = {}
    for d_k in head_dims:
        for name, score, scale in variants:
            runs = train_seeds(settings, seeds, score=score, scale=scale, head_dim=d_k)
            curves[d_k, name] = runs[0]
            quality.rows.append([d_k, name, per_seed(r.history.accuracy for r in runs),
                                 mean(r.history.eval_losses[-1] for r in runs),
                                 mean(r.history.seconds for r in runs)])
            result.facts[f"accuracy_{d_k}_{name}"] = mean(r.history.accuracy for r in runs)
    result.tables.append(quality)
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series(f"d_k={d}: {name}", r.curve_steps, r.smoothed_losses, dashed=d != head_dims[0])
         for (d, name), r in curves.items()],
        title=f"Training loss on {settings.task} (seed {seed})", xlabel="step",
        ylabel="training loss (smoothed)",
        log_y=10), out_dir / "q3_training.svg"))
    return result
