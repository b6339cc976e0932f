"""PyTorch-style `dim` arguments turned into numpy axes, by one rule for every op.

A dim counts from the end when negative. A 0-d tensor accepts dim 0 and -1, as in PyTorch (it
behaves like one dimension of size 1). Errors name the op and the number of dimensions.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def normalize_dim(dim: Any, ndim: int, op: str) -> int:
    """One dim in [-ndim, ndim) (in [-1, 0] for a 0-d tensor) -> an axis in [0, ndim)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    span = max(ndim, 1)
    if not -span <= dim < span:
        raise IndexError(f"{op}: dim {dim} is out of range for {ndim} dimensions "
                         f"(expected to be in range of [{-span}, {span - 1}])")
    return int(dim) % span


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """None (every dim), an int or a sequence of ints -> a sorted tuple of axes, or None when
    every axis is meant (always for a 0-d tensor, whose only dim is the whole tensor)."""
    if dim is None:
        return None
    dims = [dim] if isinstance(dim, (int, np.integer)) else list(dim)
    axes = [normalize_dim(d, ndim, op) for d in dims]
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: dim {dim} repeats a dimension")
    return tuple(sorted(axes)) if ndim else None
