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

import contextlib
import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

import minigrad
from minigrad import nn
from minigrad.optim import AdamW, Optimizer, clip_grad_norm_, lr_scheduler

from . import checkpoint
from .config import TransformerConfig
from .fields import check_fields, from_dict
from .model import TransformerLM
from .seq2seq import Seq2SeqTransformer
from .seq2seq_config import Seq2SeqConfig
from .tasks import IGNORE, Dataset

# Inclusive limits of TrainConfig's numbers, checked when a config is made or read from a file.
TRAIN_LIMITS: dict[str, tuple[float, float]] = {
    "steps": (1, 10**9),
    "batch_size": (1, 2**16),
    "lr": (0.0, 10.0),
    "min_lr": (0.0, 10.0),
    "warmup_steps": (0, 10**9),
    "weight_decay": (0.0, 10.0),
    "betas": (0.0, 1.0),
    "grad_clip": (0.0, 1e9),
    "eval_interval": (1, 10**9),
    "eval_batch_size": (1, 2**16),
    "seed": (0, 2**63 - 1),
}
SCHEDULES = ("cosine", "noam")  # the learning-rate schedules of make_scheduler
TRAIN_CHOICES: dict[str, tuple[str, ...]] = {"schedule": SCHEDULES}


@dataclass
class TrainConfig:
    """Everything that decides what a run computes. The defaults are the main example: they
    train the default `TransformerConfig` to solve `sort` (length 8, digits 0-9)."""

    steps: int = 1000  # optimizer steps; the schedule spans all of them
    batch_size: int = 96  # sequences per step
    lr: float = 3e-3  # peak learning rate, reached at the end of warmup
    min_lr: float | None = None  # the cosine decay ends here, at the last step; None: lr / 10
    warmup_steps: int = 50  # linear ramp from lr / warmup_steps up to lr
    schedule: str = "cosine"  # after warmup: "cosine" down to min_lr, or "noam", lr * sqrt(warmup / step)
    weight_decay: float = 0.01  # AdamW's decoupled decay (PyTorch's default)
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    eval_interval: int = 100  # evaluate (and checkpoint) every this many steps
    eval_batch_size: int = 500  # sequences per forward pass during evaluation
    seed: int = 0  # the data stream and minigrad's generator (dropout)

    def __post_init__(self) -> None:
        check_fields(self, TRAIN_LIMITS, TRAIN_CHOICES)
        if self.min_lr is None:
            self.min_lr = self.lr / 10
        if not all(b < 1 for b in self.betas):
            raise ValueError(f"TrainConfig: betas={list(self.betas)} must each be below 1")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"TrainConfig: need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))  # a list from JSON becomes a tuple

    @classmethod
    def from_dict(cls, values: Any) -> TrainConfig:
        """A config from untrusted JSON (a checkpoint's), each key checked (see TRAIN_LIMITS)."""
        return from_dict(cls, values)


# The settings `minigrad-transformer train --text` and examples/train_text.py share, chosen by
# measuring on the bundled examples/data/lighthouse.txt (5.7 KB): 32 characters of context and
# 64 windows a step reached a lower held-out loss than 64 and 32 (2.14 against 2.21 at equal
# tokens), dropout 0.2 keeps a text this small from being memorised, and the loss stops
# improving after about 450 steps, so the schedule ends at 500.
TEXT_BLOCK_SIZE = 32
TEXT_MODEL: dict[str, Any] = {"d_model": 64, "n_heads": 4, "n_layers": 2, "dropout": 0.2}
TEXT_TRAIN = TrainConfig(steps=500, batch_size=64, lr=3e-3, warmup_steps=50, weight_decay=0.1,
                         eval_interval=50)

# The settings `minigrad-transformer train --task numbers` uses: the paper's recipe (post-LN,
# ReLU, sinusoids, tied embeddings, label smoothing 0.1, the "noam" schedule) at a small size.
# It reaches more than 99% held-out exact match on six-digit numbers in under three minutes on
# 2 cores (the README records the run).
SEQ2SEQ_MODEL: dict[str, Any] = {
    "d_model": 64,
    "n_heads": 4,
    "n_encoder_layers": 2,
    "n_decoder_layers": 2,
    "label_smoothing": 0.1,
}
# Batches of 128: with 64 the held-out exact match wanders between 94% and 99.5% after step 600
# (the last of 1500 steps at 94.3%); with 128 it stays at 99.2% or above from step 700 on.
SEQ2SEQ_TRAIN = TrainConfig(
    steps=1500, batch_size=128, lr=1e-3, warmup_steps=200, schedule="noam", eval_interval=100
)


