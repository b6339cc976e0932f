"""Matrix products: `a @ b` with numpy's batching and broadcasting rules, and the fused affine
map `x @ W.T + b` of a linear layer (one graph node instead of three). Every product goes
through `parallel.matmul`, which cuts a large one into blocks on the thread budget."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..parallel import matmul


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def check_matmul_shapes(a: tuple[int, ...], b: tuple[int, ...], op: str = "matmul") -> None:
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"{op}: both arguments need at least 1 dimension, got shapes {a} and {b}")
    inner_a = a[-1]
    inner_b = b[-2] if len(b) > 1 else b[0]
    if inner_a != inner_b:
        raise ValueError(f"{op}: shapes cannot be multiplied ({_shape_text(a)} and {_shape_text(b)})")
    try:
        np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        raise ValueError(f"{op}: batch dimensions do not broadcast "
                         f"({_shape_text(a)} and {_shape_text(b)})") from None


def rows(x: np.ndarray) -> np.ndarray:
    """(..., k) -> (rows, k), also for k = 0, where reshape(-1, k) is ambiguous."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _flat_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., k) @ (k, n) as one 2-D product: much faster in BLAS than numpy's batched loop."""
    if b.ndim == 2 and a.ndim > 2:
        return matmul(rows(a), b).reshape(*a.shape[:-1], b.shape[-1])
    return matmul(a, b)


class MatMul(Function):
    promotion = "common"  # PyTorch raises for mixed dtypes; here they promote like `a * b`

    @staticmethod
    def forward(ctx, a, b):
        check_matmul_shapes(a.shape, b.shape)
        ctx.save_for_backward(a, b)
        return _flat_matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # Treat 1-D operands as a row (a) or a column (b) so one pair of formulas serves all.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g = grad.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        da = db = None
        if ctx.needs_input_grad[0]:  # dL/da = g @ b^T
            da = _flat_matmul(g, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:  # (..., 1, k): sum the batch away
                da = da.sum(axis=tuple(range(da.ndim - 2))).reshape(a.shape)
        if ctx.needs_input_grad[1]:  # dL/db = a^T @ g
            if b2.ndim == 2 and a2.ndim > 2:  # b was shared by every batch: one 2-D product
                db = matmul(rows(a2).T, rows(g))
            else:
                db = matmul(np.swapaxes(a2, -1, -2), g)
            if b.ndim == 1:  # (..., k, 1): sum the batch away
                db = db.sum(axis=tuple(range(db.ndim - 2))).reshape(b.shape)
        return da, db


class Linear(Function):
    """y = x @ W.T + b with W of shape (out, in), as in `torch.nn.functional.linear`."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} cannot be multiplied by weight of shape "
                f"{weight.shape} (expected input (..., {weight.shape[-1]}) and weight (out, in))"
            )
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape "
                             f"{weight.shape}")
        ctx.save_for_backward(x, weight)
        out = matmul(rows(x), weight.T)
        if bias is not None:
            out += bias
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g2 = rows(grad)
        dx = matmul(g2, weight).reshape(x.shape) if ctx.needs_input_grad[0] else None  # dL/dx = g W
        dw = matmul(g2.T, rows(x)) if ctx.needs_input_grad[1] else None  # dL/dW = g^T x
        if len(ctx.needs_input_grad) == 2:
            return dx, dw
        db = g2.sum(axis=0) if ctx.needs_input_grad[2] else None  # dL/db = sum of g over rows
        return dx, dw, db
