"""Q2: why do Q and K come from different weight matrices?

Claim (the tutorial): with one matrix for both, the score matrix q_i . q_j is symmetric; both sides
are projected into the same space, which limits what attention can express.

With shared W: s_ij = (W x_i) . (W x_j) = s_ji, and s_ij <= sqrt(s_ii s_jj) (Cauchy-Schwarz), so
a token's score with itself tends to be the largest in its row ("diagonal-heavy"). Two things
could then go wrong, and the control tells them apart: the symmetry itself, or that every
query is pulled towards itself.

Experiment, over `stats.SEEDS` seeds: `MultiHeadAttention(shared_qk=True)` against separate Q
and K.
1. Scores of a freshly initialised layer on random inputs: the largest asymmetry
   max |S - S^T| / max |S| (zero up to rounding for shared QK), and the share of queries whose
   highest score is their own position (1/T would be chance).
2. A task that needs asymmetric attention: y_t = x_{t-1} (copy the previous token) with no
   causal mask, so "previous" must come from the scores alone. One-layer TransformerLM,
   d_model = 32, with 1 head and with 4 heads.
3. Control: the same runs with the diagonal masked, so no query may attend to its own
   position (`forbid_self_attention`; the rule Reformer adopts for its shared-QK attention).
   If shared QK fails because of the diagonal, this recovers it; what is left is the cost of
   symmetry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minigrad
from minigrad import Tensor, nn

from ..attention import MultiHeadAttention, record_attention
from ..model import TransformerLM
from . import svg_chart as svg
from .pattern_tasks import PatternTask
from .readout import attention_weights, heatmaps
from .report import DEFAULT_OUT, Result, Table, experiment
from .stats import Spread, seed_list
from .training import TrainSettings, VariantRun, train_seeds

# (heads, shared Q/K, diagonal masked): the variants trained on the copy-the-previous task
VARIANTS = ((1, False, False), (1, True, False), (1, False, True), (1, True, True),
            (4, False, False), (4, True, False), (4, True, True))


class SelfMaskedScore(nn.Module):
    """A score function with its diagonal hidden: query i may not attend to key i. It wraps the
    attention's own score module, so that scaling and the rest stay what they were."""

    def __init__(self, score: nn.Module) -> None:
        super().__init__()
        self.inner = score

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        scores = self.inner(q, k)  # (B, h, T, T)
        T = scores.shape[-1]
        hidden = np.where(np.eye(T, dtype=bool), np.finfo(scores.dtype).min, 0.0).astype(scores.dtype)
        return scores + hidden


def forbid_self_attention(model: TransformerLM) -> None:
    """Mask the diagonal of every self-attention of `model` (their scores go through
    `SelfMaskedScore`, on the explicit, unfused path)."""
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.score = SelfMaskedScore(module.score)
            module.fused = False


def symmetry_and_diagonal(scores: np.ndarray) -> tuple[float, float]:
    """(max |S - S^T| / max |S| over the off-diagonal entries, share of rows whose argmax is the
    diagonal) of (B, h, T, T) scores. The diagonal is left out of the first, so that a masked
    diagonal does not count."""
    s = scores.astype(np.float64)
    T = s.shape[-1]
    off = np.where(np.eye(T, dtype=bool), 0.0, s)
    asymmetry = float(np.abs(off - off.swapaxes(-1, -2)).max() / np.abs(off).max())
    return asymmetry, float((s.argmax(axis=-1) == np.arange(T)).mean())


@dataclass
class TrainedAttention:
    """Per seed, measured on held-out sequences."""

    accuracy: Spread
    loss: Spread
    on_previous: Spread     # mean weight of queries t >= 1 on t - 1
    on_itself: Spread       # ... on t
    on_next: Spread         # mean weight of queries t < T - 1 on t + 1 (what a symmetric score gives away)
    asymmetry: float        # the largest over seeds
    diagonal: Spread        # rows whose top score is the diagonal


@dataclass
class Q2Facts:
    init_asymmetry: dict[bool, Spread] = field(default_factory=dict)  # shared? -> over seeds
    init_diagonal: dict[bool, Spread] = field(default_factory=dict)
    trained: dict[tuple[int, bool, bool], TrainedAttention] = field(default_factory=dict)  # VARIANTS keys
    parameters: dict[bool, int] = field(default_factory=dict)


def measure(runs: list[VariantRun], data: PatternTask) -> TrainedAttention:
    ids = data.eval_set()[0][:100]
    t = np.arange(1, ids.shape[1])
    previous, itself, following, asymmetry, diagonal = [], [], [], [], []
    for r in runs:
        w = attention_weights(r.model, ids)  # (N, h, T, T)
        previous.append(float(w[:, :, t, t - 1].mean()))
        itself.append(float(w[:, :, t, t].mean()))
        following.append(float(w[:, :, t - 1, t].mean()))  # queries 0 .. T-2 on their next position
        with minigrad.no_grad(), nn.evaluating(r.model), record_attention(r.model):
            r.model(ids)
        asym, diag = symmetry_and_diagonal(r.model.blocks[0].attn.attn_scores)
        asymmetry.append(asym)
        diagonal.append(diag)
    return TrainedAttention(Spread.of(r.accuracy for r in runs), Spread.of(r.loss for r in runs),
                            Spread.of(previous), Spread.of(itself), Spread.of(following), max(asymmetry),
                            Spread.of(diagonal))