def noam_factor(step: int, warmup_steps: int) -> float:
    """The learning-rate factor of step `step` (0-based) in the schedule of "Attention Is All
    You Need" ("Noam"), scaled to peak at 1 on the last warmup step:

        min((step + 1) / warmup, sqrt(warmup / (step + 1)))

    a linear warmup, then a decay as the inverse square root of the step. The paper's
    lrate = d_model^-0.5 * min(s^-0.5, s * warmup^-1.5), s = step + 1, is this factor times
    lr = (d_model * warmup)^-0.5 (7.0e-4 for its d_model 512 and 4000 warmup steps).
    """
    s, warmup = step + 1, max(1, warmup_steps)
    return min(s / warmup, math.sqrt(warmup / s))


def make_scheduler(
    optimizer: Optimizer, config: TrainConfig, last_epoch: int = -1
) -> lr_scheduler.LRScheduler:
    """The run's learning-rate schedule, as PyTorch schedulers. With schedule="noam", lr times
    `noam_factor` (LambdaLR). With "cosine" (the default), a linear warmup, then a half
    cosine from lr down to min_lr, which the last step (steps - 1) uses exactly.

    Warmup: lr * (step + 1) / warmup_steps for the first warmup_steps steps (LinearLR). Then
        lr(s) = min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2,  p = (s - warmup) / (steps - 1 - warmup)
    (CosineAnnealingLR). `last_epoch` is the last step taken, to resume a run; the optimizer's
    groups must then hold their "initial_lr" (its state_dict brings it along).
    """
    for group in optimizer.param_groups:  # checkpoints from before the schedulers lack it
        group.setdefault("initial_lr", config.lr)
    warmup = config.warmup_steps
    if config.schedule == "noam":
        return lr_scheduler.LambdaLR(optimizer, lambda step: noam_factor(step, warmup), last_epoch=last_epoch)
    decay = lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, config.steps - 1 - warmup), eta_min=config.min_lr
    )
    if warmup == 0:
        # Warmup of length 0: the same SequentialLR shape, with the cosine from the first step.
        return lr_scheduler.SequentialLR(optimizer, [decay], milestones=[], last_epoch=last_epoch)
    ramp = lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=max(1, warmup - 1)
    )
    return lr_scheduler.SequentialLR(optimizer, [ramp, decay], milestones=[warmup], last_epoch=last_epoch)


@dataclass
class History:
    """What a run measured. `losses[i]` and `lrs[i]` belong to step i + 1; evaluations are
    listed with the step after which they ran. A resumed run continues the lists it loaded."""

    losses: list[float] = field(default_factory=list)  # training loss of each step
    lrs: list[float] = field(default_factory=list)  # learning rate of each step
    eval_steps: list[int] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)  # held-out loss
    eval_accuracies: list[float | None] = field(default_factory=list)  # exact match; None for text
    seconds: float = 0.0  # wall time of training steps and evaluations
    step_seconds: float = 0.0  # wall time of the training steps alone
    tokens: int = 0  # input tokens trained on

    @property
    def accuracy(self) -> float | None:
        """The last held-out accuracy."""
        return self.eval_accuracies[-1] if self.eval_accuracies else None

    @property
    def tokens_per_second(self) -> float:
        """Training throughput (evaluations excluded)."""
        return self.tokens / self.step_seconds if self.step_seconds else 0.0


def model_inputs(
    inputs: np.ndarray | tuple[np.ndarray, ...], rows: slice = slice(None)
) -> tuple[np.ndarray, ...]:
    """The arrays a batch gives the model before its targets, as a tuple: (ids,) for a language
    model's batch, (src_ids, tgt_ids) for a sequence-to-sequence task's; `rows` picks rows."""
    return tuple(a[rows] for a in inputs) if isinstance(inputs, tuple) else (inputs[rows],)


