"""Ops that move elements around without changing them: reshape, permute, expand, indexing,
concatenation. Their backward moves the gradient back the same way.

The helpers at the top turn PyTorch-style arguments (`-1` sizes, permutations, expand sizes)
into what numpy wants, raising errors that name the op and the shapes.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function


def resolve_shape(old: tuple[int, ...], new: tuple[int, ...], op: str) -> tuple[int, ...]:
    """Fill in a single -1 and check that the element count is unchanged."""
    size = int(np.prod(old))
    if new.count(-1) > 1:
        raise ValueError(f"{op}: only one dimension can be -1, got {new}")
    if -1 in new:
        known = int(np.prod([n for n in new if n != -1]))
        if known == 0 or size % known:
            raise ValueError(f"{op}: shape {new} is invalid for input of shape {old} ({size} elements)")
        new = tuple(size // known if n == -1 else n for n in new)
    if int(np.prod(new)) != size or any(n < 0 for n in new):
        raise ValueError(f"{op}: shape {new} is invalid for input of shape {old} ({size} elements)")
    return tuple(int(n) for n in new)


def expanded_shape(old: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """PyTorch's expand: -1 keeps a size; only size-1 dimensions can grow; new dimensions go
    in front."""
    if len(sizes) < len(old):
        raise ValueError(f"expand: cannot expand shape {old} to {sizes}: fewer dimensions")
    padded = (1,) * (len(sizes) - len(old)) + tuple(old)
    out = []
    for have, want in zip(padded, sizes):
        want = have if want == -1 else want
        if have != want and have != 1:
            raise ValueError(f"expand: cannot expand shape {old} to {sizes}")
        out.append(int(want))
    return tuple(out)


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(np.argsort(ctx.dims))  # the inverse permutation


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad  # apply() sums the broadcast axes back to x's shape


class GetItem(Function):
    """x[index] for any numpy index. Integer-array indices may repeat an element: its
    gradients are summed (np.add.at), not overwritten."""

    @staticmethod
    def forward(ctx, x, index):
        try:
            out = x[index]
        except IndexError as e:
            raise IndexError(f"getitem: index {index!r} is invalid for shape {x.shape}: {e}") from None
        ctx.index = index
        ctx.in_shape = x.shape
        parts = index if isinstance(index, tuple) else (index,)
        ctx.basic = not any(isinstance(i, np.ndarray) for i in parts)
        return np.asarray(out)

    @staticmethod
    def backward(ctx, grad):
        full = np.zeros(ctx.in_shape, dtype=grad.dtype)
        if ctx.basic:  # slices and ints pick each element at most once
            full[ctx.index] = grad
        else:
            np.add.at(full, ctx.index, grad)  # scatter-add: d x[i] / dx_j = [i == j], summed over repeats
        return full


class SetItem(Function):
    """x with x[index] replaced by value (out of place; `t[index] = value` writes the result
    back into t). The replaced elements get no gradient; value gets the gradient of the
    places it went to, summed back to its own shape."""

    @staticmethod
    def forward(ctx, x, value, index):
        out = x.copy()
        try:
            out[index] = value
        except IndexError as e:
            raise IndexError(f"setitem: index {index!r} is invalid for shape {x.shape}: {e}") from None
        except ValueError as e:
            raise ValueError(f"setitem: cannot assign a value of shape {np.shape(value)} to index {index!r} "
                             f"of a tensor of shape {x.shape}: {e}") from None
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx, grad):
        dx = None
        if ctx.needs_input_grad[0]:
            dx = grad.copy()
            dx[ctx.index] = 0  # d out/dx = 0 where value was written, 1 elsewhere
        dvalue = grad[ctx.index] if ctx.needs_input_grad[1] else None  # d out[index]/d value = 1
        return dx, dvalue


class Cat(Function):
    """Concatenation along `dim` of any number of tensors."""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        ctx.bounds = np.cumsum([x.shape[dim] for x in xs])[:-1]
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.bounds, axis=ctx.dim))


class Stack(Function):
    """Stack equal-shaped tensors along a new dimension `dim`."""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.dim, 0))
