"""Q5: why does each head work in a reduced dimension d_k = d_model / h?

Claim (the tutorial): reducing each head's dimension keeps the parameter count and the cost of
multi-head attention at that of one full-width head, while still giving h different
attention patterns.

Counting, for one attention layer over T positions (batch element), with d = d_model:

    projections   q, k, v: d -> h d_k; out: h d_k -> d    params 4 d (h d_k) + 3 h d_k + d
                                                           flops  4 x 2 T d (h d_k)
    scores        q_i . k_j for every pair, every head     flops  2 h T^2 d_k
    weights @ v   weighted sum of values, every head       flops  2 h T^2 d_k

With d_k = d / h every term is the single-head cost (h d_k = d). With d_k = d every term is h
times larger. The experiment counts the parameters, computes the forward flops from this
formula, times forward + backward of the layer, and trains both on a task.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import minigrad
from minigrad import Tensor

from ..attention import MultiHeadAttention
from . import svg_chart as svg
from .report import DEFAULT_OUT, Result, Table, experiment, per_seed
from .training import TrainSettings, mean, train_seeds


def attention_flops(d_model: int, n_heads: int, head_dim: int, T: int) -> int:
    """Forward multiply-adds x 2 of one MultiHeadAttention over T positions (one sequence),
    matrix products only (softmax and biases are O(h T^2) and O(T d) extra)."""
    inner = n_heads * head_dim
    projections = 4 * 2 * T * d_model * inner
    return projections + 2 * 2 * n_heads * T * T * head_dim


def time_layer(attn: MultiHeadAttention, x: Tensor, repeats: int) -> float:
    """Best seconds of `repeats` forward + backward passes (the least disturbed by other processes)."""
    times = []
    for i in range(repeats + 1):
        attn.zero_grad()
        started = time.perf_counter()
        attn(x).sum().backward()
        if i:  # the first run warms up
            times.append(time.perf_counter() - started)
    return min(times)


@experiment("q5")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    result = Result("q5")
    d_model, T, batch = (32, 16, 4) if quick else (64, 64, 16)
    head_counts = (1, 2, 4) if quick else (1, 2, 4, 8)
    repeats = 2 if quick else 7
    cost = Table(f"One MultiHeadAttention layer, d_model={d_model}; flops of one forward over T={T}; "
                 f"time: best of {repeats} forward + backward on a ({batch}, {T}, {d_model}) input",
                 ["heads", "d_k", "attention params", "forward MFLOP", "time (ms)"])
    x = Tensor(np.random.default_rng(seed).standard_normal((batch, T, d_model)).astype(np.float32))
    xs, series = list(head_counts), {"d_model / h": [], "d_model": []}
    for h in head_counts:
        for label, head_dim in (("d_model / h", d_model // h), ("d_model", d_model)):
            if h == 1 and label == "d_model":  # the same layer as d_model / h
                series[label].append(series["d_model / h"][-1])
                continue
            minigrad.manual_seed(seed)
            attn = MultiHeadAttention(d_model, h, head_dim=head_dim)
            params = sum(p.data.size for p in attn.parameters())
            flops = attention_flops(d_model, h, head_dim, T)
            seconds = time_layer(attn, x, repeats)
            cost.rows.append([h, f"{head_dim} ({label})", params, flops / 1e6, 1000 * seconds])
            series[label].append((params, flops, seconds))
            result.facts[f"params_{h}_{label}"] = params
            result.facts[f"flops_{h}_{label}"] = flops
            result.facts[f"seconds_{h}_{label}"] = seconds
    result.tables.append(cost)
    charts = (("parameters", 1, "q5_params.svg"), ("forward MFLOP", 1e6, "q5_flops.svg"),
              ("time (ms)", 1e-3, "q5_time.svg"))
    for i, (what, unit, filename) in enumerate(charts):
        result.figures.append(svg.save(svg.line_chart(
            [svg.Series(f"d_k = {label}", xs, [v[i] / unit for v in values], dashed=label == "d_model")
             for label, values in series.items()],
            title=f"Attention layer {what} against heads (d_model = {d_model})", xlabel="heads h",
            ylabel=what, log_x=2), out_dir / filename))

    settings = TrainSettings.quick() if quick else TrainSettings(steps=400, eval_interval=100)
    seeds = (seed,) if quick else (seed, seed + 1)
    h = settings.n_heads
    quality = Table(f"Training on `{settings.task}` (length {settings.length}): one layer, "
                    f"d_model={settings.d_model}, {h} heads, {settings.steps} steps, seeds "
                    f"{', '.join(map(str, seeds))}",
                    ["d_k", "parameters (whole model)", "held-out exact match (per seed)",
                     "held-out loss (mean)",
                     "time per run (s)"])
    curves = {}
    for label, head_dim in (("d_model / h", settings.d_model // h), ("d_model", settings.d_model)):
        runs = train_seeds(settings, seeds, head_dim=head_dim)
        curves[label] = runs[0]
        quality.rows.append([f"{head_dim} ({label})", runs[0].parameters,
                             per_seed(r.history.accuracy for r in runs),
                             mean(r.history.eval_losses[-1] for r in runs),
                             mean(r.history.seconds for r in runs)])
        result.facts[f"accuracy_{label}"] = mean(r.history.accuracy for r in runs)
        result.facts[f"model_parameters_{label}"] = runs[0].parameters
    result.tables.append(quality)
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series(f"d_k = {label}", r.curve_steps, r.smoothed_losses) for label, r in curves.items()],
        title=f"Training loss on {settings.task}, {h} heads (seed {seed})", xlabel="step",
        ylabel="training loss (smoothed)", log_y=10), out_dir / "q5_training.svg"))
    return result