def check_fits(model: TransformerLM | Seq2SeqTransformer, data: Dataset) -> None:
    """A one-line ValueError when the data's rows are longer, or its token ids more, than the
    model takes."""
    c = model.config
    if isinstance(model, Seq2SeqTransformer):
        if not hasattr(data, "src_vocab"):
            raise ValueError(
                "train: a Seq2SeqTransformer trains on a sequence-to-sequence task (source, target)"
            )
        needs = [
            ("max_len", data.max_len, c.max_len),
            ("src_vocab_size", data.src_vocab.size, c.src_vocab_size),
            ("tgt_vocab_size", data.tgt_vocab.size, c.tgt_vocab_size),
        ]
    else:
        if hasattr(data, "src_vocab"):
            raise ValueError("train: a sequence-to-sequence task needs a Seq2SeqTransformer")
        if c.max_len < data.block_size:
            raise ValueError(
                f"train: the data has rows of {data.block_size} tokens but the model's max_len is {c.max_len}"
            )
        needs = [("vocab_size", data.vocab.size, c.vocab_size)]
    for name, needed, has in needs:
        if has < needed:
            raise ValueError(f"train: the data needs {name} >= {needed}, but the model's {name} is {has}")


@minigrad.no_grad()
def evaluate(
    model: TransformerLM | Seq2SeqTransformer, data: Dataset, batch_size: int = 500
) -> tuple[float, float | None]:
    """(mean loss over the held-out targets, the data's accuracy or None), in eval mode."""
    inputs, targets = data.eval_set()
    total, count, logits = 0.0, 0, []
    with nn.evaluating(model):
        for start in range(0, len(targets), batch_size):
            rows = slice(start, start + batch_size)
            chunk_logits, loss = model(*model_inputs(inputs, rows), targets[rows])
            n = int((targets[start : start + batch_size] != IGNORE).sum())  # loss is a mean over these
            total, count = total + loss.item() * n, count + n
            logits.append(chunk_logits.numpy())
    return total / count, data.accuracy(np.concatenate(logits), targets)


# ----- checkpoints ---------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """A training checkpoint, as `load_checkpoint` returns it: every part checked."""

    model_config: TransformerConfig | Seq2SeqConfig
    weights: dict[str, np.ndarray]
    train_config: TrainConfig
    data: dict[str, Any]  # the dataset's `describe()`
    step: int
    optimizer: dict[str, np.ndarray]
    rng: dict[str, dict[str, Any]]  # "data" and "minigrad": numpy bit-generator states
    history: History
    file: checkpoint.Checkpoint  # the file as `transformer.checkpoint.read` returned it

    def build_model(self) -> TransformerLM | Seq2SeqTransformer:
        """The model (a TransformerLM or a Seq2SeqTransformer, as the file says) with this
        checkpoint's config and weights, in the file's dtype."""
        return MODEL_CLASSES[self.file.model].from_checkpoint(self.file)


MODEL_CLASSES = {"TransformerLM": TransformerLM, "Seq2SeqTransformer": Seq2SeqTransformer}  # by file name
_HISTORY_LISTS = ("losses", "lrs", "eval_steps", "eval_losses", "eval_accuracies")


def save_checkpoint(
    path: str | os.PathLike,
    model: TransformerLM,
    optimizer: AdamW,
    step: int,
    config: TrainConfig,
    data: Dataset,
    data_rng: np.random.Generator,
    history: History,
) -> None:
    """One model file (`transformer.checkpoint`) with everything the next step depends on:
    the weights, AdamW's state, and in the header's "training" part the step, this config,
    both generators' states and the history. JSON keeps the generators' 128-bit integers
    exact."""
    training = {
        "step": step,
        "config": dataclasses.asdict(config),
        "rng": {
            "data": data_rng.bit_generator.state,
            "minigrad": minigrad.get_rng_state(),
        },
        "history": dataclasses.asdict(history),
    }
    checkpoint.write(
        path,
        type(model).__name__,
        model.config,
        model.state_dict(),
        data=data.describe(),
        training=training,
        optimizer=optimizer.state_dict(),
    )