def variant_label(heads: int, shared: bool, masked: bool) -> str:
    return (f"{heads} head{'s' if heads > 1 else ''}, {'shared' if shared else 'separate'}"
            f"{', no self' if masked else ''}")


@experiment("q2")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    facts = Q2Facts()
    result = Result("q2", facts=facts)
    seeds = seed_list(seed, quick)
    d_model, T = 32, 12
    init = Table(f"Freshly initialised MultiHeadAttention(d_model={d_model}, n_heads=1), 64 random inputs "
                 f"x ~ N(0, 1) of T={T} tokens, {len(seeds)} seeds (chance for the diagonal: "
                 f"1/T = {1 / T:.3f})",
                 ["Q and K", "max abs(S - S^T) / max abs(S)", "rows whose top score is the diagonal"])
    for shared in (False, True):
        asym, diag = [], []
        for s in seeds:
            x = Tensor(np.random.default_rng(s).standard_normal((64, T, d_model)).astype(np.float32))
            minigrad.manual_seed(s)
            attn = MultiHeadAttention(d_model, 1, shared_qk=shared)
            with minigrad.no_grad(), record_attention(attn):
                attn(x)
            a, d = symmetry_and_diagonal(attn.attn_scores)
            asym.append(a)
            diag.append(d)
        facts.init_asymmetry[shared], facts.init_diagonal[shared] = Spread.of(asym), Spread.of(diag)
        init.rows.append(["shared" if shared else "separate", facts.init_asymmetry[shared],
                          facts.init_diagonal[shared]])
    result.tables.append(init)

    data = PatternTask("previous", length=T, base=10, n_eval=200 if quick else 500)
    options = dict(causal=False, d_model=d_model, n_layers=1)
    settings = (TrainSettings.quick(steps=80, eval_interval=20, **options) if quick
                else TrainSettings(steps=400, eval_interval=50, **options))
    trained = Table(f"{data!r}, no causal mask: one layer, d_model={d_model}, {settings.steps} steps of "
                    f"{settings.batch_size}, {len(seeds)} seeds; attention measured on 100 held-out "
                    "sequences; mean ± sd over seeds (asymmetry: the largest)",
                    ["heads", "Q and K", "diagonal", "held-out token accuracy", "held-out loss",
                     "weight on t-1", "weight on t itself", "weight on t+1", "max abs(S - S^T) / max abs(S)",
                     "rows whose top score is the diagonal"])
    runs = {}
    for key in VARIANTS:
        heads, shared, masked = key
        rs = train_seeds(settings, seeds, data=data, init=forbid_self_attention if masked else None,
                         n_heads=heads, shared_qk=shared)
        runs[key] = rs
        facts.parameters[shared] = rs[0].parameters
        m = facts.trained[key] = measure(rs, data)
        trained.rows.append([heads, "shared" if shared else "separate", "masked" if masked else "allowed",
                             m.accuracy, m.loss, m.on_previous, m.on_itself, m.on_next, m.asymmetry,
                             "(masked)" if masked else m.diagonal])
    result.tables.append(trained)

    one = data.eval_set()[0][:1]
    tokens = list(data.vocab.decode(one[0]))
    panels = []
    for key in ((1, False, False), (1, True, False), (1, True, True)):
        model = runs[key][0].model
        with minigrad.no_grad(), nn.evaluating(model), record_attention(model):
            model(one)
        s = model.blocks[0].attn.attn_scores[0, 0].astype(np.float64)
        if key[2]:
            s = np.where(np.eye(T, dtype=bool), np.nan, s)  # the masked diagonal: no score to show
        rescaled = np.nan_to_num((s - np.nanmin(s)) / (np.nanmax(s) - np.nanmin(s)), nan=0.0)
        panels.append((f"{variant_label(*key)}: scores, rescaled", rescaled))
        panels.append((f"{variant_label(*key)}: weights", attention_weights(model, one)[0, 0]))
    result.figures.append(heatmaps(panels, tokens, out_dir / "q2_scores.svg", columns=2,
                                   scale_label="weight, or rescaled score",
                                   title=f"Trained 1-head models (seed {seed}) on one held-out sequence: "
                                         "scores rescaled to [0, 1], and the softmax weights"))
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(variant_label(*key), rs[0].curve_steps, [r.smoothed_losses for r in rs],
                               dashed=key[1])
         for key, rs in runs.items()],
        title=f"Training loss, copy the previous token, no causal mask ({len(seeds)} seeds; dashed: "
              "shared Q/K)",
        xlabel="training step", ylabel="training loss (moving average)", log_y=10),
        out_dir / "q2_loss.svg"))
    return result
