"""Data for the training loop: synthetic sequence tasks and a character-level text dataset.

A task example is one token sequence: a prompt, the separator "=", then the answer::

    copy     5 0 2 7 = 5 0 2 7
    reverse  5 0 2 7 = 7 2 0 5
    sort     5 0 2 7 = 0 2 5 7
    add      4 7 + 1 5 = 2 6 0        (47 + 15 = 62, answer written least-significant digit first)

A causal LM reads the sequence without its last token and predicts every next token::

    ids     = seq[:-1]                                       (B, T)
    targets = seq[1:], with IGNORE (-100, cross_entropy's ignore_index) wherever the next
              token is still part of the prompt or the separator               (B, T)

so the loss and the accuracy cover the answer only. Tasks are generated on the fly from a numpy
`Generator`; a held-out evaluation set is drawn once from a fixed seed and training batches are
filtered against it, so the accuracy is measured on sequences the model never trained on.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .fields import check_value

IGNORE = -100                # targets with this value carry no loss (cross_entropy's ignore_index)
EVAL_SEED = 20240917         # the held-out set is the same for every training seed
SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"  # the digits of a task in base 2..36
# Inclusive limits of the settings of a task and of a text dataset, checked when one is made
# and when a checkpoint's description of one is read (see `check_description`).
TASK_LIMITS: dict[str, tuple[float, float]] = {"length": (1, 128), "base": (2, len(SYMBOLS)),
                                              "n_eval": (1, 100_000)}
TEXT_LIMITS: dict[str, tuple[float, float]] = {"block_size": (1, 2**16), "val_fraction": (0.0, 1.0),
                                              "n_eval": (1, 100_000)}


class Vocab:
    """Tokens that are single characters: id i is `symbols[i]`."""

    def __init__(self, symbols: str) -> None:
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"vocab: symbols must be distinct, got {symbols!r}")
        self.symbols = symbols
        self._ids = {c: i for i, c in enumerate(symbols)}

    @property
    def size(self) -> int:
        return len(self.symbols)

    def encode(self, text: str) -> np.ndarray:
        """int64 ids, one per character."""
        unknown = sorted(set(text) - self._ids.keys())
        if unknown:
            raise ValueError(f"encode: characters {unknown!r} are not in the vocabulary {self.symbols!r}")
        return np.array([self._ids[c] for c in text], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        return "".join(self.symbols[int(i)] for i in np.asarray(ids).reshape(-1))


class Dataset(Protocol):
    """What `transformer.train.train` needs from its data."""

    vocab: Vocab
    block_size: int   # T: the length of every input row

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """A training batch (ids, targets), both int64 (B, T)."""

    def eval_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed held-out (ids, targets), both int64 (N, T)."""

    def accuracy(self, logits: np.ndarray, targets: np.ndarray) -> float | None:
        """A score in [0, 1] of logits (N, T, V) against targets, or None if there is none."""

    def describe(self) -> dict[str, Any]:
        """JSON-able settings that rebuild this dataset (stored in checkpoints)."""


def exact_match(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N,) bool: True where the argmax at every answer position equals its target.

    This teacher-forced check equals greedy decoding for whole-answer correctness. Greedy
    decoding emits answer token 1 as the argmax after the prompt: the same prediction as here.
    If it is right, greedy's context for token 2 is exactly the teacher-forced context, and so
    on. So if every teacher-forced argmax is right, greedy writes the same answer; if the first
    wrong one is at position k, greedy saw the same context up to k and makes the same mistake.
    (Per-token accuracy does not have this property.) `greedy_exact_match` checks it in tests.
    """
    answer = targets != IGNORE
    right = (logits.argmax(axis=-1) == targets) | ~answer
    return right.all(axis=1)


def greedy_exact_match(model: Any, ids: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N,) bool: generate each answer greedily (temperature 0) from the prompt alone and
    compare it with the target answer. Slower than `exact_match`, which gives the same result."""
    start = int(np.argmax(targets[0] != IGNORE))  # the position of the separator
    answer = targets[:, start:]
    out = model.generate(ids[:, : start + 1], answer.shape[1], temperature=0.0)  # (N, T + 1)
    return (out[:, start + 1:] == answer).all(axis=1)


