"""Ops that move elements around without changing them: reshape, permute, expand, indexing,
concatenation. Their backward moves the gradient back the same way.

The helpers at the top turn PyTorch-style arguments (`-1` sizes, permutations, expand sizes)
into what numpy wants, raising errors that name the op and the shapes.
"""
from __future__ import annotations

from typing import Any

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


def index_steps(index: Any) -> tuple[Any, ...]:
    """The numpy indices that, applied in turn, select what PyTorch's `t[index]` selects.

    numpy and PyTorch agree except when integers and index arrays are mixed: PyTorch applies
    the integers first, so t[0, :, idx] is t[0][:, idx] with shape (t.shape[1], len(idx)),
    while numpy would put idx's dimension first. Such an index becomes two steps: the integers
    (a view), then the rest.
    """
    parts = index if isinstance(index, tuple) else (index,)
    integer = [isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) for p in parts]
    if not any(integer) or not any(isinstance(p, np.ndarray) for p in parts):
        return (index,)
    ints_first: list[Any] = []
    the_rest: list[Any] = []
    for part, is_int in zip(parts, integer):
        if is_int:
            ints_first.append(part)
        elif part is None:  # the new axis exists after the first step
            ints_first.append(None)
            the_rest.append(slice(None))
        elif part is Ellipsis:
            ints_first.append(Ellipsis)
            the_rest.append(Ellipsis)
        else:  # a slice or an array, applied in the second step (a bool mask spans its ndim axes)
            is_mask = isinstance(part, np.ndarray) and part.dtype == np.bool_
            ints_first.extend([slice(None)] * (part.ndim if is_mask else 1))
            the_rest.append(part)
    return tuple(ints_first), tuple(the_rest)


def select(array: np.ndarray, index: Any) -> np.ndarray:
    """array[index] with PyTorch's meaning (see index_steps)."""
    for step in index_steps(index):
        array = array[step]
    return array


def assign(array: np.ndarray, index: Any, value: Any) -> None:
    """array[index] = value with PyTorch's meaning: every step but the last is a view."""
    *views, last = index_steps(index)
    for step in views:
        array = array[step]
    array[last] = value


class GetItem(Function):
    """x[index] for any numpy index, with PyTorch's order when integers and index arrays mix
    (see index_steps). Integer-array indices may repeat an element: its gradients are summed
    (np.add.at), not overwritten."""

    @staticmethod
    def forward(ctx, x, index):
        steps = index_steps(index)
        out = x
        try:
            for step in steps:
                out = out[step]
        except IndexError as e:
            raise IndexError(f"getitem: index {index!r} is invalid for shape {x.shape}: {e}") from None
        ctx.steps = steps
        ctx.in_shape = x.shape
        parts = index if isinstance(index, tuple) else (index,)
        ctx.basic = not any(isinstance(i, np.ndarray) for i in parts)
        if ctx.basic and type(out) is not np.ndarray:  # all ints: a 0-d view, not a copied scalar,
            out = x[parts + (Ellipsis,)]  # so that t[0].zero_() writes into t, as in PyTorch
        return np.asarray(out)

    @staticmethod
    def backward(ctx, grad):
        full = np.zeros(ctx.in_shape, dtype=grad.dtype)
        target = full
        for step in ctx.steps[:-1]:  # integers and slices: a view into `full`
            target = target[step]
        if ctx.basic:  # slices and ints pick each element at most once
            target[ctx.steps[-1]] = grad
        else:
            # scatter-add: d x[i] / dx_j = [i == j], summed over repeats
            np.add.at(target, ctx.steps[-1], grad)
        return full


class SetItem(Function):
    """x with x[index] replaced by value (out of place; `t[index] = value` writes the result
    back into t). The replaced elements get no gradient; value gets the gradient of the
    places it went to, summed back to its own shape."""

    @staticmethod
    def forward(ctx, x, value, index):
        out = x.copy()
        try:
            assign(out, index, value)
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
            assign(dx, ctx.index, 0)  # d out/dx = 0 where value was written, 1 elsewhere
        dvalue = select(grad, ctx.index) if ctx.needs_input_grad[1] else None  # d out[index]/d value = 1
        return dx, dvalue


class Cat(Function):
    """Concatenation along `dim` of any number of tensors."""

    promotion = "common"

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

    promotion = "common"

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.dim, 0))
