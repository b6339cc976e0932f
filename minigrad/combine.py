"""Functions of several tensors: cat, stack, split, where."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .dims import normalize_dim
from .ops import elementwise, shape
from .tensor import Tensor, tensor


def _as_tensors(tensors: Sequence[Any], op: str) -> list[Tensor]:
    if len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return [t if isinstance(t, Tensor) else tensor(t) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension; all other sizes must agree."""
    ts = _as_tensors(tensors, "cat")
    if ts[0].ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = normalize_dim(dim, ts[0].ndim, "cat")
    shapes = [t.shape for t in ts]
    if any(len(s) != len(shapes[0]) or s[:d] + s[d + 1:] != shapes[0][:d] + shapes[0][d + 1:]
           for s in shapes):
        raise ValueError(f"cat: shapes {shapes} differ outside dim {dim}")
    return shape.Cat.apply(*ts, dim=d)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dimension."""
    ts = _as_tensors(tensors, "stack")
    shapes = [t.shape for t in ts]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
    d = normalize_dim(dim, ts[0].ndim + 1, "stack")
    return shape.Stack.apply(*ts, dim=d)


def split(t: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Cut `t` along `dim` into pieces of `split_size` (the last may be smaller) or of the
    listed sizes, as `torch.split`. Each piece is a differentiable slice."""
    if t.ndim == 0:
        raise ValueError("split: expected a tensor with at least one dimension, got a 0-d tensor")
    d = normalize_dim(dim, t.ndim, "split")
    n = t.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        size = int(split_size_or_sections)
        sizes = [min(size, n - s) for s in range(0, n, size)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} do not add up to size {n} of dim {dim}")
    starts = np.cumsum([0] + sizes[:-1])
    lead = (slice(None),) * d
    return tuple(t[lead + (slice(int(s), int(s) + k),)] for s, k in zip(starts, sizes))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """`a` where `condition` is True, else `b`; differentiable in `a` and `b`."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be bool, got dtype {cond.dtype}")
    shapes = [cond.shape] + [np.shape(x.data if isinstance(x, Tensor) else x) for x in (a, b)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"where: shapes {shapes} (condition, a, b) do not broadcast") from None
    return elementwise.Where.apply(a, b, condition=cond)