class Task:
    """A synthetic task over digits in base `base`: subclasses say how long a prompt is and
    what its answer is. Vocabulary: the digits, then "+", then the separator "=".

    `length` is the number of digits of the input (of each operand for `add`); `n_eval` is
    the size of the held-out set.
    """

    name = ""

    def __init__(self, length: int = 8, base: int = 10, n_eval: int = 1000) -> None:
        for key, value in (("length", length), ("base", base), ("n_eval", n_eval)):
            check_value(self.name, key, value, int, TASK_LIMITS, {})
        distinct = base ** self.n_random_digits(length)  # small: length and base are limited above
        if distinct < 2 * n_eval:
            raise ValueError(
                f"{self.name}: length {length} in base {base} has only {distinct} distinct prompts, "
                f"too few to hold out {n_eval} for evaluation and still train on the rest; "
                f"use a longer length or a smaller n_eval"
            )
        self.length, self.base, self.n_eval = length, base, n_eval
        self.vocab = Vocab(SYMBOLS[:base] + "+=")
        self.plus, self.sep = base, base + 1
        example = self.build_prompts(np.zeros((1, self.n_random_digits(length)), dtype=np.int64))
        self.prompt_len, self.answer_len = example.shape[1], self.answers(example).shape[1]
        self.block_size = self.prompt_len + self.answer_len  # T = prompt + separator + answer - 1
        self._eval: tuple[np.ndarray, np.ndarray] | None = None
        self._eval_keys: set[bytes] | None = None

    # ----- what a task is: subclasses override these ----------------------------------------
    @staticmethod
    def n_random_digits(length: int) -> int:
        """How many random digits one prompt holds."""
        return length

    def build_prompts(self, digits: np.ndarray) -> np.ndarray:
        """(N, n_random_digits) random digits -> (N, prompt_len) prompt tokens."""
        return digits

    def answers(self, prompts: np.ndarray) -> np.ndarray:
        """(N, prompt_len) -> (N, answer_len) answer tokens."""
        raise NotImplementedError

    # ----- sequences, batches and the held-out set --------------------------------------------
    def random_prompts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.build_prompts(rng.integers(0, self.base, size=(n, self.n_random_digits(self.length))))

    def frame(self, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prompts (N, P) -> (ids, targets), both (N, T) with T = P + answer_len."""
        n = len(prompts)
        seq = np.concatenate([prompts, np.full((n, 1), self.sep), self.answers(prompts)], axis=1)
        targets = seq[:, 1:].copy()
        targets[:, : self.prompt_len] = IGNORE  # these positions predict prompt tokens or "="
        return seq[:, :-1].astype(np.int64), targets.astype(np.int64)

    def eval_set(self) -> tuple[np.ndarray, np.ndarray]:
        """`n_eval` distinct prompts drawn from EVAL_SEED, framed; computed once."""
        if self._eval is None:
            rng = np.random.default_rng(EVAL_SEED)
            prompts = np.unique(self.random_prompts(rng, 2 * self.n_eval), axis=0)
            while len(prompts) < self.n_eval:  # only for small prompt spaces
                prompts = np.unique(np.concatenate([prompts, self.random_prompts(rng, self.n_eval)]), axis=0)
            prompts = prompts[rng.permutation(len(prompts))[: self.n_eval]]
            self._eval_keys = {row.tobytes() for row in prompts}
            self._eval = self.frame(prompts)
        return self._eval

    def is_held_out(self, prompts: np.ndarray) -> np.ndarray:
        """(N,) bool: which prompts belong to the evaluation set (looked up by their bytes'
        hash in a Python set)."""
        self.eval_set()
        return np.array([row.tobytes() in self._eval_keys for row in prompts], dtype=bool)

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Random training (ids, targets), redrawing any prompt that is in the held-out set."""
        prompts = np.ascontiguousarray(self.random_prompts(rng, batch_size))
        held_out = self.is_held_out(prompts)
        while held_out.any():
            prompts[held_out] = self.random_prompts(rng, int(held_out.sum()))
            held_out = self.is_held_out(prompts)
        return self.frame(prompts)

    def accuracy(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """Exact match: the fraction of sequences whose whole answer is right."""
        return float(exact_match(logits, targets).mean())

    def describe(self) -> dict[str, Any]:
        return {"kind": "task", "task": self.name, "length": self.length, "base": self.base,
                "n_eval": self.n_eval}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(length={self.length}, base={self.base}, n_eval={self.n_eval})"


class CopyTask(Task):
    name = "copy"

    def answers(self, prompts: np.ndarray) -> np.ndarray:
        return prompts.copy()


class ReverseTask(Task):
    name = "reverse"

    def answers(self, prompts: np.ndarray) -> np.ndarray:
        return prompts[:, ::-1].copy()


class SortTask(Task):
    name = "sort"

    def answers(self, prompts: np.ndarray) -> np.ndarray:
        return np.sort(prompts, axis=1)


class AddTask(Task):
    """`a + b` with `length`-digit operands (leading zeros allowed), so every prompt has the
    same length. The sum has length + 1 digits and is written least-significant digit first:
    then each answer digit depends only on digits the model can attend to and on the carry
    it has just written, which is much easier to learn than the usual order."""

    name = "add"

    @staticmethod
    def n_random_digits(length: int) -> int:
        return 2 * length

    def build_prompts(self, digits: np.ndarray) -> np.ndarray:
        plus = np.full((len(digits), 1), self.plus, dtype=digits.dtype)
        return np.concatenate([digits[:, : self.length], plus, digits[:, self.length:]], axis=1)

    def answers(self, prompts: np.ndarray) -> np.ndarray:
        n = self.length
        a, b = prompts[:, n - 1:: -1], prompts[:, : n: -1]  # operands, least-significant first
        out = np.empty((len(prompts), n + 1), dtype=prompts.dtype)
        carry = np.zeros(len(prompts), dtype=prompts.dtype)
        for i in range(n):  # schoolbook addition, one column at a time
            column = a[:, i] + b[:, i] + carry
            out[:, i], carry = column % self.base, column // self.base
        out[:, n] = carry
        return out


TASKS: dict[str, type[Task]] = {t.name: t for t in (CopyTask, ReverseTask, SortTask, AddTask)}


def make_task(name: str, length: int = 8, base: int = 10, n_eval: int = 1000) -> Task:
    if name not in TASKS:
        raise ValueError(f"make_task: unknown task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[name](length=length, base=base, n_eval=n_eval)


class CharDataset:
    """Character-level language modelling on one text.

    The vocabulary is the sorted set of the text's characters. The first `1 - val_fraction`
    of the text is for training (random windows of `block_size + 1` characters: ids are the
    first T, targets the last T), the rest for validation (consecutive windows, at most
    `n_eval` of them, always the same). Every position has a target: there is no prompt.
    """

    def __init__(self, text: str, block_size: int = 64, val_fraction: float = 0.1, n_eval: int = 200,
                 path: str | None = None) -> None:
        check_value("text", "block_size", block_size, int, TEXT_LIMITS, {})
        check_value("text", "n_eval", n_eval, int, TEXT_LIMITS, {})
        check_value("text", "val_fraction", val_fraction, float, {}, {})
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"text: val_fraction must be in (0, 1), got {val_fraction}")
        self.path = path  # the file the text came from (recorded in checkpoints), or None
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.vocab = Vocab("".join(sorted(set(text))))
        self.block_size, self.val_fraction, self.n_eval = block_size, val_fraction, n_eval
        data = self.vocab.encode(text)
        n_val = int(len(data) * val_fraction)
        self.train_data, self.val_data = data[: len(data) - n_val], data[len(data) - n_val:]
        for split, part in (("training", self.train_data), ("validation", self.val_data)):
            if len(part) < block_size + 1:
                raise ValueError(
                    f"text: the {split} split has {len(part)} characters, fewer than "
                    f"block_size + 1 = {block_size + 1}; use a longer text or a smaller block_size"
                )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> CharDataset:
        """The dataset of a UTF-8 text file; a missing file, a directory or text that is not
        UTF-8 is a one-line error."""
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"text: {path} is a directory, not a text file")
        if not path.is_file():
            raise FileNotFoundError(f"text: no such file: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"text: {path} is not UTF-8 text (byte {error.start})") from None
        return cls(text, path=os.path.abspath(path), **kwargs)

    def _windows(self, data: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = data[starts[:, None] + np.arange(self.block_size + 1)]  # (N, T + 1)
        return rows[:, :-1], rows[:, 1:]

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        starts = rng.integers(0, len(self.train_data) - self.block_size, size=batch_size)
        return self._windows(self.train_data, starts)

    def eval_set(self) -> tuple[np.ndarray, np.ndarray]:
        starts = np.arange(0, len(self.val_data) - self.block_size, self.block_size)[: self.n_eval]
        return self._windows(self.val_data, starts)

    def accuracy(self, logits: np.ndarray, targets: np.ndarray) -> None:
        """Text has no right answer to score; the validation loss is the measure."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": "text", "vocab": self.vocab.symbols, "block_size": self.block_size,
                "val_fraction": self.val_fraction, "n_eval": self.n_eval, "path": self.path,
                "sha256": self.sha256}

    def __repr__(self) -> str:
        return (f"CharDataset({len(self.train_data)} training and {len(self.val_data)} validation "
                f"characters, vocab {self.vocab.size}, block_size={self.block_size})")


_TASK_FIELDS = {"kind": str, "task": str, "length": int, "base": int, "n_eval": int}
_TEXT_FIELDS = {"kind": str, "vocab": str, "block_size": int, "val_fraction": float, "n_eval": int,
                "path": str | None, "sha256": str | None}
_SEQ2SEQ_FIELDS = {"kind": str, "task": str, "length": int, "n_eval": int}  # transformer.seq2seq_tasks


def check_description(description: Any) -> dict[str, Any]:
    """A dataset's `describe()` read from an untrusted file, checked key by key (types and
    TASK_LIMITS / TEXT_LIMITS) without building anything; returns it as a new dict."""
    if not isinstance(description, dict):
        raise TypeError(f"dataset: the description must be a JSON object, got {type(description).__name__}")
    # Imported here because transformer.seq2seq_tasks builds on this module (IGNORE, EVAL_SEED).
    from .seq2seq_tasks import SEQ2SEQ_TASKS

    kind = description.get("kind")
    if kind not in ("task", "text", "seq2seq"):
        raise ValueError(f"dataset: 'kind' must be 'task', 'text' or 'seq2seq', got {kind!r:.40}")
    fields, limits, choices = {
        "task": (_TASK_FIELDS, TASK_LIMITS, {"task": tuple(TASKS)}),
        "text": (_TEXT_FIELDS, TEXT_LIMITS, {}),
        "seq2seq": (_SEQ2SEQ_FIELDS, TASK_LIMITS, {"task": tuple(SEQ2SEQ_TASKS)}),
    }[kind]
    unknown = [k for k in description if k not in fields]
    if unknown:
        raise ValueError(f"dataset: unknown key {unknown[0]!r:.40} in a {kind} description")
    d = {"path": None, "sha256": None} if kind == "text" else {}
    d.update(description)
    for key, hint in fields.items():
        if key not in d:
            raise ValueError(f"dataset: the {kind} description has no {key!r}")
        check_value("dataset", key, d[key], hint, limits, choices)
    if kind == "text":
        Vocab(d["vocab"])  # distinct symbols
        if not 0.0 < d["val_fraction"] < 1.0:
            raise ValueError(f"dataset: val_fraction must be in (0, 1), got {d['val_fraction']}")
    return d


def dataset_from_description(description: dict[str, Any] | str,
                             text_path: str | Path | None = None) -> Dataset:
    """Rebuild the dataset a checkpoint was trained on from `Dataset.describe()` (or its
    JSON). A text dataset is read from `text_path`, else from the file the description
    records; its vocabulary must match the stored one, and a recorded file must still hold
    the same text (its sha256)."""
    from .seq2seq_tasks import SEQ2SEQ_TASKS  # here: transformer.seq2seq_tasks builds on this module

    d = check_description(json.loads(description) if isinstance(description, str) else dict(description))
    if d["kind"] == "task":
        return make_task(d["task"], length=d["length"], base=d["base"], n_eval=d["n_eval"])
    if d["kind"] == "seq2seq":
        return SEQ2SEQ_TASKS[d["task"]](length=d["length"], n_eval=d["n_eval"])
    path = text_path if text_path is not None else d["path"]
    if path is None:
        raise ValueError("dataset: this checkpoint was trained on a text file it does not record; "
                         "give the file with --text FILE")
    if text_path is None and not os.path.isfile(path):
        raise FileNotFoundError(f"dataset: the text this checkpoint was trained on, {path}, is not "
                                "there; give the file with --text FILE")
    data = CharDataset.from_file(path, block_size=d["block_size"], val_fraction=d["val_fraction"],
                                 n_eval=d["n_eval"])
    if data.vocab.symbols != d["vocab"]:
        raise ValueError(
            f"dataset: {path} has the characters {data.vocab.symbols!r}, but the checkpoint was "
            f"trained on {d['vocab']!r}"
        )
    if text_path is None and d["sha256"] is not None and data.sha256 != d["sha256"]:
        raise ValueError(f"dataset: {path} has changed since this checkpoint was trained on it (its sha256 "
                         "differs); give the file to use with --text FILE")
    return data
