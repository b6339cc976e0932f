"""Ops that pick or deposit elements along one dim by an integer index tensor, as PyTorch's
`gather` and `scatter_add`:

    gather:      out[i][j][k] = x[i][index[i][j][k]][k]          (dim = 1)
    scatter_add: out = x, then out[i][index[i][j][k]][k] += src[i][j][k]

The index has as many dims as x; along the other dims it may be shorter than x (and than src),
in which case only its leading block takes part. Both are the same full index into the big
tensor: the index along `dim`, and position arrays along the others.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function


def full_index(index: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    """The numpy index that picks, for every position of `index`, the element at that position
    with the coordinate along `dim` replaced by the index's value."""
    positions = np.indices(index.shape, sparse=True)
    return tuple(index if d == dim else p for d, p in enumerate(positions))


class Gather(Function):
    @staticmethod
    def forward(ctx, x, index, dim):
        where = full_index(index, dim)
        ctx.where = where
        return x[where]

    @staticmethod
    def backward(ctx, grad):
        dx = np.zeros(ctx.input_shapes[0], dtype=grad.dtype)
        np.add.at(dx, ctx.where, grad)  # each picked element gets its gradient, repeats add up
        return dx


class ScatterAdd(Function):
    """Inputs x and src; `index` and `dim` are keywords."""

    @staticmethod
    def forward(ctx, x, src, index, dim):
        where = full_index(index, dim)
        block = tuple(slice(0, n) for n in index.shape)  # the part of src that takes part
        out = x.copy()
        np.add.at(out, where, src[block])
        ctx.args = (where, block)
        return out

    @staticmethod
    def backward(ctx, grad):
        where, block = ctx.args
        dsrc = None
        if ctx.needs_input_grad[1]:
            dsrc = np.zeros(ctx.input_shapes[1], dtype=grad.dtype)
            dsrc[block] = grad[where]  # d out[where]/d src = 1
        return grad, dsrc  # d out/dx = 1
