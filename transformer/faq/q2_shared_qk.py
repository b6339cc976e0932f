"""Q2: why do Q and K come from different weight matrices?

Claim (the tutorial): with one matrix for both, the score matrix q_i . q_j is symmetric; both sides
are projected into the same space, which limits what attention can express.

With shared W: s_ij = (W x_i) . (W x_j) = s_ji, and s_ij <= sqrt(s_ii s_jj) (Cauchy-Schwarz), so
a token's score with itself tends to be the largest in its row ("diagonal-heavy"). A relation
that is not symmetric, "i looks at j but j does not look at i", is then hard to express.

Experiment: `MultiHeadAttention(shared_qk=True)` against separate Q and K.
1. Scores of a freshly initialised layer on random inputs: the largest asymmetry
   max |S - S^T| / max |S| (zero up to rounding for shared QK), and the share of queries whose
   highest score is their own position (1/T would be chance).
2. A task that needs asymmetric attention: y_t = x_{t-1} (copy the previous token) with no
   causal mask, so "previous" must come from the scores alone. One-layer TransformerLM,
   d_model = 32, with 1 head and with 4 heads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import minigrad
from minigrad import Tensor

from ..attention import MultiHeadAttention, record_attention
from . import svg_chart as svg
from .pattern_tasks import PatternTask
from .report import DEFAULT_OUT, Result, Table, experiment, per_seed
from .training import TrainSettings, mean, train_seeds


def symmetry_and_diagonal(scores: np.ndarray) -> tuple[float, float]:
    """(max |S - S^T| / max |S|, share of rows whose argmax is the diagonal) of (B, h, T, T) scores."""
    s = scores.astype(np.float64)
    asymmetry = float(np.abs(s - s.swapaxes(-1, -2)).max() / np.abs(s).max())
    T = s.shape[-1]
    return asymmetry, float((s.argmax(axis=-1) == np.arange(T)).mean())


@experiment("q2")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    result = Result("q2")
    d_model, T = 32, 12
    init = Table(f"Freshly initialised MultiHeadAttention(d_model={d_model}, n_heads=1), 64 random inputs "
                 f"x ~ N(0, 1) of T={T} tokens (chance for the diagonal: 1/T = {1 / T:.3f})",
                 ["Q and K", "max abs(S - S^T) / max abs(S)", "rows whose top score is the diagonal"])
    x = Tensor(np.random.default_rng(seed).standard_normal((64, T, d_model)).astype(np.float32))
    for shared in (False, True):
        minigrad.manual_seed(seed)
        attn = MultiHeadAttention(d_model, 1, shared_qk=shared)
        with minigrad.no_grad(), record_attention(attn):
            attn(x)
        asym, diag = symmetry_and_diagonal(attn.attn_scores)
        init.rows.append(["shared" if shared else "separate", asym, diag])
        result.facts[f"init_asymmetry_{'shared' if shared else 'separate'}"] = asym
        result.facts[f"init_diagonal_{'shared' if shared else 'separate'}"] = diag
    result.tables.append(init)

    data = PatternTask("previous", length=T, base=10, n_eval=100 if quick else 500)
    options = dict(causal=False, d_model=d_model, n_layers=1)
    settings = (TrainSettings.quick(steps=60, **options) if quick
                else TrainSettings(steps=400, eval_interval=50, **options))
    seeds = (seed,) if quick else (seed, seed + 1)
    trained = Table(f"{data!r}, no causal mask: one layer, d_model={d_model}, {settings.steps} steps of "
                    f"{settings.batch_size}, seeds {', '.join(map(str, seeds))}; attention measured on 100 "
                    "held-out sequences (mean over seeds)",
                    ["heads", "Q and K", "parameters", "held-out token accuracy (per seed)",
                     "held-out loss (mean)",
                     "weight on t-1", "weight on t itself", "max abs(S - S^T) / max abs(S)",
                     "rows whose top score is the diagonal", "time per run (s)"])
    runs = {}
    t = np.arange(1, T)
    for heads in (1, 4):
        for shared in (False, True):
            rs = train_seeds(settings, seeds, data=data, n_heads=heads, shared_qk=shared)
            runs[heads, shared] = rs[0]
            stats = []  # per seed: asymmetry, diagonal share, weight on t-1, weight on t
            for r in rs:
                with minigrad.no_grad(), record_attention(r.model):
                    r.model(data.eval_set()[0][:100])
                attn = r.model.blocks[0].attn
                stats.append((*symmetry_and_diagonal(attn.attn_scores),
                              attn.attn_weights[:, :, t, t - 1].mean(), attn.attn_weights[:, :, t, t].mean()))
            asym = max(st[0] for st in stats)
            diag, on_previous, on_itself = (mean(st[i] for st in stats) for i in (1, 2, 3))
            name = "shared" if shared else "separate"
            trained.rows.append([heads, name, rs[0].parameters, per_seed(r.history.accuracy for r in rs),
                                 mean(r.history.eval_losses[-1] for r in rs), on_previous, on_itself, asym,
                                 diag, mean(r.history.seconds for r in rs)])
            key = f"{heads}_{name}"
            result.facts[f"accuracy_{key}"] = mean(r.history.accuracy for r in rs)
            result.facts[f"asymmetry_{key}"] = asym
            result.facts[f"diagonal_{key}"] = diag
            result.facts[f"on_previous_{key}"] = on_previous
            result.facts[f"on_itself_{key}"] = on_itself
    result.tables.append(trained)

    maps = []
    for shared in (False, True):
        attn = runs[1, shared].model.blocks[0].attn
        with minigrad.no_grad(), record_attention(runs[1, shared].model):
            runs[1, shared].model(data.eval_set()[0][:1])
        s = attn.attn_scores[0, 0]
        rescaled = (s - s.min()) / (s.max() - s.min())
        maps.append((f"{'shared' if shared else 'separate'} Q/K: scores", rescaled))
        maps.append((f"{'shared' if shared else 'separate'} Q/K: weights", attn.attn_weights[0, 0]))
    result.figures.append(svg.save(svg.heatmap_grid(
        maps, title=f"Trained 1-head models (seed {seed}) on one held-out sequence "
                    "(scores rescaled to [0, 1])", cols=4),
        out_dir / "q2_scores.svg"))
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series(f"{h} head{'s' if h > 1 else ''}, {'shared' if sh else 'separate'} Q/K", r.curve_steps,
                    r.smoothed_losses, dashed=sh) for (h, sh), r in runs.items()],
        title=f"Training loss, copy the previous token (no causal mask, seed {seed})", xlabel="step",
        ylabel="training loss (smoothed)", log_y=10), out_dir / "q2_loss.svg"))
    return result
