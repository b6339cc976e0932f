"""Q1: why multi-head attention?

Claim (the tutorial): several heads attend to different subspaces and catch richer information
than one head, like several filters in a CNN; at a fixed d_model, more heads make the model more
expressive.

Experiment: a task that needs two attention patterns at every position at once. The input is
random digits 0-5; the target at position t >= 1 is the pair (first token, previous token),
one of 36 classes, 6 * x_0 + x_{t-1} (`PatternTask("first_and_previous")`). A one-layer causal
TransformerLM with d_model = 32 is trained with 1, 2 and 4 heads. The parameter count is the
same for every head count: the projections are d_model x d_model whatever the split, only
d_k = d_model / h changes. We compare the curves, and look at where each head attends.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import minigrad

from ..attention import record_attention
from . import svg_chart as svg
from .pattern_tasks import PatternTask
from .report import DEFAULT_OUT, Result, Table, experiment, per_seed
from .training import TrainSettings, VariantRun, mean, train_seeds

HEADS = (1, 2, 4)
TARGET_ACCURACY = 0.95


def steps_to(run: VariantRun, accuracy: float) -> int | None:
    """The first evaluation step whose held-out accuracy reaches `accuracy`, or None."""
    return next((s for s, a in zip(run.history.eval_steps, run.history.eval_accuracies) if a >= accuracy),
                None)


def attention_split(weights: np.ndarray) -> np.ndarray:
    """(h, 3): per head, the mean weight that queries t >= 2 put on position 0, on position t-1,
    and on every other position, for weights (B, h, T, T). (At t = 1 the first token is the
    previous token, so those queries are left out.)"""
    T = weights.shape[-1]
    t = np.arange(2, T)
    first = weights[:, :, t, 0].mean(axis=(0, 2))
    previous = weights[:, :, t, t - 1].mean(axis=(0, 2))
    return np.stack([first, previous, 1.0 - first - previous], axis=1)


@experiment("q1")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    result = Result("q1")
    data = PatternTask("first_and_previous", length=12, base=6, n_eval=100 if quick else 500)
    if quick:
        settings = TrainSettings.quick(d_model=32, n_layers=1, steps=40, eval_interval=20)
    else:
        settings = TrainSettings(d_model=32, n_layers=1, steps=400, eval_interval=25)
    seeds = (seed,) if quick else (seed, seed + 1, seed + 2)
    runs = {h: train_seeds(settings, seeds, data=data, n_heads=h) for h in HEADS}

    mid = next(s for s in runs[1][0].history.eval_steps if s >= settings.steps // 4)  # an evaluation step
    table = Table(f"{data!r}: one layer, d_model={settings.d_model}, {settings.steps} steps of "
                  f"{settings.batch_size} sequences, seeds {', '.join(map(str, seeds))}",
                  ["heads", "d_k", "parameters", f"token accuracy at step {mid} (per seed)",
                   "final accuracy (mean)", "final held-out loss (mean)",
                   f"steps to {TARGET_ACCURACY:.0%} (per seed)", "time per run (s)"])
    for h in HEADS:
        rs = runs[h]
        at_mid = [r.history.eval_accuracies[r.history.eval_steps.index(mid)] for r in rs]
        reach = [steps_to(r, TARGET_ACCURACY) for r in rs]
        table.rows.append([h, settings.d_model // h, rs[0].parameters, per_seed(at_mid),
                           mean(r.history.accuracy for r in rs), mean(r.history.eval_losses[-1] for r in rs),
                           " / ".join(str(n) if n is not None else f">{settings.steps}" for n in reach),
                           mean(r.history.seconds for r in rs)])
        result.facts[f"parameters_{h}"] = rs[0].parameters
        result.facts[f"final_train_loss_{h}"] = mean(r.smoothed_losses[-1] for r in rs)
        result.facts[f"mid_accuracy_{h}"] = mean(at_mid)
        result.facts[f"final_accuracy_{h}"] = mean(r.history.accuracy for r in rs)
        result.facts[f"steps_to_target_{h}"] = reach
    result.tables.append(table)

    # Where do the heads look? Attention of the seed-`seed` models on held-out sequences.
    ids = data.eval_set()[0][:100]
    split_table = Table(f"Mean attention weight of queries t >= 2 on 100 held-out sequences (seed {seed})",
                        ["model", "head", "on position 0 (first)", "on position t-1 (previous)", "elsewhere"])
    maps = []
    for h in (1, 4):
        model = runs[h][0].model
        with minigrad.no_grad(), record_attention(model):
            model(ids)
        attn = model.blocks[0].attn
        for head, (first, previous, other) in enumerate(attention_split(attn.attn_weights)):
            split_table.rows.append([f"{h} head{'s' if h > 1 else ''}", head, float(first), float(previous),
                                     float(other)])
            maps.append((f"{h} head{'s' if h > 1 else ''}: head {head}", attn.attn_weights[0, head]))
        result.facts[f"split_{h}"] = attention_split(attn.attn_weights).tolist()
    result.tables.append(split_table)

    result.figures.append(svg.save(svg.heatmap_grid(
        maps, title=f"Attention weights on one held-out sequence (seed {seed}; rows: query t, columns: key)",
        cols=5),
        out_dir / "q1_attention.svg"))
    curves = [runs[h][0] for h in HEADS]
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series(f"{h} head{'s' if h > 1 else ''}", r.curve_steps, r.smoothed_losses)
         for h, r in zip(HEADS, curves)],
        title=f"Training loss, first-and-previous task (seed {seed})", xlabel="step",
        ylabel="training loss (smoothed)", log_y=10),
        out_dir / "q1_loss.svg"))
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series(f"{h} head{'s' if h > 1 else ''}", r.history.eval_steps, r.history.eval_accuracies)
         for h, r in zip(HEADS, curves)],
        title=f"Held-out token accuracy (seed {seed})", xlabel="step", ylabel="accuracy"),
        out_dir / "q1_accuracy.svg"))
    return result
