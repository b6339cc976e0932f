"""Reductions over one, several or all dimensions.

`dim` reaches these ops already normalized (`minigrad.dims.normalize_dims`) to a sorted tuple
of non-negative axes, or None for all. Their backward first puts the reduced axes back as
size-1 axes, then lets numpy broadcasting spread the gradient over them.

`Tensor.mean` is derived (the sum divided by the count, the same numbers numpy's mean gives).
`Var` keeps its own gradient although it could be written as a chain of five ops: it saves one
array (x - mean) instead of three, and its derivative is one line, 2 (x - mean) / (N - c).
`LogSumExp` could be `(x - m).exp().sum().log() + m`: fused, it saves one array (the softmax,
its derivative) and stays finite for an all -inf slice. `Norm` could be
`(|x| ** p).sum() ** (1 / p)`: fused, its gradient at a zero norm is 0 (as PyTorch's), not
0 * inf = nan.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from .rows import sums


def _keep(grad: np.ndarray, in_shape: tuple[int, ...], dim: tuple[int, ...] | None,
          keepdim: bool) -> np.ndarray:
    """Reinsert the reduced axes as size 1 so `grad` broadcasts against the input."""
    if keepdim or dim is None:
        return grad.reshape([1] * len(in_shape)) if dim is None and not keepdim else grad
    return np.expand_dims(grad, dim)


def _count(shape: tuple[int, ...], dim: tuple[int, ...] | None) -> int:
    return int(np.prod(shape if dim is None else [shape[d] for d in dim]))


class Sum(Function):
    """Over one axis, `rows.sums`: along the last one that is one BLAS dot per row (numpy's
    reduction pays a fixed cost per row), along any other numpy's own sum."""

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.args = (x.shape, dim, keepdim)
        if dim is not None and len(dim) == 1:  # one axis: rows.sums picks the way
            total = sums(x, dim[0])
            return total if keepdim else total.squeeze(axis=dim[0])
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


class LogSumExp(Function):
    """log(sum(exp(x))) over `dim`, computed as m + log(sum(exp(x - m))) with m the max, so
    that no exp overflows; an all -inf slice gives -inf, as PyTorch."""

    promotion = "float"

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        shift = np.asarray(np.max(x, axis=dim, keepdims=True, initial=-np.inf))
        shift[~np.isfinite(shift)] = 0  # an all -inf (or empty) slice: exp(-inf - 0) = 0, log 0 = -inf
        probs = np.exp(x - shift)
        total = probs.sum(axis=dim, keepdims=True)
        with np.errstate(divide="ignore"):
            out = np.log(total)
        out += shift
        if ctx.needs_input_grad[0]:
            with np.errstate(invalid="ignore"):
                probs /= total  # softmax(x): the derivative
            ctx.save_for_backward(probs)
            ctx.args = (dim, keepdim)
        if keepdim:
            return out
        return out.reshape(()) if dim is None else out.squeeze(axis=dim)

    @staticmethod
    def backward(ctx, grad):
        (probs,) = ctx.saved_tensors
        dim, keepdim = ctx.args
        return _keep(grad, probs.shape, dim, keepdim) * probs  # d logsumexp(x)/dx = softmax(x)


class Prod(Function):
    """The product along one `dim` (an int), or of every element (dim None)."""

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.save_for_backward(x)
        ctx.args = (dim, keepdim)
        return np.asarray(np.prod(x, axis=dim, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        # d prod(x)/dx_i = the product of all the other elements, written as (product of those
        # before i) * (product of those after i), so that zeros in x need no division.
        (x,) = ctx.saved_tensors
        dim, keepdim = ctx.args
        line = x.reshape(-1) if dim is None else np.moveaxis(x, dim, 0)  # the reduced axis first
        before = np.ones_like(line)
        before[1:] = np.cumprod(line[:-1], axis=0)
        after = np.ones_like(line)
        after[:-1] = np.cumprod(line[:0:-1], axis=0)[::-1]
        others = before * after
        others = others.reshape(x.shape) if dim is None else np.moveaxis(others, 0, dim)
        return _keep(grad, x.shape, None if dim is None else (dim,), keepdim) * others


class Norm(Function):
    """The p-norm (sum |x|^p)^(1/p) over `dim`, for a finite p >= 1."""

    promotion = "float"

    @staticmethod
    def forward(ctx, x, p, dim, keepdim):
        powered = x * x if p == 2 else np.abs(x) ** p
        out = np.asarray(powered.sum(axis=dim, keepdims=True))
        out = np.sqrt(out) if p == 2 else out ** (1 / p)
        ctx.save_for_backward(x, out)
        ctx.args = (p, dim, keepdim)
        if keepdim:
            return out
        return out.reshape(()) if dim is None else out.squeeze(axis=dim)

    @staticmethod
    def backward(ctx, grad):
        # d ||x||_p / dx_i = sign(x_i) |x_i|^(p-1) / ||x||_p^(p-1)  (x / ||x|| for p = 2), 0 at x = 0
        x, norm = ctx.saved_tensors
        p, dim, keepdim = ctx.args
        zero = norm == 0
        safe = np.where(zero, 1, norm)
        if p == 2:
            d = x / safe
        else:
            d = np.sign(x) * np.abs(x) ** (p - 1) / safe ** (p - 1)
        d *= ~zero
        return _keep(grad, x.shape, dim, keepdim) * d


class CumSum(Function):
    """Running sums along `dim`."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return np.cumsum(x, axis=dim, dtype=x.dtype if x.dtype.kind == "f" else None)

    @staticmethod
    def backward(ctx, grad):
        # out_j = sum_{i <= j} x_i, so dx_i = sum_{j >= i} g_j: a cumsum from the end
        return np.flip(np.cumsum(np.flip(grad, ctx.dim), axis=ctx.dim), ctx.dim)
