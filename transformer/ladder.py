"""What each part of the block buys: seven models, each one part more than the last.

    bigram          the next character from this one alone: tok_emb -> head
    average         + positions and a block that mixes the past with fixed weights, 1 / (i + 1)
    one head        the weights learned instead: one attention head of size d_model
    several heads   n_heads heads of size d_model / n_heads, the same parameters
    feed-forward    + the position-wise network after the attention
    residual        + x + f(x) around both, instead of f(x)
    layernorm       + LayerNorm after each addition: the post-LN TransformerBlock

Every rung is a `LadderLM`: a `TransformerConfig` for the sizes and a `Rung` naming the parts
it has. The parts are chosen once, in the constructors; the top rung has exactly the
parameters of `TransformerLM(config)` under the same names and computes the same function
(tests/test_ladder.py loads one's weights into the other). `run_ladder` trains every rung on
the same text with the same recipe and seeds and reports the held-out loss of each.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import minigrad
from minigrad import Tensor, nn
from minigrad import functional as F

from .attention import MultiHeadAttention
from .block import FeedForward
from .config import TransformerConfig
from .tasks import CharDataset
from .train import TrainConfig, train

MIXINGS = (None, "average", "attention")  # how a rung's positions exchange information
DEFAULT_TEXT = Path(__file__).resolve().parent.parent / "examples" / "data" / "lighthouse.txt"


@dataclass(frozen=True)
class Rung:
    """The parts one model of the ladder has."""

    name: str
    adds: str  # what this rung adds to the one before, in words
    mixing: str | None = None  # how positions exchange information: None, "average" or "attention"
    n_heads: int = 1  # attention heads, with mixing "attention" (the config's n_heads is not used)
    feed_forward: bool = False
    residual: bool = False
    layer_norm: bool = False

    def __post_init__(self) -> None:
        if self.mixing not in MIXINGS:
            raise ValueError(f"Rung {self.name!r}: mixing={self.mixing!r} must be one of {MIXINGS}")
        if self.mixing is None and (self.feed_forward or self.residual or self.layer_norm):
            raise ValueError(f"Rung {self.name!r}: a feed-forward, residual or LayerNorm needs a block, "
                             "and a block needs a mixing ('average' or 'attention')")
        if self.n_heads < 1:
            raise ValueError(f"Rung {self.name!r}: n_heads={self.n_heads} must be at least 1")


def ladder_rungs(n_heads: int = 4) -> tuple[Rung, ...]:
    """The seven rungs, each adding one part; `n_heads` is the width of "several heads"."""
    bigram = Rung("bigram", "a table: the next character from this one")
    average = replace(bigram, name="average", adds="positions, and the mean of the past", mixing="average")
    one_head = replace(average, name="one head", adds="learned attention weights", mixing="attention")
    heads = replace(one_head, name=f"{n_heads} heads", adds=f"{n_heads} heads of size d_model / {n_heads}",
                    n_heads=n_heads)
    ffn = replace(heads, name="feed-forward", adds="a feed-forward network after the attention",
                  feed_forward=True)
    residual = replace(ffn, name="residual", adds="x + f(x) instead of f(x)", residual=True)
    norm = replace(residual, name="layernorm", adds="LayerNorm after each addition", layer_norm=True)
    return (bigram, average, one_head, heads, ffn, residual, norm)


class PastAverage(nn.Module):
    """out[:, i] = mean(x[:, :i + 1]): causal attention with fixed, equal weights, (B, T, d) ->
    (B, T, d). No parameters: what attention does before it learns where to look. `causal`
    is there for the attention's call signature; the average is always causal."""

    def forward(self, x: Tensor, causal: bool = True) -> Tensor:
        T = x.shape[1]
        weights = np.tril(np.ones((T, T), dtype=x.dtype))
        weights /= weights.sum(axis=1, keepdims=True)  # row i: 1 / (i + 1) on positions 0..i
        return Tensor(weights) @ x  # (T, T) @ (B, T, d) -> (B, T, d)


def _residual(x: Tensor, fx: Tensor) -> Tensor:
    return x + fx


def _replace(x: Tensor, fx: Tensor) -> Tensor:
    return fx


class LadderBlock(nn.Module):
    """A block with the parts of its rung: x = norm1(join(x, attn(x))), then, with a
    feed-forward network, x = norm2(join(x, ffn(x))); join is x + f(x) or f(x), the norms
    LayerNorm or nothing. The names are TransformerBlock's."""

    def __init__(self, config: TransformerConfig, rung: Rung) -> None:
        super().__init__()
        d = config.d_model
        self.attn = MultiHeadAttention(d, rung.n_heads) if rung.mixing == "attention" else PastAverage()
        self.ffn = FeedForward(d, config.ff_dim, activation=config.activation) if rung.feed_forward else None
        self.norm1 = nn.LayerNorm(d, eps=config.layer_norm_eps) if rung.layer_norm else nn.Identity()
        self.norm2 = nn.LayerNorm(d, eps=config.layer_norm_eps) if rung.layer_norm and rung.feed_forward \
            else nn.Identity()
        self.join: Callable[[Tensor, Tensor], Tensor] = _residual if rung.residual else _replace

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(self.join(x, self.attn(x, causal=True)))
        if self.ffn is not None:
            x = self.norm2(self.join(x, self.ffn(x)))
        return x


