"""Train one attention variant the same way as every other: the shared recipe of Q1-Q5.

Each comparison changes one attention option (n_heads, scale, shared_qk, score, head_dim) and
keeps everything else fixed: the data stream, the initial-weight seed, the optimizer and its
schedule. The run goes through `transformer.train.train`, the loop a user trains with.

    from transformer.faq.stats import Spread, seed_list
    runs = train_seeds(settings, seed_list(0, quick), data=task, n_heads=4)   # one per seed
    Spread.of(r.loss for r in runs)          # final held-out loss over seeds
    Spread.of(r.accuracy for r in runs)      # final held-out accuracy (exact match or per token)
    svg_chart.Series.over_seeds("4 heads", runs[0].curve_steps, [r.smoothed_losses for r in runs])

With `entropy_at=(25, 50, ...)` the run stops after each of those steps, the attention entropy is
read, and training resumes from the checkpoint it wrote there (`train(..., resume_from=...)`,
which continues exactly: the same numbers as one uninterrupted run). `init` changes the freshly
built model before anything is measured (Q4 rescales q_proj and k_proj with it).
"""
from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import minigrad

from ..config import TransformerConfig
from ..model import TransformerLM
from ..tasks import Dataset, make_task
from ..train import History, TrainConfig, train
from .readout import attention_entropy, attention_weights


@dataclass(frozen=True)
class TrainSettings:
    """A small model and a short run; `quick()` is the seconds-long version the tests use."""

    task: str = "sort"
    length: int = 6
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 1
    steps: int = 400
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 40
    eval_interval: int = 100
    n_eval: int = 500
    causal: bool = True

    @classmethod
    def quick(cls, **changes: Any) -> TrainSettings:
        return replace(cls(steps=20, batch_size=32, eval_interval=10, warmup_steps=5, n_eval=100), **changes)

    def data(self) -> Dataset:
        return make_task(self.task, length=self.length, n_eval=self.n_eval)


@dataclass
class VariantRun:
    model: TransformerLM
    history: History
    initial_entropy: float       # mean attention entropy (nats) of layer 0 at initialisation
    curve_steps: list[int]       # x of the smoothed training curve
    smoothed_losses: list[float]  # training loss, moving average over steps / 20 steps
    entropy_steps: list[int] = field(default_factory=list)  # 0 and the steps of `entropy_at`
    entropies: list[float] = field(default_factory=list)  # attention entropy (nats) of layer 0 there

    @property
    def parameters(self) -> int:
        return sum(p.data.size for p in self.model.parameters())

    @property
    def loss(self) -> float:
        """The held-out loss at the last evaluation."""
        return self.history.eval_losses[-1]

    @property
    def accuracy(self) -> float:
        """The held-out accuracy at the last evaluation (NaN for text, which has none)."""
        last = self.history.accuracy
        return float("nan") if last is None else last


def smooth(values: list[float], window: int, points: int = 100) -> tuple[list[int], list[float]]:
    """Moving average of `values` (value i belongs to step i + 1), sampled at about `points` steps."""
    v = np.asarray(values, dtype=np.float64)
    window = max(1, min(window, len(v)))
    means = np.convolve(v, np.ones(window) / window, mode="valid")  # means[i] ends at value i + window - 1
    at = np.unique(np.linspace(0, len(means) - 1, min(points, len(means))).astype(int))
    return [int(i + window) for i in at], [float(means[i]) for i in at]


def train_variant(settings: TrainSettings, seed: int, data: Dataset | None = None, *,
                  init: Callable[[TransformerLM], None] | None = None, entropy_at: Sequence[int] = (),
                  **attention: Any) -> VariantRun:
    """Build a TransformerLM from `settings` plus the attention options (e.g. scale=False), seed
    its weights with `seed`, apply `init` to it, train it on `data` (default: the settings'
    task) and measure it, reading the attention entropy after each step of `entropy_at`."""
    data = data if data is not None else settings.data()
    if list(entropy_at) != sorted(set(entropy_at)) or not all(0 < s <= settings.steps for s in entropy_at):
        raise ValueError(f"train_variant: entropy_at must be increasing steps in 1..{settings.steps}, "
                         f"got {list(entropy_at)}")
    config = TransformerConfig(vocab_size=data.vocab.size, max_len=data.block_size, d_model=settings.d_model,
                               n_heads=attention.pop("n_heads", settings.n_heads), n_layers=settings.n_layers,
                               causal=settings.causal, **attention)
    minigrad.manual_seed(seed)
    model = TransformerLM(config)
    if init is not None:
        init(model)
    probe = data.eval_set()[0][:64]
    entropies = [attention_entropy(attention_weights(model, probe))]
    variant = ", ".join(f"{k}={v}" for k, v in attention.items()) or "baseline"
    if init is not None:
        variant += f", init={init.__name__}"
    print(f"  training {variant}, n_heads {config.n_heads}, seed {seed}: {settings.steps} steps ...",
          end="", file=sys.stderr, flush=True)
    recipe = TrainConfig(steps=settings.steps, batch_size=settings.batch_size, lr=settings.lr,
                         warmup_steps=settings.warmup_steps, eval_interval=settings.eval_interval, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, resume = Path(tmp) / "run.npz", None
        for stop in dict.fromkeys([*entropy_at, settings.steps]):  # each step once, in order
            history = train(model, data, recipe, out=checkpoint if entropy_at else None, resume_from=resume,
                            until_step=stop, log=None)
            resume = checkpoint
            if stop in entropy_at:
                entropies.append(attention_entropy(attention_weights(model, probe)))
    print(f" {history.seconds:.1f} s", file=sys.stderr, flush=True)
    steps, losses = smooth(history.losses, window=max(1, settings.steps // 20))
    return VariantRun(model, history, entropies[0], steps, losses, [0, *entropy_at], entropies)


def train_seeds(settings: TrainSettings, seeds: Sequence[int], data: Dataset | None = None,
                **options: Any) -> list[VariantRun]:
    """`train_variant` once per seed (a different initialisation and data stream each)."""
    return [train_variant(settings, s, data=data, **options) for s in seeds]


def mean(values: Iterable[float]) -> float:
    return float(np.mean(list(values)))
