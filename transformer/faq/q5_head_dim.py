"""Q5: why does each head work in a reduced dimension d_k = d_model / h?

Claim (the tutorial): reducing each head's dimension keeps the parameter count and the cost of
multi-head attention at that of one full-width head, while still giving h different attention
patterns; and smaller heads make the model more stable.

Counting, for one attention layer over T positions (batch element), with d = d_model:

    projections   q, k, v: d -> h d_k; out: h d_k -> d    params 4 d (h d_k) + 3 h d_k + d
                                                           flops  4 x 2 T d (h d_k)
    scores        q_i . k_j for every pair, every head     flops  2 h T^2 d_k
    weights @ v   weighted sum of values, every head       flops  2 h T^2 d_k

With d_k = d / h every term is the single-head cost (h d_k = d). With d_k = d every term is h
times larger. Part 1 counts and times that.

What the reduction costs in quality is the other half of the question. A head's score matrix
Q K^T (T x T) has rank at most d_k, so a head smaller than the sequence cannot write every
T x T pattern of scores (Bhojanapalli et al. 2020: the low-rank bottleneck). Part 2 trains one
head on a task whose ideal attention matrix has full rank, `permuted` (y_t = x_pi(t) for a fixed
permutation pi), sweeping d_k against T. Part 3 keeps d_model and T fixed and adds heads: h heads
of d_model / h (the reduction) against h heads of size T (Bhojanapalli's remedy, h times the
cost). Part 4 is an ordinary task, `sort`, with 4 heads of d_model / 4 or of d_model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minigrad
from minigrad import Tensor

from ..attention import MultiHeadAttention
from . import svg_chart as svg
from .pattern_tasks import PatternTask, derangement
from .readout import attention_weights, heatmaps
from .report import DEFAULT_OUT, Result, Table, experiment
from .stats import Spread, median_time, seed_list
from .training import TrainSettings, VariantRun, train_seeds

LOOKUP_LENGTHS = (8, 16, 32)  # T of part 2
LOOKUP_D_KS = (1, 2, 4, 8, 16, 32)  # trained where d_k <= T
LOOKUP_STEPS = 300
EARLY_STEP = 100  # the first evaluation of parts 2 and 3: how fast a model learns, not only whether


def attention_flops(d_model: int, n_heads: int, head_dim: int, T: int) -> int:
    """Forward multiply-adds x 2 of one MultiHeadAttention over T positions (one sequence),
    matrix products only (softmax and biases are O(h T^2) and O(T d) extra)."""
    inner = n_heads * head_dim
    projections = 4 * 2 * T * d_model * inner
    return projections + 2 * 2 * n_heads * T * T * head_dim


@dataclass
class LayerCost:
    params: int
    flops: int
    seconds: float  # median forward + backward


@dataclass
class Trained:
    """One model shape trained with several seeds."""

    runs: list[VariantRun]
    loss: Spread
    accuracy: Spread
    early_accuracy: Spread  # held-out accuracy at the first evaluation

    @classmethod
    def of(cls, runs: list[VariantRun]) -> Trained:
        return cls(runs, Spread.of(r.loss for r in runs), Spread.of(r.accuracy for r in runs),
                   Spread.of(r.history.eval_accuracies[0] for r in runs))


@dataclass
class Q5Facts:
    cost: dict[tuple[int, int], LayerCost] = field(default_factory=dict)  # (heads, d_k)
    lookup: dict[tuple[int, int], Trained] = field(default_factory=dict)  # (T, d_k), one head
    heads: dict[tuple[int, int], Trained] = field(default_factory=dict)  # (heads, d_k) at T = d_model
    sort: dict[int, Trained] = field(default_factory=dict)  # d_k, 4 heads


def lookup_settings(quick: bool, T: int) -> TrainSettings:
    """The `permuted` runs: in quick mode long enough (150 steps) for T = 8 to separate d_k = 1 from 8."""
    changes = dict(task="permuted", length=T, causal=False, n_heads=1)
    if quick:
        return TrainSettings.quick(steps=150, eval_interval=50, warmup_steps=10, **changes)
    return TrainSettings(steps=LOOKUP_STEPS, eval_interval=EARLY_STEP, **changes)


@experiment("q5")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    result = Result("q5")
    facts = Q5Facts()
    result.facts = facts
    seeds = seed_list(seed, quick)
    seed_note = f"mean ± sd over seeds {', '.join(map(str, seeds))}"

    # Part 1: what the reduction saves.
    d_model, T, batch = (32, 16, 4) if quick else (64, 64, 16)
    head_counts = (1, 2, 4) if quick else (1, 2, 4, 8)
    repeats = 3 if quick else 7
    cost = Table(f"One MultiHeadAttention layer, d_model={d_model}; flops of one forward over T={T}; "
                 f"time: median of {repeats} forward + backward passes on a ({batch}, {T}, {d_model}) input",
                 ["heads", "d_k", "attention params", "forward MFLOP", "time (ms)"])
    x = Tensor(np.random.default_rng(seed).standard_normal((batch, T, d_model)).astype(np.float32))
    for h in head_counts:
        for label, head_dim in (("d_model / h", d_model // h), ("d_model", d_model)):
            if h == 1 and label == "d_model":  # the same layer as d_model / h
                continue
            minigrad.manual_seed(seed)
            attn = MultiHeadAttention(d_model, h, head_dim=head_dim)

            def forward_backward(attn: MultiHeadAttention = attn) -> None:
                attn.zero_grad()
                attn(x).sum().backward()

            params = sum(p.data.size for p in attn.parameters())
            flops = attention_flops(d_model, h, head_dim, T)
            c = LayerCost(params, flops, median_time(forward_backward, repeats))
            facts.cost[h, head_dim] = c
            cost.rows.append([h, f"{head_dim} ({label})", c.params, c.flops / 1e6, 1000 * c.seconds])
    result.tables.append(cost)
    for i, (what, unit, filename) in enumerate((("parameters", 1, "q5_params.svg"),
                                                ("forward MFLOP", 1e6, "q5_flops.svg"),
                                                ("time (ms)", 1e-3, "q5_time.svg"))):
        result.figures.append(svg.save(svg.line_chart(
            [svg.Series(f"d_k = {label}", head_counts,
                        [[c.params, c.flops, c.seconds][i] / unit
                         for c in (facts.cost[h, size(h)] for h in head_counts)], dashed=label == "d_model")
             for label, size in (("d_model / h", lambda h: d_model // h), ("d_model", lambda h: d_model))],
            title=f"Attention layer {what} against heads (d_model = {d_model})", xlabel="heads h",
            ylabel=what, log_x=2), out_dir / filename))

    # Part 2: one head, d_k against T, on a task that needs a full-rank attention matrix.
    lengths = (8,) if quick else LOOKUP_LENGTHS
    for T in lengths:
        settings = lookup_settings(quick, T)
        data = PatternTask("permuted", length=T, n_eval=settings.n_eval)
        for d_k in (d for d in ((1, 8) if quick else LOOKUP_D_KS) if d <= T):
            facts.lookup[T, d_k] = Trained.of(train_seeds(settings, seeds, data=data, head_dim=d_k))
    settings = lookup_settings(quick, lengths[-1])
    about = (f"`permuted` (y_t = x_pi(t), 10 digits, no causal mask): one layer, d_model={settings.d_model}, "
             f"{settings.steps} steps; {seed_note}")
    d_ks = sorted({d for _, d in facts.lookup})
    early = f"held-out token accuracy at step {settings.eval_interval}"
    for key, what in (("loss", "held-out loss"), ("early_accuracy", early),
                      ("accuracy", "final held-out token accuracy")):
        table = Table(f"One head of size d_k, {what}, on {about}", ["d_k", *(f"T = {T}" for T in lengths)])
        table.rows = [[d, *(getattr(facts.lookup[T, d], key) if (T, d) in facts.lookup else ""
                            for T in lengths)] for d in d_ks]
        result.tables.append(table)
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(f"T = {T}", ds, np.array([facts.lookup[T, d].loss.values for d in ds]).T)
         for T in lengths for ds in [[d for d in d_ks if (T, d) in facts.lookup]]],
        title="One head on `permuted`: held-out loss against head size", xlabel="d_k (one head)",
        ylabel="held-out loss", log_x=2, log_y=10), out_dir / "q5_lookup.svg"))
    T_map = lengths[0]
    sample = PatternTask("permuted", length=T_map, n_eval=1).eval_set()[0]
    target = np.zeros((T_map, T_map))
    target[np.arange(T_map), derangement(T_map)] = 1.0
    learned = [(f"d_k = {d} (seed {seeds[0]})",
                attention_weights(facts.lookup[T_map, d].runs[0].model, sample)[0, 0])
               for d in (1, 2, T_map) if (T_map, d) in facts.lookup]
    result.figures.append(heatmaps(
        [("target: x at pi(t)", target), *learned],
        list(PatternTask("permuted", length=T_map).vocab.decode(sample[0])), out_dir / "q5_attention.svg",
        title=f"One head on `permuted`, T = {T_map}: the attention it needs and what it learned"))

    # Part 3: more heads at fixed d_model = T, each of d_model / h or of T.
    T = lengths[-1]
    settings = lookup_settings(quick, T)
    data = PatternTask("permuted", length=T, n_eval=settings.n_eval)
    heads = (1, 8) if quick else (1, 2, 4, 8)
    for h in heads:
        for d_k in dict.fromkeys((settings.d_model // h, T)):
            trained = facts.lookup.get((T, d_k)) if h == 1 else None  # one head: trained in part 2
            facts.heads[h, d_k] = trained or Trained.of(train_seeds(settings, seeds, data=data, n_heads=h,
                                                                    head_dim=d_k))
    table = Table(f"h heads at d_model={settings.d_model}, T={T}, on {about}",
                  ["heads", "d_k", "parameters", f"accuracy at step {settings.eval_interval}",
                   "final accuracy", "held-out loss"])
    for (h, d_k), t in facts.heads.items():
        rule = "d_model / h" if d_k == settings.d_model // h else "T"
        table.rows.append([h, f"{d_k} ({rule})", t.runs[0].parameters, t.early_accuracy, t.accuracy, t.loss])
    result.tables.append(table)
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(f"d_k = {label}", heads, np.array([facts.heads[h, size(h)].loss.values
                                                                 for h in heads]).T, dashed=label == "T")
         for label, size in (("d_model / h", lambda h: settings.d_model // h), ("T", lambda h: T))],
        title=f"Heads of d_model / h or of T on `permuted` (T = {T})", xlabel="heads h",
        ylabel="held-out loss", log_x=2, log_y=10), out_dir / "q5_heads.svg"))

    # Part 4: an ordinary task, where the reduction's price is a held-out loss, not an exact match.
    settings = TrainSettings.quick() if quick else TrainSettings(steps=400)
    h = settings.n_heads
    for d_k in (settings.d_model // h, settings.d_model):
        facts.sort[d_k] = Trained.of(train_seeds(settings, seeds, head_dim=d_k))
    small, full = (facts.sort[d] for d in (settings.d_model // h, settings.d_model))
    ratio = Spread.of(a.loss / b.loss for a, b in zip(full.runs, small.runs))
    table = Table(f"`{settings.task}` (length {settings.length}): one layer, d_model={settings.d_model}, "
                  f"{h} heads, {settings.steps} steps; {seed_note}; loss ratio per seed (same seed, same "
                  "data)",
                  ["d_k", "parameters (whole model)", "held-out exact match", "held-out loss",
                   "loss / loss at d_k = d_model / h"])
    for d_k, t in facts.sort.items():
        label = "d_model / h" if d_k == settings.d_model // h else "d_model"
        table.rows.append([f"{d_k} ({label})", t.runs[0].parameters, t.accuracy, t.loss,
                           ratio if t is full else "1"])
    result.tables.append(table)
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(f"d_k = {d_k}", t.runs[0].curve_steps, [r.smoothed_losses for r in t.runs],
                               dashed=t is full) for d_k, t in facts.sort.items()],
        title=f"Training loss on {settings.task}, {h} heads", xlabel="step",
        ylabel="training loss (smoothed)", log_y=10), out_dir / "q5_training.svg"))
    return result
