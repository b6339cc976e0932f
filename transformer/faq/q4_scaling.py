"""Q4: why are the scores divided by sqrt(d_k) before the softmax?

Claim (the tutorial): large scores push the softmax to a near one-hot output, where its gradient
vanishes; dividing by sqrt(d_k) prevents that.

Why d_k: for q, k with independent N(0, 1) entries, q . k is a sum of d_k products of variance
1, so its standard deviation is sqrt(d_k); q . k / sqrt(d_k) has standard deviation 1 at every d_k.

Part 1, no training: random q (queries) and k (keys) for d_k = 4 .. 1024, scores with and without
the scale, then the softmax's entropy (log S for uniform weights, 0 for one-hot), the share of
queries whose largest weight exceeds 0.99, and three gradients for an upstream gradient
g ~ N(0, 1) on the weights, computed by minigrad's backward: the one that reaches the scores,
dL/ds, and the ones that reach the query and the key vectors, dL/dq and dL/dk. They differ: the
scale divides the scores' gradient on its way to q and k, so dL/dq = (1/sqrt(d_k)) sum_j
dL/ds_j k_j scaled but sum_j dL/ds_j k_j unscaled, and a softmax that is only somewhat saturated
still passes a *larger* gradient to q without the scale. Medians over queries (over keys for
dL/dk): the mean is carried by the few queries whose two best keys happen to tie. Each statistic
is repeated over several draws (seeds) of q and k.

Part 2, training: the same TransformerLM with one head of size d_k (head_dim), trained scaled,
unscaled, and unscaled with the scale matched at initialisation: q_proj and k_proj (weights and
biases) multiplied by d_k^(-1/4), so that q . k starts exactly as q . k / sqrt(d_k) of the scaled
model. That control separates the two things the scale does. At initialisation the two models
are the same function; in training they are not, because Adam moves every parameter by about
the learning rate whatever its gradient's size: with W' = W d_k^(-1/4), a step of lr on W' is a
step of lr d_k^(1/4) on W, so the matched model trains like the scaled one with the queries' and
keys' learning rate multiplied by d_k^(1/4) (2 at d_k = 16, 4 at d_k = 256), and its scores can
grow that much faster. The attention entropy is read at several steps of each run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minigrad
from minigrad import Tensor
from minigrad import functional as F

from ..attention import MultiHeadAttention
from . import svg_chart as svg
from .readout import attention_weights, heatmaps
from .report import DEFAULT_OUT, Result, Table, experiment
from .stats import Spread, number, seed_list
from .training import TrainSettings, VariantRun, train_seeds

D_KS = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
N_QUERIES, N_KEYS = 1000, 32
# The three ways of scoring trained in part 2: (name, scale, match the scale at initialisation)
VARIANTS = (("q.k / sqrt(d_k)", True, False), ("q.k", False, False), ("q.k, init matched", False, True))
ENTROPY_STEPS = (25, 50, 100, 200, 300, 400)  # where the attention entropy is read during training
QUICK_ENTROPY_STEPS = (10, 20)


def softmax_statistics(d_k: int, scaled: bool, rng: np.random.Generator) -> dict[str, float]:
    """For random q (N_QUERIES, d_k) and k (N_KEYS, d_k): the scores' std, the mean entropy (nats),
    the share of near one-hot rows, and the median norms of dL/ds, dL/dq (per query) and dL/dk
    (per key) for L = sum(g * softmax(s)), g ~ N(0, 1)."""
    q = Tensor(rng.standard_normal((N_QUERIES, d_k)).astype(np.float32), requires_grad=True)
    k = Tensor(rng.standard_normal((N_KEYS, d_k)).astype(np.float32), requires_grad=True)
    scores = q @ k.transpose(0, 1)  # (N_QUERIES, N_KEYS)
    if scaled:
        scores = scores * (1.0 / math.sqrt(d_k))  # a Python float keeps float32
    scores.retain_grad()
    weights = F.softmax(scores, dim=-1)  # (N_QUERIES, N_KEYS)
    upstream = rng.standard_normal(weights.shape).astype(np.float32)
    (weights * Tensor(upstream)).sum().backward()
    p = weights.data.astype(np.float64)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)

    def median_norm(grad: Tensor) -> float:
        return float(np.median(np.linalg.norm(grad.data.astype(np.float64), axis=-1)))

    return {
        "score_std": float(scores.data.std()),
        "entropy": float(-plogp.sum(axis=-1).mean()),
        "one_hot": float((p.max(axis=-1) > 0.99).mean()),
        "grad_scores": median_norm(scores.grad),
        "grad_q": median_norm(q.grad),
        "grad_k": median_norm(k.grad),
    }


def match_unscaled_init(model: minigrad.nn.Module) -> None:
    """Multiply every attention's q_proj and k_proj (weights and biases) by d_k^(-1/4): unscaled
    scores q . k then start equal to the scaled q . k / sqrt(d_k) of the same initial weights."""
    with minigrad.no_grad():
        for attn in (m for m in model.modules() if isinstance(m, MultiHeadAttention)):
            factor = attn.head_dim ** -0.25
            for proj in (attn.q_proj, attn.k_proj):
                for p in proj.parameters():
                    p.mul_(factor)


@dataclass
class TrainedVariant:
    """One scoring variant at one d_k, over seeds."""

    runs: list[VariantRun]
    entropy_steps: list[int]
    initial_entropy: Spread
    min_entropy: Spread  # the lowest entropy read during training, per seed
    final_entropy: Spread
    loss: Spread
    accuracy: Spread


@dataclass
class Q4Facts:
    d_k: tuple[int, ...]
    log_n_keys: float
    random: dict[tuple[str, bool], list[Spread]]  # (statistic, scaled) -> one Spread per d_k of D_KS
    trained: dict[tuple[int, str], TrainedVariant] = field(default_factory=dict)  # (d_k, variant name)


def summarise(runs: list[VariantRun]) -> TrainedVariant:
    return TrainedVariant(runs, runs[0].entropy_steps,
                          Spread.of(r.initial_entropy for r in runs),
                          Spread.of(min(r.entropies[1:]) for r in runs),
                          Spread.of(r.entropies[-1] for r in runs),
                          Spread.of(r.loss for r in runs), Spread.of(r.accuracy for r in runs))


@experiment("q4")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    seeds = seed_list(seed, quick)
    result = Result("q4")
    draws = {(d, scaled): [softmax_statistics(d, scaled, np.random.default_rng([s, d])) for s in seeds]
             for d in D_KS for scaled in (False, True)}
    random = {(key, scaled): [Spread.of(x[key] for x in draws[d, scaled]) for d in D_KS]
              for key in draws[D_KS[0], True][0] for scaled in (False, True)}
    facts = Q4Facts(D_KS, math.log(N_KEYS), random)
    result.facts = facts

    def cells(key: str, i: int) -> list[Spread]:
        return [random[key, False][i], random[key, True][i]]

    n = f"{len(seeds)} draws (seeds {', '.join(map(str, seeds))})"
    softmax_table = Table(
        f"Softmax over {N_KEYS} keys of random q, k ~ N(0, 1), {N_QUERIES} queries, mean ± sd over {n} "
        f"(uniform weights: entropy log {N_KEYS} = {number(math.log(N_KEYS))})",
        ["d_k", "score std: q.k", "q.k/sqrt(d_k)", "entropy: q.k", "q.k/sqrt(d_k)", "max weight > 0.99: q.k",
         "q.k/sqrt(d_k)"])
    gradient_table = Table(
        f"Median gradient norms for an upstream gradient g ~ N(0, 1) on the weights, mean ± sd over {n}; "
        "ratio = unscaled / scaled (above 1: more gradient without the scale)",
        ["d_k", "abs(dL/ds): q.k", "q.k/sqrt(d_k)", "abs(dL/dq): q.k", "q.k/sqrt(d_k)", "ratio dL/dq",
         "abs(dL/dk): q.k", "q.k/sqrt(d_k)", "ratio dL/dk"])
    for i, d in enumerate(D_KS):
        softmax_table.rows.append([d, *cells("score_std", i), *cells("entropy", i), *cells("one_hot", i)])
        ratio_q = random["grad_q", False][i].mean / random["grad_q", True][i].mean
        ratio_k = random["grad_k", False][i].mean / random["grad_k", True][i].mean
        gradient_table.rows.append([d, *cells("grad_scores", i), *cells("grad_q", i), ratio_q,
                                    *cells("grad_k", i), ratio_k])
    result.tables += [softmax_table, gradient_table]

    def both(key: str, suffix: str = "", dashed: bool = False) -> list[svg.Series]:
        return [svg.Series.over_seeds(f"{name}{suffix}", D_KS,
                                      np.array([s.values for s in random[key, scaled]]).T, dashed=dashed)
                for scaled, name in ((False, "q.k"), (True, "q.k / sqrt(d_k)"))]

    result.figures.append(svg.save(svg.line_chart(
        both("entropy"), title="Softmax entropy of random scores", xlabel="d_k", ylabel="entropy (nats)",
        log_x=2), out_dir / "q4_entropy.svg"))
    result.figures.append(svg.save(svg.line_chart(
        both("grad_scores", ": dL/ds") + both("grad_q", ": dL/dq", dashed=True),
        title="Gradient through the softmax, to the scores and to q", xlabel="d_k",
        ylabel="median norm per query", log_x=2, log_y=10), out_dir / "q4_gradient.svg"))

    # Part 2: one head of size d_k, trained three ways, the entropy read during training.
    settings = TrainSettings.quick(n_heads=1) if quick else TrainSettings(n_heads=1, steps=400)
    head_dims = (256,) if quick else (16, 64, 256)
    steps = QUICK_ENTROPY_STEPS if quick else ENTROPY_STEPS
    data = settings.data()
    for d in head_dims:
        for name, scale, matched in VARIANTS:
            runs = train_seeds(settings, seeds, data=data, scale=scale, head_dim=d, entropy_at=steps,
                               init=match_unscaled_init if matched else None)
            facts.trained[d, name] = summarise(runs)
    train_table = Table(
        f"Training on `{settings.task}` (length {settings.length}): one layer, d_model={settings.d_model}, "
        f"one head of size d_k, {settings.steps} steps; mean ± sd over seeds {', '.join(map(str, seeds))}; "
        f"attention entropy (nats) of {data.block_size}-token held-out sequences",
        ["d_k", "scores", "entropy at init", "lowest entropy in training", "entropy at the end",
         "held-out loss", "held-out exact match"])
    for (d, name), t in facts.trained.items():
        train_table.rows.append([d, name, t.initial_entropy, t.min_entropy, t.final_entropy, t.loss,
                                 t.accuracy])
    result.tables.append(train_table)

    largest = head_dims[-1]
    trained = {name: facts.trained[largest, name] for name, _, _ in VARIANTS}
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(f"d_k={d}: {name}", t.entropy_steps, [r.entropies for r in t.runs],
                               dashed=d != largest)
         for d in dict.fromkeys((largest, head_dims[0])) for name, _, _ in VARIANTS
         for t in [facts.trained[d, name]]],
        title="Attention entropy during training", xlabel="step", ylabel="mean attention entropy (nats)"),
        out_dir / "q4_entropy_training.svg"))
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(name, t.runs[0].curve_steps, [r.smoothed_losses for r in t.runs])
         for name, t in trained.items()],
        title=f"Training loss at d_k = {largest}", xlabel="step", ylabel="training loss (smoothed)",
        log_y=10),
        out_dir / "q4_training.svg"))
    ids = data.eval_set()[0][:1]
    tokens = list(data.vocab.decode(ids[0]))
    result.figures.append(heatmaps(
        [(f"{name} (seed {seeds[0]})", attention_weights(t.runs[0].model, ids)[0, 0])
         for name, t in trained.items()],
        tokens, out_dir / "q4_attention.svg",
        title=f"Attention of the trained models at d_k = {largest}, one held-out sequence"))
    return result
