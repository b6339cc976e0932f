"""Q1: why multi-head attention?

Claim (the tutorial): several heads attend to different subspaces and catch richer information
than one head, like several filters in a CNN; at a fixed d_model, more heads make the model more
expressive.

Experiments, each over `stats.SEEDS` seeds, one causal layer, d_model = 32 (the parameter
count is the same for every head count: the projections are d_model x d_model whatever the
split, only d_k = d_model / h changes):
1. A task that needs two attention patterns at every position at once: random digits 0-5,
   the target at t >= 1 is the pair (first token, previous token), one of 36 classes,
   6 * x_0 + x_{t-1} (`PatternTask("first_and_previous")`); 1, 2 and 4 heads.
2. Control: a task with one pattern only, y_t = x_{t-1} (`PatternTask("previous")`), where
   extra heads have nothing to split and should not help.
3. Head ablation: each trained 4-head model evaluated with heads removed (their slice of the
   output projection zeroed), one at a time and by role.
4. A head sweep, 1 to 32 heads at d_model = 32 (d_k from 32 down to 1), on the two-pattern task
   and on character-level language modelling of the bundled text (examples/data/lighthouse.txt).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minigrad

from ..attention import MultiHeadAttention
from ..tasks import CharDataset, Dataset
from ..train import evaluate
from . import svg_chart as svg
from .pattern_tasks import PatternTask
from .readout import attention_weights, heatmaps
from .report import DEFAULT_OUT, Result, Table, experiment
from .stats import Spread, seed_list
from .training import TrainSettings, VariantRun, train_seeds

HEADS = (1, 2, 4)
SWEEP = (1, 2, 4, 8, 16, 32)
TEXT = Path(__file__).resolve().parents[2] / "examples" / "data" / "lighthouse.txt"


@dataclass
class Q1Facts:
    """The numbers the answer rests on; a Spread holds one value per seed."""

    mid_step: int                                                    # the step "early" accuracy is read at
    control_mid_step: int                                            # the same for the control
    parameters: dict[int, int] = field(default_factory=dict)         # heads -> parameter count
    mid_accuracy: dict[int, Spread] = field(default_factory=dict)    # two patterns, accuracy at mid_step
    final_accuracy: dict[int, Spread] = field(default_factory=dict)  # two patterns, final accuracy
    final_loss: dict[int, Spread] = field(default_factory=dict)      # two patterns, final held-out loss
    split: dict[int, list[list[float]]] = field(default_factory=dict)  # first seed: (h, 3) attention split
    control_mid_accuracy: dict[int, Spread] = field(default_factory=dict)  # one pattern, at mid_step
    control_accuracy: dict[int, Spread] = field(default_factory=dict)  # one pattern, final accuracy
    control_loss: dict[int, Spread] = field(default_factory=dict)    # one pattern, final held-out loss
    ablation: dict[str, Spread] = field(default_factory=dict)        # removed heads -> held-out accuracy
    sweep_accuracy: dict[int, Spread] = field(default_factory=dict)  # two patterns, accuracy at mid_step
    sweep_text_loss: dict[int, Spread] = field(default_factory=dict)  # text, final held-out loss


def accuracy_at(run: VariantRun, step: int) -> float:
    """The held-out accuracy of the evaluation after `step`."""
    return run.history.eval_accuracies[run.history.eval_steps.index(step)]


def attention_split(weights: np.ndarray) -> np.ndarray:
    """(h, 3): per head, the mean weight that queries t >= 2 put on position 0, on position t-1,
    and on every other position, for weights (B, h, T, T). (At t = 1 the first token is the
    previous token, so those queries are left out.)"""
    T = weights.shape[-1]
    t = np.arange(2, T)
    first = weights[:, :, t, 0].mean(axis=(0, 2))
    previous = weights[:, :, t, t - 1].mean(axis=(0, 2))
    return np.stack([first, previous, 1.0 - first - previous], axis=1)


@contextlib.contextmanager
def heads_removed(attn: MultiHeadAttention, heads: Sequence[int]) -> Iterator[None]:
    """Zero the columns of the output projection that read `heads` (what those heads add to
    the residual stream), restoring the weights afterwards. Biases stay: they belong to no head."""
    weight = attn.out_proj.weight
    kept = weight.data
    ablated = kept.copy()
    for h in heads:
        ablated[:, h * attn.head_dim:(h + 1) * attn.head_dim] = 0.0
    weight.data = ablated
    try:
        yield
    finally:
        weight.data = kept


def held_out_accuracy(run: VariantRun, data: Dataset, heads: Sequence[int] = ()) -> float:
    with minigrad.no_grad(), heads_removed(run.model.blocks[0].attn, heads):
        return float(evaluate(run.model, data)[1])


def ablate(runs: list[VariantRun], data: PatternTask) -> dict[str, Spread]:
    """Held-out accuracy of each trained model with heads removed: none; each single head (the
    mean over heads, the least and the most harmful); every head whose largest weight is on the
    first token, or on the previous token; and all heads but the one whose removal hurts most."""
    ids = data.eval_set()[0][:100]
    rows: dict[str, list[float]] = {k: [] for k in (
        "none", "one head (mean over heads)", "one head (the least needed)", "one head (the most needed)",
        "every head on the first token", "every head on the previous token", "all but the most needed")}
    for run in runs:
        split = attention_split(attention_weights(run.model, ids))
        heads = range(len(split))
        single = [held_out_accuracy(run, data, [h]) for h in heads]
        most = int(np.argmin(single))
        rows["none"].append(held_out_accuracy(run, data))
        rows["one head (mean over heads)"].append(float(np.mean(single)))
        rows["one head (the least needed)"].append(max(single))
        rows["one head (the most needed)"].append(min(single))
        rows["every head on the first token"].append(
            held_out_accuracy(run, data, [h for h in heads if split[h, 0] > split[h, 1]]))
        rows["every head on the previous token"].append(
            held_out_accuracy(run, data, [h for h in heads if split[h, 0] <= split[h, 1]]))
        rows["all but the most needed"].append(held_out_accuracy(run, data, [h for h in heads if h != most]))
    return {k: Spread.of(v) for k, v in rows.items()}


def heads_label(h: int) -> str:
    return f"{h} head{'s' if h > 1 else ''}"


@experiment("q1")
def run(quick: bool = False, out_dir: Path = DEFAULT_OUT, seed: int = 0) -> Result:
    seeds = seed_list(seed, quick)
    settings = (TrainSettings.quick(steps=100, eval_interval=25) if quick
                else TrainSettings(steps=400, eval_interval=25))
    control_settings = settings if quick else TrainSettings(steps=200, eval_interval=25)
    mid, control_mid = settings.steps // 4, control_settings.steps // 4
    facts = Q1Facts(mid_step=mid, control_mid_step=control_mid)
    result = Result("q1", facts=facts)
    described = (f"one causal layer, d_model={settings.d_model}, {settings.steps} steps of "
                 f"{settings.batch_size} sequences, {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}); "
                 "mean ± sd over seeds")

    # 1. Two patterns at once.
    data = PatternTask("first_and_previous", length=12, base=6, n_eval=200 if quick else 500)
    sweep = (1, 4, 32) if quick else SWEEP
    runs = {h: train_seeds(settings, seeds, data=data, n_heads=h) for h in sorted(set(HEADS) | set(sweep))}
    table = Table(f"{data!r}: {described}",
                  ["heads", "d_k", "parameters", f"token accuracy at step {mid}", "final token accuracy",
                   "final held-out loss", "s per run"])
    for h in HEADS:
        rs = runs[h]
        facts.parameters[h] = rs[0].parameters
        facts.mid_accuracy[h] = Spread.of(accuracy_at(r, mid) for r in rs)
        facts.final_accuracy[h] = Spread.of(r.accuracy for r in rs)
        facts.final_loss[h] = Spread.of(r.loss for r in rs)
        table.rows.append([h, settings.d_model // h, rs[0].parameters, facts.mid_accuracy[h],
                           facts.final_accuracy[h], facts.final_loss[h],
                           Spread.of(r.history.seconds for r in rs).mean])
    result.tables.append(table)

    ids = data.eval_set()[0][:100]
    split_table = Table(f"Mean attention weight of queries t >= 2 on 100 held-out sequences (seed {seed})",
                        ["model", "head", "on position 0 (first)", "on position t-1 (previous)", "elsewhere"])
    for h in (1, 4):
        facts.split[h] = attention_split(attention_weights(runs[h][0].model, ids)).tolist()
        for head, (first, previous, other) in enumerate(facts.split[h]):
            split_table.rows.append([heads_label(h), head, first, previous, other])
    result.tables.append(split_table)

    # 2. Control: one pattern, nothing for a second head to do.
    control = PatternTask("previous", length=12, base=6, n_eval=200 if quick else 500)
    control_runs = {h: train_seeds(control_settings, seeds, data=control, n_heads=h) for h in (1, 4)}
    control_table = Table(f"Control, {control!r} (one pattern): as above, {control_settings.steps} steps",
                          ["heads", "d_k", f"token accuracy at step {control_mid}", "final token accuracy",
                           "final held-out loss"])
    for h, rs in control_runs.items():
        facts.control_mid_accuracy[h] = Spread.of(accuracy_at(r, control_mid) for r in rs)
        facts.control_accuracy[h] = Spread.of(r.accuracy for r in rs)
        facts.control_loss[h] = Spread.of(r.loss for r in rs)
        control_table.rows.append([h, settings.d_model // h, facts.control_mid_accuracy[h],
                                   facts.control_accuracy[h], facts.control_loss[h]])
    result.tables.append(control_table)

    # 3. Ablation of the trained 4-head models.
    facts.ablation = ablate(runs[4], data)
    ablation_table = Table(f"Head ablation: the trained 4-head models of table 1, held-out token accuracy "
                           f"with heads removed ({len(seeds)} seeds)", ["heads removed", "token accuracy"])
    ablation_table.rows.extend([name, spread] for name, spread in facts.ablation.items())
    result.tables.append(ablation_table)

    # 4. The sweep: the two-pattern runs above, and the bundled text.
    text = CharDataset.from_file(TEXT, block_size=32, val_fraction=0.2)
    text_settings = (TrainSettings.quick(steps=30, eval_interval=30) if quick
                     else TrainSettings(steps=200, eval_interval=50))
    text_runs = {h: train_seeds(text_settings, seeds, data=text, n_heads=h) for h in sweep}
    sweep_table = Table(f"Head sweep at d_model={settings.d_model}: the two-pattern task as above, and "
                        f"characters of {TEXT.name} (block 32, {text_settings.steps} steps; held-out: the "
                        f"last 20% of the text); {len(seeds)} seeds",
                        ["heads", "d_k", f"two patterns: token accuracy at step {mid}",
                         "two patterns: final held-out loss", "text: held-out loss (nats per character)",
                         "text: s per run"])
    for h in sweep:
        facts.sweep_accuracy[h] = Spread.of(accuracy_at(r, mid) for r in runs[h])
        facts.sweep_text_loss[h] = Spread.of(r.loss for r in text_runs[h])
        sweep_table.rows.append([h, settings.d_model // h, facts.sweep_accuracy[h],
                                 Spread.of(r.loss for r in runs[h]), facts.sweep_text_loss[h],
                                 Spread.of(r.history.seconds for r in text_runs[h]).mean])
    result.tables.append(sweep_table)

    # Figures.
    one = ids[:1]
    tokens = list(data.vocab.decode(one[0]))
    panels = [(f"{heads_label(h)}: head {k}", w) for h in (1, 4)
              for k, w in enumerate(attention_weights(runs[h][0].model, one)[0])]
    result.figures.append(heatmaps(panels, tokens, out_dir / "q1_attention.svg", columns=5,
                                   title=f"Attention on one held-out sequence (seed {seed}); rows: queries, "
                                         "columns: keys"))
    n = f"{len(seeds)} seeds"
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(heads_label(h), runs[h][0].curve_steps, [r.smoothed_losses for r in runs[h]])
         for h in HEADS],
        title=f"Training loss, first-and-previous task ({n})", xlabel="training step",
        ylabel="training loss (moving average)", log_y=10), out_dir / "q1_loss.svg"))
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds(f"{heads_label(h)}{', control' if c else ''}", rs[0].history.eval_steps,
                               [r.history.eval_accuracies for r in rs], dashed=c)
         for c, group in ((False, runs), (True, control_runs)) for h, rs in group.items() if h in (1, 4)],
        title=f"Held-out token accuracy: two patterns, and the one-pattern control (dashed; {n})",
        xlabel="training step", ylabel="held-out token accuracy"), out_dir / "q1_accuracy.svg"))
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds("characters", list(sweep),
                               [[text_runs[h][i].loss for h in sweep] for i in range(len(seeds))])],
        title=f"Held-out loss on {TEXT.name} against the number of heads, d_model={settings.d_model} ({n})",
        xlabel="heads (d_k = 32 / heads)", ylabel="held-out loss (nats per character)", log_x=2),
        out_dir / "q1_sweep_text.svg"))
    result.figures.append(svg.save(svg.line_chart(
        [svg.Series.over_seeds("two patterns", list(sweep),
                               [[accuracy_at(runs[h][i], mid) for h in sweep] for i in range(len(seeds))])],
        title=f"Held-out token accuracy at step {mid} against the number of heads ({n})",
        xlabel="heads (d_k = 32 / heads)", ylabel=f"token accuracy at step {mid}", log_x=2),
        out_dir / "q1_sweep_pattern.svg"))
    return result
