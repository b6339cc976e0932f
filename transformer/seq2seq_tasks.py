"""A sequence-to-sequence task: numbers spelled out in English words, to their digits.

    source (words)                                       target (digits)
    three hundred twelve                                 3 1 2 </s>
    forty thousand seven                                 4 0 0 0 7 </s>
    nine hundred ninety nine thousand nine hundred one   9 9 9 9 0 1 </s>

The two sides differ in vocabulary (33 words against 13 digits and specials) and in length,
and a target digit depends on source words in a way a reader can check by eye: "twelve" makes
both the 1 and the 2, "hundred" and "thousand" decide where zeros go. That is what the
decoder's cross-attention has to find, and what its pictures show.

A batch is ((src_ids, tgt_ids), targets), all int64 and padded with PAD_ID to fixed widths:

    src_ids  (B, S)   the words, then PAD_ID                 S = the most words `length` digits need
    tgt_ids  (B, T)   BOS_ID and the digits, then PAD_ID     T = length + 1
    targets  (B, T)   the digits and EOS_ID, then IGNORE     (the decoder's input shifted left)

Numbers are drawn by first picking how many digits (1 to `length`, equally likely), then a
number of that many digits, so short numbers are trained on as often as long ones. The
held-out set is `n_eval` distinct numbers of the full `length` digits, drawn once from
EVAL_SEED; training never sees them. (Shorter numbers are too few to hold some out: each of
them is a building block of the long ones.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .seq2seq_config import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS
from .tasks import EVAL_SEED, IGNORE, exact_match

ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")  # 20, 30, ... 90
MAX_LENGTH = 6  # the words stop at "thousand": up to 999 999


def number_words(n: int) -> list[str]:
    """The English words of 0 <= n < 10^6, without "and" or hyphens: 312 -> three hundred twelve."""
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10 - 2]] + ([ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    return number_words(n // 1000) + ["thousand"] + (number_words(n % 1000) if n % 1000 else [])


def most_words(length: int) -> int:
    """The most words a number of at most `length` digits takes (777 777: 9 words)."""
    below_thousand = (1, 2, 4)[min(length, 3) - 1]  # 7, 77, 777
    return below_thousand if length <= 3 else most_words(length - 3) + 1 + 4


class TokenVocab:
    """Tokens that are words (`separator=" "`) or characters (`separator=""`), after the three
    special tokens of ids 0, 1, 2."""

    def __init__(self, tokens: Sequence[str], separator: str) -> None:
        self.tokens = SPECIAL_TOKENS + tuple(tokens)
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError(f"vocab: tokens must be distinct, got {self.tokens!r}")
        self.separator = separator
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    @property
    def size(self) -> int:
        return len(self.tokens)

    def split(self, text: str) -> list[str]:
        return text.split() if self.separator else list(text.replace(" ", ""))

    def encode(self, text: str) -> np.ndarray:
        """int64 ids, one per token of `text`; an unknown token is a one-line error naming it."""
        tokens = self.split(text)
        unknown = [t for t in tokens if t not in self._ids or self._ids[t] <= EOS_ID]
        if unknown:
            raise ValueError(f"encode: {unknown[0]!r} is not in the vocabulary ({' '.join(self.tokens[3:])})")
        return np.array([self._ids[t] for t in tokens], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        """The text of `ids` up to the first EOS, padding and BOS left out."""
        words = []
        for i in np.asarray(ids).reshape(-1):
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                words.append(self.tokens[int(i)])
        return self.separator.join(words)

    def labels(self, ids: Any) -> list[str]:
        """One label per id, specials included, for pictures."""
        return [self.tokens[int(i)] for i in np.asarray(ids).reshape(-1)]


class NumbersTask:
    """English number words to digits (see the module docstring). `length` is the most digits
    a number has (1 to 6), `n_eval` the size of the held-out set."""

    name = "numbers"

    def __init__(self, length: int = MAX_LENGTH, n_eval: int = 1000) -> None:
        for key, value in (("length", length), ("n_eval", n_eval)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"numbers: {key} must be an integer, got {value!r}")
        if not 1 <= length <= MAX_LENGTH:
            raise ValueError(
                f"numbers: length must be in [1, {MAX_LENGTH}] (the words stop at thousand), got {length}"
            )
        full = 9 * 10 ** (length - 1) + (length == 1)  # numbers of exactly `length` digits (0 counts as one)
        if not 1 <= n_eval <= full // 2:
            raise ValueError(
                f"numbers: n_eval must be in [1, {full // 2}] for length {length}: there are {full} "
                f"numbers of {length} digits and at least half must stay for training, got {n_eval}"
            )
        self.length, self.n_eval = int(length), int(n_eval)
        self.src_vocab = TokenVocab(ONES + TENS + ("hundred", "thousand"), " ")
        self.tgt_vocab = TokenVocab(tuple("0123456789"), "")
        self.src_len, self.tgt_len = most_words(length), length + 1
        self.max_len = max(self.src_len, self.tgt_len)  # the model's max_len must be at least this
        self._eval: tuple[tuple[np.ndarray, np.ndarray], np.ndarray] | None = None
        self._held_out: set[int] = set()

    # ----- numbers --------------------------------------------------------------------------------
    def _of_digits(self, rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
        """A uniformly drawn number with each row's count of digits."""
        low = np.where(digits == 1, 0, 10 ** (digits - 1))
        return rng.integers(low, 10**digits)

    def random_numbers(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n,) int64: the count of digits uniform in 1..length, then the number uniform."""
        return self._of_digits(rng, rng.integers(1, self.length + 1, size=n))

    def frame(self, numbers: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Numbers (N,) -> ((src_ids (N, S), tgt_ids (N, T)), targets (N, T)), as described above."""
        n = len(numbers)
        src = np.full((n, self.src_len), PAD_ID, dtype=np.int64)
        tgt = np.full((n, self.tgt_len), PAD_ID, dtype=np.int64)
        targets = np.full((n, self.tgt_len), IGNORE, dtype=np.int64)
        for row, number in enumerate(numbers.tolist()):
            words = self.src_vocab.encode(" ".join(number_words(number)))
            digits = self.tgt_vocab.encode(str(number))
            src[row, : len(words)] = words
            tgt[row, 0], tgt[row, 1 : len(digits) + 1] = BOS_ID, digits
            targets[row, : len(digits)], targets[row, len(digits)] = digits, EOS_ID
        return (src, tgt), targets

    # ----- the Dataset protocol of the training loop -------------------------------------------------
    def eval_set(self) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """`n_eval` distinct numbers of `length` digits drawn from EVAL_SEED, framed; computed once."""
        if self._eval is None:
            rng = np.random.default_rng(EVAL_SEED)
            chosen: list[int] = []
            while len(chosen) < self.n_eval:
                for number in self._of_digits(rng, np.full(self.n_eval, self.length)).tolist():
                    if number not in self._held_out and len(chosen) < self.n_eval:
                        self._held_out.add(number)
                        chosen.append(number)
            self._eval = self.frame(np.array(chosen, dtype=np.int64))
        return self._eval

    def batch(
        self, rng: np.random.Generator, batch_size: int
    ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Random training examples, redrawing any number that is in the held-out set."""
        self.eval_set()
        numbers = self.random_numbers(rng, batch_size)
        held_out = np.array([n in self._held_out for n in numbers.tolist()], dtype=bool)
        while held_out.any():
            numbers[held_out] = self.random_numbers(rng, int(held_out.sum()))
            held_out = np.array([n in self._held_out for n in numbers.tolist()], dtype=bool)
        return self.frame(numbers)

    def accuracy(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """Exact match: the fraction of targets whose every digit and EOS are right (teacher-forced
        argmax, the same as greedy decoding; see `transformer.tasks.exact_match`)."""
        return float(exact_match(logits, targets).mean())

    def describe(self) -> dict[str, Any]:
        return {"kind": "seq2seq", "task": self.name, "length": self.length, "n_eval": self.n_eval}

    def __repr__(self) -> str:
        return f"NumbersTask(length={self.length}, n_eval={self.n_eval})"


SEQ2SEQ_TASKS: dict[str, type[NumbersTask]] = {NumbersTask.name: NumbersTask}
