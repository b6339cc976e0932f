"""Elementwise ops: each forward beside its derivative.

Binary ops broadcast like numpy; their backward may return gradients of the broadcast shape,
which `Function.apply`'s bookkeeping sums back to each input's shape.

Some of these could be written through the others, and are not, for a reason each:
`Sub` (a + (-b) would make a second pass over b, and a broadcast error would name `add`),
`Div` (a * b ** -1 rounds differently from a true division: x / 3 is not x * (1/3), and numpy
and PyTorch divide), and `PowScalar` beside `Pow` (fast paths for the small exponents that
dominate, and no saved output). `Tensor.sqrt` is derived instead: it is `x ** 0.5`. `Clamp`
could be `maximum` then `minimum`: one node instead of two, with bounds that are numbers.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function


def negative_power_error(op: str) -> str:
    """numpy raises this too, but from inside the power, where it reads as a shape error."""
    return f"{op}: integers to negative integer powers are not allowed (make the base a float first)"


def broadcast_error(op: str, a: np.ndarray, b: np.ndarray) -> ValueError:
    """For operands numpy cannot broadcast, whose own message does not say which op failed.
    (Caught after the fact: a try block costs nothing, a shape check before every op would.)"""
    return ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast")


class Add(Function):
    promotion = "common"

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a + b
        except ValueError:
            raise broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        return grad, grad  # d(a+b)/da = d(a+b)/db = 1


class Sub(Function):
    promotion = "common"

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a - b
        except ValueError:
            raise broadcast_error("sub", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad if ctx.needs_input_grad[1] else None  # d/da = 1, d/db = -1


class Mul(Function):
    promotion = "common"

    @staticmethod
    def forward(ctx, a, b):
        # each gradient needs only the other operand: `q * scale` keeps no copy of q alive
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        try:
            return a * b
        except ValueError:
            raise broadcast_error("mul", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = grad * b if ctx.needs_input_grad[0] else None  # d(ab)/da = b
        db = grad * a if ctx.needs_input_grad[1] else None  # d(ab)/db = a
        return da, db


class Div(Function):
    promotion = "float"  # true division: int / int is a float, as in PyTorch

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a / b
        except ValueError:
            raise broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        da = grad / b if ctx.needs_input_grad[0] else None  # d(a/b)/da = 1/b
        # d(a/b)/db = -a/b^2, evaluated as -(a/b)/b: as PyTorch rounds it, and b*b cannot overflow
        db = -grad * (a / b) / b if ctx.needs_input_grad[1] else None
        return da, db


class Clone(Function):
    """A copy of x that stays in the graph."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad  # d(copy x)/dx = 1


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Cast(Function):
    """x converted to another floating `dtype` (Tensor.to, .float(), .double())."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.in_dtype)  # d(cast x)/dx = 1, in x's own dtype


def _power(x: np.ndarray, p: float) -> np.ndarray:
    """x ** p, avoiding numpy's slow generic power for the small integer exponents that
    dominate in practice (x ** 3 on float32 is ~300x slower than x * x * x)."""
    if p == 0:
        return np.ones_like(x)
    if p == 1:
        return x.copy()
    if p == 2:
        return x * x
    if p == 3:
        return x * x * x
    if p == 0.5:
        return np.sqrt(x)
    if p == -1:
        return 1 / x
    if p == -0.5:  # sqrt's derivative
        return 1 / np.sqrt(x)
    if p == -2:  # the derivative of 1 / x
        return 1 / (x * x)
    return x ** np.asarray(p, dtype=x.dtype) if np.issubdtype(x.dtype, np.floating) else x ** p


class PowScalar(Function):
    """x ** p for a fixed number p."""

    @staticmethod
    def forward(ctx, x, exponent):
        if x.dtype.kind != "f" and exponent < 0:
            raise ValueError(negative_power_error("pow"))
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return _power(x, exponent)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        p = ctx.exponent
        if p == 0:  # x^0 is constant; p x^(p-1) would be 0 * inf = nan at x = 0
            return np.zeros_like(grad)
        return grad * (p * _power(x, p - 1))  # d(x^p)/dx = p x^(p-1)


class Pow(Function):
    """a ** b with both sides differentiable (b's gradient needs a >= 0)."""

    promotion = "common"

    @staticmethod
    def forward(ctx, a, b):
        if b.dtype.kind in "iu" and (b < 0).any():
            raise ValueError(negative_power_error("pow"))
        try:
            out = a ** b
        except ValueError:
            raise broadcast_error("pow", a, b) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        da = db = None
        # At b = 0, a^b is the constant 1 and b a^(b-1) would be 0 * inf = nan at a = 0; at
        # a = 0 and b >= 0, a^b ln a -> 0. PyTorch writes both gradients as 0 there too.
        if ctx.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                da = grad * b * a ** (b - 1)  # d(a^b)/da = b a^(b-1)
            da = np.where(b == 0, np.zeros((), dtype=da.dtype), da)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                db = grad * out * np.log(a)  # d(a^b)/db = a^b ln a
            db = np.where((a == 0) & (b >= 0), np.zeros((), dtype=db.dtype), db)
        return da, db


class Exp(Function):
    promotion = "float"

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out  # d(e^x)/dx = e^x


class Log(Function):
    promotion = "float"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x  # d(ln x)/dx = 1/x


class Tanh(Function):
    promotion = "float"

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)  # d(tanh x)/dx = 1 - tanh^2 x