def _checked_rng(state: Any, key: str, where: str) -> dict[str, Any]:
    """A bit-generator state that numpy accepts, or a one-line error naming the key."""
    try:
        np.random.default_rng().bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"{where}: 'training.rng.{key}' is not a numpy generator state ({error})") from None
    return state


def _checked_history(values: Any, where: str) -> History:
    if not isinstance(values, dict):
        raise TypeError(f"{where}: 'training.history' must be a JSON object")
    unknown = [k for k in values if k not in History.__dataclass_fields__]
    if unknown:
        raise ValueError(f"{where}: unknown key 'training.history.{unknown[0]}'")
    for name in _HISTORY_LISTS:
        items = values.get(name, [])
        number = (int,) if name == "eval_steps" else (int, float)
        ok = isinstance(items, list) and all(
            (isinstance(v, number) and not isinstance(v, bool)) or (v is None and name == "eval_accuracies")
            for v in items
        )
        if not ok:
            raise TypeError(f"{where}: 'training.history.{name}' must be a list of numbers")
    for name in ("seconds", "step_seconds", "tokens"):
        value = values.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{where}: 'training.history.{name}' must be a number >= 0")
    lengths = {len(values.get(n, [])) for n in ("eval_steps", "eval_losses", "eval_accuracies")}
    if len(lengths) > 1 or len(values.get("losses", [])) != len(values.get("lrs", [])):
        raise ValueError(f"{where}: the lists of 'training.history' have inconsistent lengths")
    history = History(**values)
    history.tokens = int(history.tokens)
    return history


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a training checkpoint (of this format or the older one), checking every part
    before anything is built; a model-only file is a one-line error saying so."""
    file = checkpoint.read(path)
    where = f"checkpoint {file.path}"
    training = file.training
    if training is None or file.data is None:
        raise ValueError(
            f"{where}: holds a model but no training state (written by TransformerLM.save?); "
            "TransformerLM.load reads it"
        )
    unknown = [k for k in training if k not in ("step", "config", "rng", "history")]
    if unknown:
        raise ValueError(f"{where}: unknown key 'training.{unknown[0]}'")
    missing = [k for k in ("step", "config", "rng", "history") if k not in training]
    if missing:
        raise ValueError(f"{where}: no 'training.{missing[0]}'")
    try:
        train_config = TrainConfig.from_dict(training["config"])
    except (TypeError, ValueError) as error:
        raise type(error)(f"{where}: training.config: {error}") from None
    step = training["step"]
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= TRAIN_LIMITS["steps"][1]:
        raise ValueError(
            f"{where}: 'training.step' must be an integer in [0, {TRAIN_LIMITS['steps'][1]}], "
            f"got {step!r:.40}"
        )
    rng = training["rng"]
    if not isinstance(rng, dict) or set(rng) != {"data", "minigrad"}:
        raise ValueError(f"{where}: 'training.rng' must hold the states 'data' and 'minigrad'")
    rng = {key: _checked_rng(rng[key], key, where) for key in ("data", "minigrad")}
    return Checkpoint(
        model_config=file.config,
        weights=file.weights,
        train_config=train_config,
        data=file.data,
        step=step,
        optimizer=file.optimizer,
        rng=rng,
        history=_checked_history(training["history"], where),
        file=file,
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
        self.stream.write(
            f"\r[{bar}] step {step}/{self.total}  loss {loss:.4f}  lr {lr:.1e}  "
            f"{tokens_per_s / 1000:.1f}k tok/s  {_clock(elapsed)}<{_clock(eta)}\x1b[K"
        )
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
def _start(
    model: TransformerLM, optimizer: AdamW, config: TrainConfig, resume_from: str | os.PathLike | None
) -> tuple[int, History, np.random.Generator]:
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


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped `train` between two steps. `step` is the last step finished, `history`
    the run so far, `checkpoint` the file written at that step (None when `train` had no
    `out`): resuming from it continues exactly."""

    def __init__(self, step: int, history: History, checkpoint: str | os.PathLike | None) -> None:
        super().__init__(f"training interrupted after step {step}")
        self.step, self.history, self.checkpoint = step, history, checkpoint


