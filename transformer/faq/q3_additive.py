"""Q3: why dot-product scores rather than additive ones, and how do their costs differ?

Claim (the tutorial): dot products are faster; additive scoring is about as costly in theory
(it acts like a hidden layer), and how the two compare in quality depends on d_k: the larger
d_k, the better additive scoring does. The claim does not say "against unscaled dot products",
which is what Vaswani et al. 2017 (section 3.2.1) reported, so both scorings are run with and
without the 1/sqrt(d_k) scale here.

Per batch element and head, with T positions and head size d_k:

    dot       s_ij = q_i . k_j / sqrt(d_k)     2 T^2 d_k flops in one matrix product (BLAS);
                                               keeps T^2 scores
    additive  s_ij = v . tanh(q_i + k_j)       T^2 d_k adds + T^2 d_k tanh + 2 T^2 d_k flops,
               (/ sqrt(d_k) when scaled)       elementwise (memory-bound, no BLAS); keeps the
                                               T^2 d_k array tanh(q_i + k_j) for backward

Same order of arithmetic (counting a tanh as one operation), but additive scoring holds d_k
times more memory and runs as elementwise passes over that big array. Part 1 measures forward +
backward of one `MultiHeadAttention` (B = 8, 4 heads) as T and d_k grow: the median time of
repeated runs and the peak of memory allocated during one run as counted by Python's
`tracemalloc` (numpy reports every array buffer it allocates to tracemalloc, so this is the peak
of live numpy data plus Python objects, above what existed before the run). Dot scores run
through the fused `F.scaled_dot_product_attention`, as in training. Part 2 trains one head of
size d_k with the four scorings over a sweep of d_k, several seeds each.
"""
from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minigrad
from minigrad import Tensor

from ..attention import MultiHeadAttention
from . import svg_chart as svg
from .q5_head_dim import attention_flops
from .report import DEFAULT_OUT, Result, Table, experiment
from .stats import Spread, median_time, seed_list
from .training import TrainSettings, VariantRun, train_seeds

BATCH, HEADS, D_MODEL = 8, 4, 64
MiB = 1024 * 1024
# The four scorings of part 2: (name, score, divide by sqrt(d_k))
VARIANTS = (("dot, scaled", "dot", True), ("dot, unscaled", "dot", False),
            ("additive, scaled", "additive", True), ("additive, unscaled", "additive", False))
TRAIN_D_KS = (8, 16, 32, 64, 128)


def layer_flops(score: str, T: int, d_k: int) -> int:
    """Forward flops of one MultiHeadAttention(D_MODEL, HEADS, head_dim=d_k) on (BATCH, T, D_MODEL):
    the matrix products, plus for additive scores the add and the tanh over the (T, T, d_k) array
    (one operation each) and its product with v in place of q . k (the same 2 T^2 d_k)."""
    extra = 2 * HEADS * T * T * d_k if score == "additive" else 0
    return BATCH * (attention_flops(D_MODEL, HEADS, d_k, T) + extra)


@dataclass
class Cost:
    """Forward + backward of one layer with one scoring at one size."""

    seconds: float  # median of repeated runs
    peak_mib: float  # tracemalloc peak above the memory in use before the run
    flops: int  # forward flops (layer_flops)


def measure(score: str, T: int, d_k: int, repeats: int, seed: int) -> Cost:
    minigrad.manual_seed(seed)
    attn = MultiHeadAttention(D_MODEL, HEADS, score=score, head_dim=d_k)
    x = Tensor(np.random.default_rng(seed).standard_normal((BATCH, T, D_MODEL)).astype(np.float32),
               requires_grad=True)

    def forward_backward() -> None:
        attn.zero_grad()
        x.grad = None
        attn(x).sum().backward()

    seconds = median_time(forward_backward, repeats=repeats)
    attn.zero_grad()
    x.grad = None
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        attn(x).sum().backward()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return Cost(seconds, peak / MiB, layer_flops(score, T, d_k))


@dataclass
class Trained:
    """One scoring at one d_k, over seeds."""

    runs: list[VariantRun]
    loss: Spread
    accuracy: Spread
    initial_entropy: Spread

    @classmethod
    def of(cls, runs: list[VariantRun]) -> Trained:
        return cls(runs, Spread.of(r.loss for r in runs), Spread.of(r.accuracy for r in runs),
                   Spread.of(r.initial_entropy for r in runs))


@dataclass
class Q3Facts:
    cost: dict[tuple[str, int, int], Cost] = field(default_factory=dict)  # (score, T, d_k)
    trained: dict[tuple[int, str], Trained] = field(default_factory=dict)  # (d_k, variant name)