class LadderLM(nn.Module):
    """A causal language model with the parts of `rung`, sized by `config` (vocab_size,
    max_len, d_model, n_layers, ff_dim, activation, layer_norm_eps; its other options are not
    used: no dropout, learned positions, post-LN). `forward(ids, targets)` returns
    (logits, loss) as `TransformerLM` does, so `train` and `evaluate` take it."""

    def __init__(self, config: TransformerConfig, rung: Rung) -> None:
        super().__init__()
        self.config, self.rung = config, rung
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        # The bigram sees one character: no positions, no block.
        self.pos_emb = nn.Embedding(config.max_len, config.d_model) if rung.mixing else None
        self.blocks = nn.ModuleList([LadderBlock(config, rung) for _ in range(config.n_layers)]
                                    if rung.mixing else [])
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, ids: Any, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        """ids (B, T) -> (logits (B, T, vocab_size), mean cross-entropy over targets != -100 or None)."""
        ids = np.asarray(ids)
        B, T = ids.shape
        x = self.tok_emb(ids)  # (B, T, d_model)
        if self.pos_emb is not None:
            x = x + self.pos_emb(np.arange(T))
        for block in self.blocks:
            x = block(x)
        logits = self.head(x)  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(B * T, -1), np.asarray(targets).reshape(B * T),
                                       ignore_index=-100)

    def extra_repr(self) -> str:
        return f"rung={self.rung.name!r}"


@dataclass(frozen=True)
class LadderSettings:
    """The model sizes and the training recipe every rung shares. `quick()`: the seconds-long
    version the tests run, whose numbers say little."""

    d_model: int = 64
    n_heads: int = 4  # of the "several heads" rung
    n_layers: int = 2
    block_size: int = 32
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)
    quick: bool = False

    @classmethod
    def quick_run(cls, **changes: Any) -> LadderSettings:
        return replace(cls(d_model=32, n_layers=1, steps=60, batch_size=16, warmup_steps=10, seeds=(0,),
                           quick=True),
                       **changes)

    def with_seeds(self, n: int) -> LadderSettings:
        """The same settings with seeds 0, 1, ..., n - 1."""
        return replace(self, seeds=tuple(range(n)))

    def model_config(self, vocab_size: int) -> TransformerConfig:
        return TransformerConfig(vocab_size=vocab_size, max_len=self.block_size, d_model=self.d_model,
                                 n_heads=self.n_heads, n_layers=self.n_layers)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           warmup_steps=self.warmup_steps, weight_decay=self.weight_decay,
                           eval_interval=self.steps, seed=seed)


@dataclass
class RungResult:
    rung: Rung
    parameters: int
    losses: list[float]  # held-out loss after training, one per seed
    seconds: float  # training time, all seeds
    model: LadderLM  # the model trained with the first seed, for pictures

    @property
    def mean(self) -> float:
        return float(np.mean(self.losses))

    @property
    def sd(self) -> float:
        """The sample standard deviation over seeds (0 for one seed)."""
        return float(np.std(self.losses, ddof=1)) if len(self.losses) > 1 else 0.0


@dataclass
class LadderResult:
    settings: LadderSettings
    text: str  # the file trained on
    uniform_loss: float  # ln(vocabulary size): a model that knows nothing
    rungs: list[RungResult]

    def table(self) -> str:
        """The results as a Markdown table, marked when they come from the quick setting."""
        s = self.settings
        seeds = f"{len(s.seeds)} seed{'s' if len(s.seeds) > 1 else ''}"
        lines = [f"held-out loss (nats per character) on {Path(self.text).name}, {s.steps} steps of "
                 f"{s.batch_size} x {s.block_size} characters, d_model {s.d_model}, {s.n_layers} "
                 f"layer{'s' if s.n_layers > 1 else ''}, "
                 f"{f'mean ± sd over {seeds}' if len(s.seeds) > 1 else seeds}; "
                 f"a uniform guess scores {self.uniform_loss:.2f}",
                 "", "| rung | adds | parameters | held-out loss |", "|---|---|---:|---:|"]
        for r in self.rungs:
            loss = f"{r.mean:.3f} ± {r.sd:.3f}" if len(r.losses) > 1 else f"{r.mean:.3f}"
            lines.append(f"| {r.rung.name} | {r.rung.adds} | {r.parameters:,} | {loss} |")
        if s.quick:
            lines.insert(0, "QUICK RUN (a test setting: too short to mean anything)")
        return "\n".join(lines)


def run_ladder(settings: LadderSettings | None = None, text: str | Path = DEFAULT_TEXT,
               rungs: Sequence[Rung] | None = None,
               log: Callable[[str], None] | None = None) -> LadderResult:
    """Train every rung on `text` once per seed, the same way, and measure its held-out loss.

    Seed s draws the same batches for every rung and starts minigrad's generator at s, so the
    rungs differ only in their parts. `log` receives a line per rung as it finishes."""
    settings = settings or LadderSettings()
    data = CharDataset.from_file(text, block_size=settings.block_size)
    config = settings.model_config(data.vocab.size)
    results = []
    for rung in rungs or ladder_rungs(settings.n_heads):
        losses, models, started = [], [], time.perf_counter()
        for seed in settings.seeds:
            minigrad.manual_seed(seed)
            models.append(LadderLM(config, rung))
            history = train(models[-1], data, settings.train_config(seed), log=None)
            losses.append(history.eval_losses[-1])
        parameters = sum(p.data.size for p in models[0].parameters())
        result = RungResult(rung, parameters, losses, time.perf_counter() - started, models[0])
        results.append(result)
        if log is not None:
            each = " ".join(f"{v:.3f}" for v in losses)
            log(f"{rung.name:>14}: held-out loss {each}  ({result.seconds:.0f} s)")
    return LadderResult(settings, str(text), math.log(data.vocab.size), results)
