"""Tasks where every position's answer is a fixed function of a few other positions' tokens.

Unlike the tasks of `transformer.tasks` (prompt, "=", answer), here the input is just random
digits and the target at position t is a rule applied to the tokens t looks at, so the rule says
exactly which attention pattern solves it:

    previous            y_t = x_{t-1}                  one pattern: attend to t - 1
    first_and_previous  y_t = base * x_0 + x_{t-1}     two patterns at once: 0 and t - 1
                        (the pair as one of base^2 classes)
    permuted            y_t = x_{pi(t)}                one pattern, but a full-rank one: pi is
                        a fixed random permutation of the positions without fixed points, so
                        the ideal attention matrix is a T x T permutation matrix (rank T);
                        needs a model without a causal mask, as pi(t) may lie after t

Position 0 has no previous token; its target is IGNORE. They follow the `Dataset` protocol of
`transformer.tasks`, so `transformer.train.train` trains on them. The sequences are random
digits (base^length of them, far more than any run sees), so training batches are not filtered
against the held-out set: the chance of drawing one of its sequences is negligible.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..tasks import IGNORE, SYMBOLS, Vocab

EVAL_SEED = 7
PERMUTATION_SEED = 11


def _previous(x: np.ndarray, base: int) -> np.ndarray:
    return x[:, :-1]


def _first_and_previous(x: np.ndarray, base: int) -> np.ndarray:
    return base * x[:, :1] + x[:, :-1]


def derangement(length: int) -> np.ndarray:
    """The fixed permutation of the `permuted` rule: drawn from a fixed seed, redrawn until no
    position maps to itself (a token's own position would need no attention at all)."""
    rng = np.random.default_rng(PERMUTATION_SEED)
    while True:
        order = rng.permutation(length)
        if not (order == np.arange(length)).any():
            return order


def _permuted(x: np.ndarray, base: int) -> np.ndarray:
    return x[:, derangement(x.shape[1])[1:]]


# rule name -> (x (N, length), base) -> targets of positions 1 .. length - 1, (N, length - 1)
RULES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "previous": _previous,
    "first_and_previous": _first_and_previous,
    "permuted": _permuted,
}


class PatternTask:
    """`length` random digits in base `base`; targets (N, length) by `rule`, IGNORE at position 0.

    `accuracy` is per token (the share of answer positions whose argmax is right): these
    sequences have many independent answers, and one wrong token should not count as a wrong
    whole.
    """

    def __init__(self, rule: str, length: int = 12, base: int = 10, n_eval: int = 500) -> None:
        if rule not in RULES:
            raise ValueError(f"PatternTask: unknown rule {rule!r}; choose one of {sorted(RULES)}")
        if length < 2 or not 2 <= base <= len(SYMBOLS) or n_eval < 1:
            raise ValueError(f"PatternTask: need length >= 2, 2 <= base <= {len(SYMBOLS)}, n_eval >= 1; "
                             f"got length={length}, base={base}, n_eval={n_eval}")
        classes = base * base if rule == "first_and_previous" else base
        if classes > len(SYMBOLS):
            raise ValueError(f"PatternTask: {rule!r} in base {base} needs {classes} output tokens, "
                             f"more than the {len(SYMBOLS)} symbols there are; use base <= 6")
        self.rule, self.length, self.base, self.n_eval = rule, length, base, n_eval
        self.vocab = Vocab(SYMBOLS[:classes])  # inputs use the first `base` of them
        self.block_size = length
        self._eval = self.frame(np.random.default_rng(EVAL_SEED).integers(0, base, size=(n_eval, length)))

    def frame(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        targets = np.full(x.shape, IGNORE, dtype=np.int64)
        targets[:, 1:] = RULES[self.rule](x, self.base)
        return x.astype(np.int64), targets

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        return self.frame(rng.integers(0, self.base, size=(batch_size, self.length)))

    def eval_set(self) -> tuple[np.ndarray, np.ndarray]:
        return self._eval

    def accuracy(self, logits: np.ndarray, targets: np.ndarray) -> float:
        answer = targets != IGNORE
        return float((logits.argmax(axis=-1) == targets)[answer].mean())

    def describe(self) -> dict[str, Any]:
        return {"kind": "pattern", "rule": self.rule, "length": self.length, "base": self.base,
                "n_eval": self.n_eval}

    def __repr__(self) -> str:
        return f"PatternTask({self.rule!r}, length={self.length}, base={self.base}, n_eval={self.n_eval})"