@contextlib.contextmanager
def _interrupt_between_steps() -> Iterator[Callable[[], bool]]:
    """Yield a function telling whether Ctrl-C was pressed. The first press only raises the
    flag, so the step in progress finishes and the state stays consistent; a second press
    interrupts at once. Only in the main thread, and only if SIGINT has Python's default
    handler (otherwise the caller's handling is left alone)."""
    pressed: list[bool] = []
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield lambda: False
        return

    def first_press(signum: int, frame: Any) -> None:
        pressed.append(True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, first_press)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def train(
    model: TransformerLM,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume_from: str | os.PathLike | None = None,
    until_step: int | None = None,
    keep_best: str | os.PathLike | None = None,
    log: TextIO | None = _STDERR,
) -> History:
    """Train `model` on `data`; returns the History (also of earlier sessions when resuming).

    out: checkpoint path, written at every evaluation and when the run stops.
    keep_best: a second checkpoint path, written at each evaluation whose held-out loss is the
        lowest of the run so far (what to keep when a long run overfits).
    resume_from: a checkpoint to continue from (weights, optimizer, step, generators, history);
        pass the config it was trained with (`load_checkpoint(path).train_config`) to continue
        exactly.
    until_step: stop after this step although the schedule spans `config.steps`, to split a
        run into sessions.
    log: where progress goes (default: sys.stderr as it is when train is called; None: silent).

    Ctrl-C (SIGINT) stops the run after the step in progress: the checkpoint is written to
    `out` and TrainingInterrupted (a KeyboardInterrupt) is raised.

    Calls `minigrad.tune_allocator()` first: on glibc the step's large arrays are then reused
    instead of faulted in afresh (10-25% faster steps, measured in benchmarks/README.md).
    """
    minigrad.tune_allocator()
    log = sys.stderr if log is _STDERR else log
    config = config or TrainConfig()
    check_fits(model, data)
    optimizer = AdamW(model.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    step, history, data_rng = _start(model, optimizer, config, resume_from)
    scheduler = make_scheduler(optimizer, config, last_epoch=step - 1)
    stop = config.steps if until_step is None else min(until_step, config.steps)
    progress = Progress(config.steps, log)
    model.train()
    best = min(history.eval_losses, default=math.inf)
    with _interrupt_between_steps() as interrupted:
        while step < stop:
            started = time.perf_counter()
            lr = scheduler.get_last_lr()[0]
            inputs, targets = data.batch(data_rng, config.batch_size)
            inputs = model_inputs(inputs)
            _, loss = model(*inputs, targets)
            optimizer.zero_grad()
            loss.backward()
            if config.grad_clip:
                clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            history.losses.append(loss.item())
            history.lrs.append(lr)
            history.tokens += sum(a.size for a in inputs)  # input tokens (source and target)
            elapsed = time.perf_counter() - started
            history.step_seconds += elapsed
            history.seconds += elapsed
            progress.update(step, history.losses[-1], lr, history.tokens_per_second, history.seconds)

            improved = False
            if step % config.eval_interval == 0 or step == config.steps:
                started = time.perf_counter()
                eval_loss, accuracy = evaluate(model, data, config.eval_batch_size)
                history.seconds += time.perf_counter() - started
                history.eval_steps.append(step)
                history.eval_losses.append(eval_loss)
                history.eval_accuracies.append(accuracy)
                improved, best = eval_loss < best, min(best, eval_loss)
                score = "" if accuracy is None else f"  exact match {100 * accuracy:.1f}%"
                note = "  best so far, kept" if improved and keep_best is not None else ""
                progress.line(
                    f"step {step}/{config.steps}  loss {history.losses[-1]:.4f}  eval loss {eval_loss:.4f}"
                    f"{score}  {history.tokens_per_second / 1000:.1f}k tok/s  {_clock(history.seconds)}{note}"
                )
            stopping = interrupted()
            if out is not None and (step % config.eval_interval == 0 or step == stop or stopping):
                save_checkpoint(out, model, optimizer, step, config, data, data_rng, history)
            if keep_best is not None and improved:
                save_checkpoint(keep_best, model, optimizer, step, config, data, data_rng, history)
            if stopping:
                progress.close()
                raise TrainingInterrupted(step, history, out)
    progress.close()
    return history
