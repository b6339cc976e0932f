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

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

IGNORE = -100                # targets with this value carry no loss (cross_entropy's ignore_index)
EVAL_SEED = 20240917         # the held-out set is the same for every training seed
SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"  # the digits of a task in base 2..36


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
        if length < 1:
            raise ValueError(f"{self.name}: length must be at least 1, got {length}")
        if not 2 <= base <= len(SYMBOLS):
            raise ValueError(f"{self.name}: base must be in [2, {len(SYMBOLS)}], got {base}")
        if n_eval < 1:
            raise ValueError(f"{self.name}: n_eval must be at least 1, got {n_eval}")
        distinct = base ** self.n_random_digits(length)
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

    def __init__(self, text: str, block_size: int = 64, val_fraction: float = 0.1, n_eval: int = 200) -> None:
        if block_size < 1:
            raise ValueError(f"text: block_size must be at least 1, got {block_size}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"text: val_fraction must be in (0, 1), got {val_fraction}")
        if n_eval < 1:
            raise ValueError(f"text: n_eval must be at least 1, got {n_eval}")
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
        return cls(Path(path).read_text(encoding="utf-8"), **kwargs)

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
                "val_fraction": self.val_fraction, "n_eval": self.n_eval}

    def __repr__(self) -> str:
        return (f"CharDataset({len(self.train_data)} training and {len(self.val_data)} validation "
                f"characters, vocab {self.vocab.size}, block_size={self.block_size})")


def dataset_from_description(description: dict[str, Any] | str,
                             text_path: str | Path | None = None) -> Dataset:
    """Rebuild the dataset a checkpoint was trained on from `Dataset.describe()` (or its
    JSON). A text dataset needs its file again; its vocabulary must match the stored one."""
    d = json.loads(description) if isinstance(description, str) else dict(description)
    if d["kind"] == "task":
        return make_task(d["task"], length=d["length"], base=d["base"], n_eval=d["n_eval"])
    if text_path is None:
        raise ValueError("dataset: this checkpoint was trained on a text file; give the file to evaluate on "
                         "it")
    data = CharDataset.from_file(text_path, block_size=d["block_size"], val_fraction=d["val_fraction"],
                                 n_eval=d["n_eval"])
    if data.vocab.symbols != d["vocab"]:
        raise ValueError(
            f"dataset: {text_path} has the characters {data.vocab.symbols!r}, but the checkpoint was "
            f"trained on {d['vocab']!r}"
        )
    return data