class Sigmoid(Function):
    promotion = "float"

    @staticmethod
    def forward(ctx, x):
        # sigma(x) = e^min(x,0) / (1 + e^-|x|): exps of non-positive numbers only (no overflow
        # for large |x|), and no np.where, which costs 3x the rest on a random sign pattern.
        out = np.exp(np.minimum(x, 0))
        out /= 1 + np.exp(-np.abs(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)  # d(sigma x)/dx = sigma (1 - sigma)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)  # d(max(x, 0))/dx = 1 where x > 0, else 0


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.sign(x)  # d|x|/dx = sign(x), 0 at 0 as in PyTorch


class MaskedFill(Function):
    """x with `value` wherever the bool `mask` is True."""

    # Copy, then fill in place: twice as fast as np.where when the mask is broadcast (the
    # causal mask is (1, 1, T, T) against scores of (B, h, T, T)).
    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.save_for_backward(mask)
        out = np.array(np.broadcast_to(x, np.broadcast_shapes(x.shape, mask.shape)))
        np.copyto(out, np.asarray(value, dtype=x.dtype), where=mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        dx = grad.copy()
        np.copyto(dx, np.zeros((), dtype=grad.dtype), where=mask)  # filled places are constants
        return dx


class Where(Function):
    promotion = "common"

    """a where `condition` is True, else b."""

    @staticmethod
    def forward(ctx, a, b, condition):
        ctx.save_for_backward(condition)
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (c,) = ctx.saved_tensors
        zero = np.zeros((), dtype=grad.dtype)
        da = np.where(c, grad, zero) if ctx.needs_input_grad[0] else None
        db = np.where(c, zero, grad) if ctx.needs_input_grad[1] else None
        return da, db


class Sin(Function):
    promotion = "float"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.cos(x)  # d(sin x)/dx = cos x


class Cos(Function):
    promotion = "float"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return -grad * np.sin(x)  # d(cos x)/dx = -sin x


class Log1p(Function):
    """log(1 + x), accurate for small x where 1 + x would round."""

    promotion = "float"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + x)  # d log(1 + x)/dx = 1 / (1 + x)


class Sign(Function):
    @staticmethod
    def forward(ctx, x):
        return np.sign(x)

    @staticmethod
    def backward(ctx, grad):
        return np.zeros_like(grad)  # d sign(x)/dx = 0 (where it exists; PyTorch uses 0 everywhere)


class Clamp(Function):
    """x limited to [low, high] (either bound may be None)."""

    @staticmethod
    def forward(ctx, x, low, high):
        out = np.clip(x, low, high)
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        return grad * inside  # d clamp(x)/dx = 1 inside [low, high] (bounds included), else 0


class _Extremum:
    """The elementwise larger (Maximum) or smaller (Minimum) of a and b, one formula for both:
    the gradient goes to the winner, and where a and b are equal each gets half of it. A mixin,
    not an op of its own: each subclass names its ufunc and its comparison."""

    promotion = "common"
    name: str
    pick: Any  # np.maximum or np.minimum
    wins: Any  # np.greater or np.less: where a beats b

    @classmethod
    def forward(cls, ctx, a, b):
        try:
            out = cls.pick(a, b)
        except ValueError:
            raise broadcast_error(cls.name, a, b) from None
        ctx.save_for_backward(a, b)
        return out

    @classmethod
    def backward(cls, ctx, grad):
        a, b = ctx.saved_tensors
        share = np.asarray(cls.wins(a, b), dtype=grad.dtype)  # a's share: 1, 1/2 at a tie, 0
        share[a == b] = 0.5
        da = grad * share if ctx.needs_input_grad[0] else None
        db = grad * (1 - share) if ctx.needs_input_grad[1] else None
        return da, db


class Maximum(_Extremum, Function):
    """The elementwise larger of a and b; where they are equal each gets half the gradient."""

    name, pick, wins = "maximum", np.maximum, np.greater


class Minimum(_Extremum, Function):
    """The elementwise smaller of a and b; where they are equal each gets half the gradient."""

    name, pick, wins = "minimum", np.minimum, np.less
