"""Q4: why are the scores divided by sqrt(d_k) before the softmax?

Claim (the tutorial): large scores push the softmax to a near one-hot output, where its gradient
vanishes; dividing by sqrt(d_k) prevents that.

Why d_k: for q, k with independent N(0, 1) entries, q . k is a sum of d_k products of variance
1, so its standard deviation is sqrt(d_k); q . k / sqrt(d_k) has standard deviation 1 at every d_k.

Part 1, no training: random q (queries) and k (keys) for d_k = 4 .. 1024, scores with and without
the scale, then the softmax's entropy (log T for uniform weights, 0 for one-hot), the share of
queries whose largest weight exceeds 0.99 (practically one-hot), and the gradient that reaches
the scores through the softmax, dL/ds = J^T g, for an upstream gradient g ~ N(0, 1) (computed by
minigrad's backward of Softmax). The median over queries is reported: the mean is carried by the
few queries whose two best keys happen to tie, and hides that the typical query gets nothing.
Part 2: the same TransformerLM at a large d_k (head_dim), trained with and without the scale.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from minigrad import Tensor
from minigrad import functional as F

from . import svg_chart as svg
from .report import DEFAULT_OUT, Result, Table, experiment, per_seed
from .training import TrainSettings, mean, train_seeds

D_KS = (4, 8, 16, 32, 64, 128, 256, 512, 1024)


def softmax_statistics(d_k: int, scaled: bool, n_queries: int, n_keys: int,
                       rng: np.random.Generator) -> dict[str, float]:
    """Over queries: score std, mean entropy (nats), share of near one-hot rows, median and mean
    of |dL/ds| per query row."""
    q = rng.standard_normal((n_queries, d_k)).astype(np.float32)
    k = rng.standard_normal((n_keys, d_k)).astype(np.float32)
    s = q @ k.T  # (n_queries, n_keys)
    if scaled:
        s = s * (1.0 / math.sqrt(d_k))  # a Python float keeps float32
    scores = Tensor(s, requires_grad=True)
    weights = F.softmax(scores, dim=-1)  # (n_queries, n_keys)
    upstream = rng.standard_normal(weights.shape).astype(np.float32)
    (weights * Tensor(upstream)).sum().backward()
    p = weights.data.astype(np.float64)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    grad_norms = np.linalg.norm(scores.grad.data.astype(np.float64), axis=-1)  # (n_queries,)
    return {
        "score_std": float(s.std()),
        "entropy": float(-plogp.sum(axis=-1).mean()),
        "one_hot": float((p.max(axis=-1) > 0.99).mean()),
        "grad_norm": float(np.median(grad_norms)),
        "grad_norm_mean": float(grad_norms.mean()),
    }


@experiment("q4")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    result = Result("q4")
    n_queries, n_keys = 1000, 32  # cheap: the same in quick mode
    rng = np.random.default_rng(seed)
    stats = {(d, scaled): softmax_statistics(d, scaled, n_queries, n_keys, rng)
             for d in D_KS for scaled in (False, True)}

    table = Table(f"Softmax over {n_keys} keys of random q, k ~ N(0, 1), mean over {n_queries} queries "
                  f"(uniform weights: entropy log {n_keys} = {math.log(n_keys):.3f})",
                  ["d_k", "score std: q.k", "q.k/sqrt(d_k)", "entropy: q.k", "q.k/sqrt(d_k)",
                   "max weight > 0.99: q.k", "q.k/sqrt(d_k)", "median abs(dL/ds): q.k", "q.k/sqrt(d_k)"])
    for d in D_KS:
        u, s = stats[d, False], stats[d, True]
        table.rows.append([d, u["score_std"], s["score_std"], u["entropy"], s["entropy"],
                           f"{100 * u['one_hot']:.1f}%", f"{100 * s['one_hot']:.1f}%", u["grad_norm"],
                           s["grad_norm"]])
    result.tables.append(table)
    for key in ("score_std", "entropy", "one_hot", "grad_norm", "grad_norm_mean"):
        for scaled, name in ((False, "unscaled"), (True, "scaled")):
            result.facts[f"{key}_{name}"] = [stats[d, scaled][key] for d in D_KS]
    result.facts["d_k"] = list(D_KS)
    result.facts["log_n_keys"] = math.log(n_keys)

    def both(key: str) -> list[svg.Series]:
        return [svg.Series(name, D_KS, [stats[d, scaled][key] for d in D_KS])
                for scaled, name in ((False, "q.k"), (True, "q.k / sqrt(d_k)"))]

    result.figures.append(svg.save(svg.line_chart(
        both("entropy"), title="Softmax entropy of random scores", xlabel="d_k", ylabel="entropy (nats)",
        log_x=2), out_dir / "q4_entropy.svg"))
    result.figures.append(svg.save(svg.line_chart(
        both("grad_norm"), title="Gradient through the softmax", xlabel="d_k",
        ylabel="median |dL/d scores| per query", log_x=2, log_y=10), out_dir / "q4_gradient.svg"))

    # Part 2: training at a large d_k, with and without the scale.
    settings = TrainSettings.quick() if quick else TrainSettings(steps=400)
    seeds = (seed,) if quick else (seed, seed + 1)
    head_dim = 64 if quick else 256
    curves = {}
    train_table = Table(f"Training on `{settings.task}` (length {settings.length}) with "
                        f"d_model={settings.d_model}, {settings.n_heads} heads of d_k={head_dim}, "
                        f"{settings.steps} steps, seeds {', '.join(map(str, seeds))}",
                        ["scores", "attention entropy at init (mean)", "held-out loss (mean)",
                         "held-out exact match (per seed)", "time per run (s)"])
    for scaled, name in ((False, "q.k"), (True, "q.k / sqrt(d_k)")):
        runs = train_seeds(settings, seeds, scale=scaled, head_dim=head_dim)
        curves[name] = runs[0]
        train_table.rows.append([name, mean(r.initial_entropy for r in runs),
                                 mean(r.history.eval_losses[-1] for r in runs),
                                 per_seed(r.history.accuracy for r in runs),
                                 mean(r.history.seconds for r in runs)])
        key = "scaled" if scaled else "unscaled"
        result.facts[f"train_loss_{key}"] = mean(r.smoothed_losses[-1] for r in runs)
        result.facts[f"accuracy_{key}"] = mean(r.history.accuracy for r in runs)
        result.facts[f"initial_entropy_{key}"] = mean(r.initial_entropy for r in runs)
    result.tables.append(train_table)
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series(name, r.curve_steps, r.smoothed_losses) for name, r in curves.items()],
        title=f"Training loss at d_k = {head_dim} (seed {seed})", xlabel="step",
        ylabel="training loss (smoothed)",
        log_y=10), out_dir / "q4_training.svg"))
    return result
