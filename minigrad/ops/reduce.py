"""Reductions over one, several or all dimensions.

`dim` reaches these ops already normalized (`minigrad.dims.normalize_dims`) to a sorted tuple
of non-negative axes, or None for all. Their backward first puts the reduced axes back as
size-1 axes, then lets numpy broadcasting spread the gradient over them.

`Tensor.mean` is derived (the sum divided by the count, the same numbers numpy's mean gives).
`Var` keeps its own gradient although it could be written as a chain of five ops: it saves one
array (x - mean) instead of three, and its derivative is one line, 2 (x - mean) / (N - c).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function


def _keep(grad: np.ndarray, in_shape: tuple[int, ...], dim: tuple[int, ...] | None,
          keepdim: bool) -> np.ndarray:
    """Reinsert the reduced axes as size 1 so `grad` broadcasts against the input."""
    if keepdim or dim is None:
        return grad.reshape([1] * len(in_shape)) if dim is None and not keepdim else grad
    return np.expand_dims(grad, dim)


def _count(shape: tuple[int, ...], dim: tuple[int, ...] | None) -> int:
    return int(np.prod(shape if dim is None else [shape[d] for d in dim]))


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.args = (x.shape, dim, keepdim)
        return np.asarray(x.sum(axis=dim, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        shape, dim, keepdim = ctx.args
        return np.broadcast_to(_keep(grad, shape, dim, keepdim), shape)  # d(sum x)/dx_i = 1


class Max(Function):
    """The largest values (PyTorch's amax): tied maxima split the gradient evenly."""

    extreme = staticmethod(np.max)

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        sizes = x.shape if dim is None else [x.shape[d] for d in dim]
        if 0 in sizes:
            name = "amax" if type(ctx) is Max else "amin"
            raise ValueError(f"{name}: cannot reduce over a dimension of size 0 "
                             f"(input shape {x.shape}, dim {dim})")
        out = np.asarray(ctx.extreme(x, axis=dim, keepdims=True))
        ctx.save_for_backward(x, out)
        ctx.args = (dim, keepdim)
        return out if keepdim else (out.reshape(()) if dim is None else out.squeeze(axis=dim))

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        dim, keepdim = ctx.args
        is_max = x == out
        # a float count: int64 would promote float32
        ties = is_max.sum(axis=dim, keepdims=True, dtype=grad.dtype)
        return is_max * (_keep(grad, x.shape, dim, keepdim) / ties)  # 1/ties at each maximum


class Min(Max):
    """The smallest values (PyTorch's amin): tied minima split the gradient evenly."""

    extreme = staticmethod(np.min)


class TakeAlongDim(Function):
    """The elements of x at `indices` (x's shape with size 1 along `dim`) along `dim`: the
    values of max(dim) and min(dim). Each picked element gets its output's gradient and the
    others none, so a tie's gradient goes to the index returned, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, indices, dim, keepdim):
        ctx.save_for_backward(indices)
        ctx.args = (x.shape, dim, keepdim)
        out = np.take_along_axis(x, indices, axis=dim)
        return out if keepdim else out.squeeze(axis=dim)

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved_tensors
        shape, dim, keepdim = ctx.args
        full = np.zeros(shape, dtype=grad.dtype)
        # d out_i / dx_j = 1 where j is the index picked for i, else 0
        np.put_along_axis(full, indices, grad if keepdim else np.expand_dims(grad, dim), axis=dim)
        return full


class Var(Function):
    """Variance: sum((x - mean)^2) / (N - correction)."""

    promotion = "float"

    @staticmethod
    def forward(ctx, x, dim, keepdim, correction):
        n = _count(x.shape, dim)
        if n - correction <= 0:
            raise ValueError(f"var: {n} element(s) per reduction leave no degrees of freedom with "
                             f"correction={correction}")
        centered = x - x.mean(axis=dim, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.args = (dim, keepdim, n - correction)
        out = (centered * centered).sum(axis=dim, keepdims=keepdim) / (n - correction)
        return np.asarray(out, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_tensors
        dim, keepdim, dof = ctx.args
        return _keep(grad, centered.shape, dim, keepdim) * centered * (2 / dof)  # 2 (x - mean) / dof