@experiment("q3")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    result = Result("q3")
    facts = Q3Facts()
    result.facts = facts
    sizes = [(16, 16), (32, 16)] if quick else \
        [(T, 32) for T in (16, 32, 64, 128)] + [(64, d) for d in (8, 16, 64, 128)]
    repeats = 3 if quick else 7
    cost = Table(f"Forward + backward of MultiHeadAttention(d_model={D_MODEL}, n_heads={HEADS}, "
                 f"head_dim=d_k) on x of shape ({BATCH}, T, {D_MODEL}); forward MFLOP counted, time: median "
                 f"of {repeats} repeats, memory: tracemalloc peak",
                 ["T", "d_k", "MFLOP: dot", "additive", "flop ratio", "time (ms): dot", "additive",
                  "time ratio", "peak (MiB): dot", "additive", "memory ratio"])
    for T, d_k in sizes:
        dot, add = measure("dot", T, d_k, repeats, seed), measure("additive", T, d_k, repeats, seed)
        facts.cost["dot", T, d_k], facts.cost["additive", T, d_k] = dot, add
        cost.rows.append([T, d_k, dot.flops / 1e6, add.flops / 1e6, add.flops / dot.flops, 1000 * dot.seconds,
                          1000 * add.seconds, add.seconds / dot.seconds, dot.peak_mib, add.peak_mib,
                          add.peak_mib / dot.peak_mib])
    result.tables.append(cost)

    by_T = [(T, d) for T, d in sizes if d == sizes[0][1]]
    by_d = [(T, d) for T, d in sizes if T == 64]
    for name, keys, xlabel in (("T", by_T, f"T (d_k = {sizes[0][1]})"), ("dk", by_d, "d_k (T = 64)")):
        if len(keys) < 2:
            continue
        keys = sorted(keys, key=lambda k: k[0] if name == "T" else k[1])
        xs = [k[0] if name == "T" else k[1] for k in keys]
        for what, unit, scale in (("time", "ms", 1000), ("memory", "MiB", 1)):
            attribute = "seconds" if what == "time" else "peak_mib"
            result.figures.append(svg.save(svg.line_chart(
                [svg.Series(score, xs, [scale * getattr(facts.cost[score, T, d], attribute) for T, d in keys])
                 for score in ("dot", "additive")],
                title=f"Forward + backward {what} as {xlabel.split()[0]} grows", xlabel=xlabel,
                ylabel=f"{'median time' if what == 'time' else 'peak allocated'} ({unit})",
                log_x=2, log_y=10),
                out_dir / f"q3_{what}_{name}.svg"))

    # Part 2: quality of the four scorings over d_k, one head so that d_k is the only size that changes.
    settings = TrainSettings.quick(n_heads=1) if quick else TrainSettings(n_heads=1, steps=400)
    seeds = seed_list(seed, quick)
    head_dims = (8, 128) if quick else TRAIN_D_KS
    data = settings.data()
    for d_k in head_dims:
        for name, score, scale in VARIANTS:
            facts.trained[d_k, name] = Trained.of(train_seeds(settings, seeds, data=data, score=score,
                                                              scale=scale, head_dim=d_k))
    names = [name for name, _, _ in VARIANTS]
    about = (f"`{settings.task}` (length {settings.length}): one layer, d_model={settings.d_model}, one head "
             f"of size d_k, {settings.steps} steps; mean ± sd over seeds {', '.join(map(str, seeds))}")
    tables = {"loss": Table(f"Held-out loss after training on {about}", ["d_k", *names]),
              "accuracy": Table(f"Held-out exact match after training on {about}", ["d_k", *names]),
              "initial_entropy": Table(f"Attention entropy at initialisation (nats; uniform over the causal "
                                       f"prefix would be {uniform_causal_entropy(data.block_size):.3f}), "
                                       f"{about}",
                                       ["d_k", *names])}
    for key, table in tables.items():
        table.rows = [[d, *(getattr(facts.trained[d, n], key) for n in names)] for d in head_dims]
    result.tables += tables.values()

    for key, ylabel, log_y in (("loss", "held-out loss", 10), ("accuracy", "held-out exact match", None)):
        result.figures.append(svg.save(svg.line_chart(
            [svg.Series.over_seeds(n, head_dims, np.array([getattr(facts.trained[d, n], key).values
                                                           for d in head_dims]).T,
                                   dashed=n.endswith("unscaled")) for n in names],
            title=f"{ylabel.capitalize()} on {settings.task} against head size", xlabel="d_k (one head)",
            ylabel=ylabel, log_x=2, log_y=log_y), out_dir / f"q3_{key}_dk.svg"))
    largest = head_dims[-1]
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(n, t.runs[0].curve_steps, [r.smoothed_losses for r in t.runs],
                               dashed=n.endswith("unscaled"))
         for n in names for t in [facts.trained[largest, n]]],
        title=f"Training loss on {settings.task} at d_k = {largest}", xlabel="step",
        ylabel="training loss (smoothed)", log_y=10), out_dir / "q3_training.svg"))
    return result


def uniform_causal_entropy(T: int) -> float:
    """Mean over the T queries of a causal layer of the entropy of uniform weights, log(t + 1)."""
    return float(np.mean(np.log(np.arange(1, T + 1))))
