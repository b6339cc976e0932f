"""The training loop: AdamW, a warmup + cosine lr scheduler, clipping, evaluation, checkpoints.

    minigrad.manual_seed(0)                       # the model's initial weights
    task = make_task("sort")
    model = TransformerLM(TransformerConfig(vocab_size=task.vocab.size, max_len=task.block_size))
    history = train(model, task, TrainConfig(), out="runs/sort.npz")

One step: draw a batch, forward to the loss, backward, clip the global gradient norm, AdamW
step, scheduler step (which sets the learning rate of the next step). Every `eval_interval`
steps (and at the end) the model is scored on the data's held-out set and, if `out` is given,
a checkpoint is written.

Repeatable bit for bit: `TrainConfig.seed` seeds both random streams a run uses, the data
stream (a numpy Generator private to the run) and minigrad's generator (dropout). A checkpoint
holds everything the next step depends on (weights, AdamW's moments and step counts, the step
number, both generators' states), so a run resumed from it continues exactly as if it had never
stopped.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

import minigrad
from minigrad import nn
from minigrad.optim import AdamW, Optimizer, clip_grad_norm_, lr_scheduler

from .config import TransformerConfig
from .model import TransformerLM
from .tasks import IGNORE, Dataset


@dataclass
class TrainConfig:
    """Everything that decides what a run computes. The defaults are the main example: they
    train the default `TransformerConfig` to solve `sort` (length 8, digits 0-9)."""

    steps: int = 1000                 # optimizer steps; the schedule spans all of them
    batch_size: int = 96              # sequences per step
    lr: float = 3e-3                  # peak learning rate, reached at the end of warmup
    min_lr: float | None = None       # the cosine decay ends here, at the last step; None: lr / 10
    warmup_steps: int = 50            # linear ramp from lr / warmup_steps up to lr
    weight_decay: float = 0.01        # AdamW's decoupled decay (PyTorch's default)
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0            # max global gradient norm; 0 turns clipping off
    eval_interval: int = 100          # evaluate (and checkpoint) every this many steps
    eval_batch_size: int = 500        # sequences per forward pass during evaluation
    seed: int = 0                     # the data stream and minigrad's generator (dropout)

    def __post_init__(self) -> None:
        if self.min_lr is None:
            self.min_lr = self.lr / 10
        for name in ("steps", "batch_size", "eval_interval", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig: {name} must be at least 1, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("TrainConfig: warmup_steps, grad_clip and weight_decay must not be negative")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"TrainConfig: need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))  # a list from JSON becomes a tuple


def make_scheduler(optimizer: Optimizer, config: TrainConfig,
                   last_epoch: int = -1) -> lr_scheduler.SequentialLR:
    """The run's learning-rate schedule, as PyTorch schedulers: a linear warmup, then a half
    cosine from lr down to min_lr, which the last step (steps - 1) uses exactly.

    Warmup: lr * (step + 1) / warmup_steps for the first warmup_steps steps (LinearLR). Then
        lr(s) = min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2,  p = (s - warmup) / (steps - 1 - warmup)
    (CosineAnnealingLR). `last_epoch` is the last step taken, to resume a run; the optimizer's
    groups must then hold their "initial_lr" (its state_dict brings it along).
    """
    for group in optimizer.param_groups:  # checkpoints from before the schedulers lack it
        group.setdefault("initial_lr", config.lr)
    warmup = config.warmup_steps
    decay = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.steps - 1 - warmup),
                                           eta_min=config.min_lr)
    if warmup == 0:
        # Warmup of length 0: the same SequentialLR shape, with the cosine from the first step.
        return lr_scheduler.SequentialLR(optimizer, [decay], milestones=[], last_epoch=last_epoch)
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0,
                                 total_iters=max(1, warmup - 1))
    return lr_scheduler.SequentialLR(optimizer, [ramp, decay], milestones=[warmup], last_epoch=last_epoch)


@dataclass
class History:
    """What a run measured. `losses[i]` and `lrs[i]` belong to step i + 1; evaluations are
    listed with the step after which they ran. A resumed run continues the lists it loaded."""

    losses: list[float] = field(default_factory=list)          # training loss of each step
    lrs: list[float] = field(default_factory=list)             # learning rate of each step
    eval_steps: list[int] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)     # held-out loss
    eval_accuracies: list[float | None] = field(default_factory=list)  # exact match; None for text
    seconds: float = 0.0          # wall time of training steps and evaluations
    step_seconds: float = 0.0     # wall time of the training steps alone
    tokens: int = 0               # input tokens trained on

    @property
    def accuracy(self) -> float | None:
        """The last held-out accuracy."""
        return self.eval_accuracies[-1] if self.eval_accuracies else None

    @property
    def tokens_per_second(self) -> float:
        """Training throughput (evaluations excluded)."""
        return self.tokens / self.step_seconds if self.step_seconds else 0.0


@minigrad.no_grad()
def evaluate(model: TransformerLM, data: Dataset, batch_size: int = 500) -> tuple[float, float | None]:
    """(mean loss over the held-out targets, the data's accuracy or None), in eval mode."""
    ids, targets = data.eval_set()
    total, count, logits = 0.0, 0, []
    with nn.evaluating(model):
        for start in range(0, len(ids), batch_size):
            chunk_logits, loss = model(ids[start: start + batch_size], targets[start: start + batch_size])
            n = int((targets[start: start + batch_size] != IGNORE).sum())  # loss is a mean over these
            total, count = total + loss.item() * n, count + n
            logits.append(chunk_logits.numpy())
    return total / count, data.accuracy(np.concatenate(logits), targets)


# ----- checkpoints ---------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """The contents of a training checkpoint, as `load_checkpoint` returns them."""

    model_config: TransformerConfig
    weights: dict[str, np.ndarray]
    train_config: TrainConfig
    data: dict[str, Any]                 # the dataset's `describe()`
    step: int
    optimizer: dict[str, np.ndarray]
    rng: dict[str, dict[str, Any]]       # "data" and "minigrad": numpy bit-generator states
    history: History

    def build_model(self) -> TransformerLM:
        """A TransformerLM with this checkpoint's config and weights."""
        model = TransformerLM(self.model_config)
        model.load_state_dict(self.weights)
        return model


_HISTORY_LISTS = ("losses", "lrs", "eval_steps", "eval_losses", "eval_accuracies")


def save_checkpoint(path: str | os.PathLike, model: TransformerLM, optimizer: AdamW, step: int,
                    config: TrainConfig, data: Dataset, data_rng: np.random.Generator,
                    history: History) -> None:
    """One .npz (written atomically by minigrad.save): "model.*" weights, "optimizer.*" state,
    the step, JSON text for the configs, the data description and the generator states, and
    the history so far. Python's JSON keeps the generators' 128-bit integers exact."""
    state: dict[str, Any] = {f"model.{k}": v for k, v in model.state_dict().items()}
    state.update({f"optimizer.{k}": v for k, v in optimizer.state_dict().items()})
    state["step"] = np.int64(step)
    state["model_config"] = json.dumps(model.config.to_dict())
    state["train_config"] = json.dumps(dataclasses.asdict(config))
    state["data"] = json.dumps(data.describe())
    state["rng"] = json.dumps({"data": data_rng.bit_generator.state,
                               "minigrad": minigrad.get_rng_state()})
    for name in _HISTORY_LISTS:  # None (no accuracy) is stored as NaN
        state[f"history.{name}"] = np.array([np.nan if v is None else v for v in getattr(history, name)])
    state["history.seconds"] = np.float64(history.seconds)
    state["history.step_seconds"] = np.float64(history.step_seconds)
    state["history.tokens"] = np.int64(history.tokens)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    minigrad.save(state, path)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    state = minigrad.load(path)
    needed = ("step", "model_config", "train_config", "data", "rng")
    missing = [k for k in needed if k not in state]
    if missing:
        raise ValueError(f"load_checkpoint: {os.fspath(path)!r} is not a training checkpoint (no "
                         f"{', '.join(missing)})")

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

    lists = part("history.")
    history = History(
        losses=lists["losses"].tolist(), lrs=lists["lrs"].tolist(),
        eval_steps=[int(s) for s in lists["eval_steps"]], eval_losses=lists["eval_losses"].tolist(),
        eval_accuracies=[None if np.isnan(a) else float(a) for a in lists["eval_accuracies"]],
        seconds=float(lists["seconds"]), step_seconds=float(lists["step_seconds"]),
        tokens=int(lists["tokens"]),
    )
    return Checkpoint(
        model_config=TransformerConfig(**json.loads(str(state["model_config"]))),
        weights=part("model."), train_config=TrainConfig(**json.loads(str(state["train_config"]))),
        data=json.loads(str(state["data"])), step=int(state["step"]), optimizer=part("optimizer."),
        rng=json.loads(str(state["rng"])), history=history,
    )


# ----- progress on stderr ----------------------------------------------------------------------
def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Progress:
    """A status line redrawn in place on a terminal; on anything else (a pipe, a log file, CI)
    only the permanent lines (one per evaluation) are written, so logs stay readable."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.stream = total, stream
        self.live = stream is not None and stream.isatty()
        self._last_draw = 0.0
        self._drawn = False  # a bar is on screen

    def update(self, step: int, loss: float, lr: float, tokens_per_s: float, elapsed: float) -> None:
        now = time.perf_counter()
        if not self.live or (now - self._last_draw < 0.1 and step < self.total):
            return
        self._last_draw, self._drawn = now, True
        width = 24
        filled = width * step // self.total
        eta = elapsed / max(step, 1) * (self.total - step)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r[{bar}] step {step}/{self.total}  loss {loss:.4f}  lr {lr:.1e}  "
                          f"{tokens_per_s / 1000:.1f}k tok/s  {_clock(elapsed)}<{_clock(eta)}\x1b[K")
        self.stream.flush()

    def line(self, text: str) -> None:
        if self.stream is None:
            return
        self.stream.write(("\r\x1b[K" if self._drawn else "") + text + "\n")
        self.stream.flush()
        self._drawn = False

    def close(self) -> None:
        """Erase a bar left on screen."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


# ----- the loop ------------------------------------------------------------------------------------
def _start(model: TransformerLM, optimizer: AdamW, config: TrainConfig,
           resume_from: str | os.PathLike | None) -> tuple[int, History, np.random.Generator]:
    """(step, history, data stream) of a new run, seeded from config.seed, or of the run saved
    in `resume_from`, with the model, the optimizer and minigrad's generator restored."""
    if resume_from is None:
        minigrad.manual_seed(config.seed)
        # a stream other than manual_seed(seed)'s
        return 0, History(), np.random.default_rng([config.seed, 1])
    checkpoint = load_checkpoint(resume_from)
    model.load_state_dict(checkpoint.weights)
    optimizer.load_state_dict(checkpoint.optimizer)
    # a new generator, then its state
    minigrad.set_rng_state(checkpoint.rng["minigrad"])
    data_rng = np.random.default_rng()
    data_rng.bit_generator.state = checkpoint.rng["data"]
    return checkpoint.step, checkpoint.history, data_rng


_STDERR: Any = object()  # train's default log: the sys.stderr of the moment train is called


def train(model: TransformerLM, data: Dataset, config: TrainConfig | None = None, *,
          out: str | os.PathLike | None = None, resume_from: str | os.PathLike | None = None,
          until_step: int | None = None, log: TextIO | None = _STDERR) -> History:
    """Train `model` on `data`; returns the History (also of earlier sessions when resuming).

    out: checkpoint path, written at every evaluation and when the run stops.
    resume_from: a checkpoint to continue from (weights, optimizer, step, generators, history);
        pass the config it was trained with (`load_checkpoint(path).train_config`) to continue
        exactly.
    until_step: stop after this step although the schedule spans `config.steps`, to split a
        run into sessions.
    log: where progress goes (default: sys.stderr as it is when train is called; None: silent).

    Calls `minigrad.tune_allocator()` first: on glibc the step's large arrays are then reused
    instead of faulted in afresh (10-25% faster steps, measured in benchmarks/README.md).
    """
    minigrad.tune_allocator()
    log = sys.stderr if log is _STDERR else log
    config = config or TrainConfig()
    if model.config.max_len < data.block_size:
        raise ValueError(f"train: the data has rows of {data.block_size} tokens but the model's max_len "
                         f"is {model.config.max_len}")
    if model.config.vocab_size < data.vocab.size:
        raise ValueError(f"train: the data has {data.vocab.size} token ids but the model's vocab_size "
                         f"is {model.config.vocab_size}")
    optimizer = AdamW(model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    step, history, data_rng = _start(model, optimizer, config, resume_from)
    scheduler = make_scheduler(optimizer, config, last_epoch=step - 1)
    stop = config.steps if until_step is None else min(until_step, config.steps)
    tokens_per_step = config.batch_size * data.block_size
    progress = Progress(config.steps, log)
    model.train()
    while step < stop:
        started = time.perf_counter()
        lr = scheduler.get_last_lr()[0]
        ids, targets = data.batch(data_rng, config.batch_size)
        _, loss = model(ids, targets)
        optimizer.zero_grad()
        loss.backward()
        if config.grad_clip:
            clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        history.losses.append(loss.item())
        history.lrs.append(lr)
        history.tokens += tokens_per_step
        elapsed = time.perf_counter() - started
        history.step_seconds += elapsed
        history.seconds += elapsed
        progress.update(step, history.losses[-1], lr, history.tokens_per_second, history.seconds)

        if step % config.eval_interval == 0 or step == config.steps:
            started = time.perf_counter()
            eval_loss, accuracy = evaluate(model, data, config.eval_batch_size)
            history.seconds += time.perf_counter() - started
            history.eval_steps.append(step)
            history.eval_losses.append(eval_loss)
            history.eval_accuracies.append(accuracy)
            score = "" if accuracy is None else f"  exact match {100 * accuracy:.1f}%"
            progress.line(f"step {step}/{config.steps}  loss {history.losses[-1]:.4f}  eval loss "
                          f"{eval_loss:.4f}{score}  {history.tokens_per_second / 1000:.1f}k tok/s  "
                          f"{_clock(history.seconds)}")
        if out is not None and (step % config.eval_interval == 0 or step == stop):
            save_checkpoint(out, model, optimizer, step, config, data, data_rng, history)
    progress.close()
    return history
