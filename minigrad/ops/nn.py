"""Fused neural-network ops: each forward computes the whole function on arrays and each
backward is one closed-form derivative, instead of a chain of small recorded ops. That saves
graph nodes, saved arrays and passes over memory, and keeps softmax and log-softmax stable.

The arguments reach these ops already checked by `minigrad.functional`, which is where users
call them. `dim` is a non-negative axis. Temporaries an op made itself are reused in place;
arrays that were saved or that came in (`grad` may be a read-only broadcast view, shared with
another input's gradient) are never written.

Each kernel is written once as a function of whole arrays that writes its results into output
arrays (`_softmax(x, y, dim)`: y = softmax(x)); `map_blocks` runs it on the whole arrays, or,
for a large input, on blocks of rows in parallel threads (`minigrad.parallel`). A row's result
is the same either way: the blocks only change which thread computes it. Sums along a row
are `rows.sums` and `rows.dots`, one BLAS dot per row (numpy's reduction pays a fixed cost per
row, which short rows do not repay). The sums over rows
(LayerNorm's weight and bias gradients) run inline: cut into blocks of columns they were
slower (0.81 against 0.35 ms on (2048, 512) float32, 2 threads; a block of columns is a
strided view).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Function
from ..parallel import map_blocks
from .erf import normal_cdf
from .rows import dots, sums

_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715  # the cubic coefficient of the tanh approximation of GELU


def _rows_axis(dim: int) -> int:
    """The axis to cut into blocks for a kernel that reduces over `dim`: any other one."""
    return 1 if dim == 0 else 0


def _softmax(x: np.ndarray, y: np.ndarray, dim: int) -> None:
    np.subtract(x, x.max(axis=dim, keepdims=True), out=y)
    np.exp(y, out=y)
    y /= sums(y, dim)


def _softmax_backward(g: np.ndarray, y: np.ndarray, dx: np.ndarray, dim: int) -> None:
    np.multiply(g, y, out=dx)
    np.subtract(g, sums(dx, dim), out=dx)
    dx *= y  # dx = y * (g - sum(g * y))


class Softmax(Function):
    """y = exp(x - max x) / sum exp(x - max x) along `dim`; subtracting the max avoids overflow."""

    @staticmethod
    def forward(ctx, x, dim):
        if x.size == 0:  # an empty input has an empty softmax (and max has no identity)
            y = x.copy()
        else:
            y = np.empty_like(x)
            map_blocks(_softmax, x, y, axis=_rows_axis(dim), dim=dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        dx = np.empty_like(y)
        map_blocks(_softmax_backward, grad, y, dx, axis=_rows_axis(ctx.dim), dim=ctx.dim)
        return dx  # dx = y * (g - sum(g * y))


def _log_softmax(x: np.ndarray, y: np.ndarray, dim: int) -> None:
    np.subtract(x, x.max(axis=dim, keepdims=True), out=y)
    y -= np.log(sums(np.exp(y), dim))


def _log_softmax_backward(g: np.ndarray, y: np.ndarray, dx: np.ndarray, dim: int) -> None:
    np.exp(y, out=dx)
    dx *= sums(g, dim)
    np.subtract(g, dx, out=dx)  # dx = g - exp(y) * sum(g)


class LogSoftmax(Function):
    """y = x - max x - log(sum exp(x - max x)) along `dim`."""

    @staticmethod
    def forward(ctx, x, dim):
        if x.size == 0:  # an empty input has an empty result (and max has no identity)
            y = x.copy()
        else:
            y = np.empty_like(x)
            map_blocks(_log_softmax, x, y, axis=_rows_axis(dim), dim=dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        dx = np.empty_like(y)
        map_blocks(_log_softmax_backward, grad, y, dx, axis=_rows_axis(ctx.dim), dim=ctx.dim)
        return dx  # dx = g - exp(y) * sum(g)


def _inverse_std(sum_sq: np.ndarray, d: int, eps: float) -> None:
    """The rows' sums of squares (rows, 1) -> rstd = 1 / sqrt(sum_sq / d + eps), in place."""
    sum_sq /= d
    sum_sq += eps
    np.sqrt(sum_sq, out=sum_sq)
    np.divide(1, sum_sq, out=sum_sq)


def _scale_shift(xhat: np.ndarray, y: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> None:
    np.multiply(xhat, weight, out=y)
    if bias is not None:
        y += bias  # y = xhat * weight + bias


def _layer_norm(x: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, *y: np.ndarray, eps: float,
                weight: np.ndarray | None, bias: np.ndarray | None) -> None:
    """Rows of x (rows, D) -> xhat, rstd (rows, 1) and, with a weight, y."""
    d = x.shape[1]
    np.subtract(x, sums(x, 1) / d, out=xhat)
    rstd[...] = dots(xhat, xhat)
    _inverse_std(rstd, d, eps)
    xhat *= rstd
    if y:
        _scale_shift(xhat, y[0], weight, bias)


def _normalized_backward(g: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, dx: np.ndarray,
                         weight: np.ndarray | None, centred: bool) -> None:
    """dx of LayerNorm (centred) or RMSNorm, rows (rows, D), from g = dL/dy."""
    gxhat = g * weight if weight is not None else g  # dL/dxhat
    # LayerNorm: dx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)), means over the row
    # RMSNorm:   dx = rstd * (gxhat - xhat * mean(gxhat * xhat))
    d = xhat.shape[1]
    np.multiply(xhat, dots(gxhat, xhat) / d, out=dx)
    np.subtract(gxhat, dx, out=dx)
    if centred:
        dx -= sums(gxhat, 1) / d
    dx *= rstd


def _rms_norm(x: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, *y: np.ndarray, eps: float,
              weight: np.ndarray | None) -> None:
    """Rows of x (rows, D) -> xhat, rstd (rows, 1) and, with a weight, y."""
    rstd[...] = dots(x, x)
    _inverse_std(rstd, x.shape[1], eps)
    np.multiply(x, rstd, out=xhat)
    if y:
        _scale_shift(xhat, y[0], weight, None)


def _normalize(ctx, kernel, x: np.ndarray, weight: np.ndarray | None, d: int, **options: Any) -> np.ndarray:
    """Run a normalization kernel over the rows of x viewed as (rows, D); save xhat, rstd and
    the weight for backward; return y (xhat itself without a weight) in x's shape."""
    x2 = x.reshape(-1, d)  # (rows, D)
    xhat = np.empty_like(x2)
    rstd = np.empty((x2.shape[0], 1), dtype=x.dtype)
    outputs = (xhat, rstd) if weight is None else (xhat, rstd, np.empty_like(x2))
    map_blocks(kernel, x2, *outputs, weight=weight, **options)
    ctx.save_for_backward(xhat, rstd, weight)
    return outputs[-1 if weight is not None else 0].reshape(x.shape)


def _normalized_grads(ctx, grad: np.ndarray, centred: bool) -> tuple[np.ndarray | None, ...]:
    """(dx, dw[, db]) of LayerNorm (centred) or RMSNorm, each None when not needed."""
    xhat, rstd, weight = ctx.saved_tensors
    g = grad.reshape(xhat.shape)
    needs = ctx.needs_input_grad
    dx = None
    if needs[0]:
        dx = np.empty_like(xhat)
        map_blocks(_normalized_backward, g, xhat, rstd, dx, weight=weight, centred=centred)
        dx = dx.reshape(grad.shape)
    if weight is None:
        return (dx,)
    # dw = sum over rows of g * xhat, db = sum over rows of g, each only when needed
    dw = np.einsum("ij,ij->j", g, xhat).reshape(ctx.input_shapes[1]) if needs[1] else None
    if len(needs) == 2:
        return dx, dw
    db = g.sum(axis=0).reshape(ctx.input_shapes[2]) if needs[2] else None
    return dx, dw, db


class LayerNorm(Function):
    """Normalize over the last `ndim` dimensions, then scale and shift:

        xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)  (biased variance, as PyTorch)
        y = xhat * weight + bias

    Inputs: x, then optionally weight, then optionally bias (both of the normalized shape).
    Rows are the leading dimensions flattened: the math runs on a (rows, D) view.
    """

    @staticmethod
    def forward(ctx, x, *affine, ndim, eps):
        d = math.prod(x.shape[x.ndim - ndim:])
        if x.size == 0:  # nothing to normalize: an empty result, and zero gradients
            ctx.save_for_backward(np.zeros((0, 0), dtype=x.dtype), None, None)
            return np.zeros(x.shape, dtype=x.dtype)
        weight = affine[0].reshape(d) if affine else None
        bias = affine[1].reshape(d) if len(affine) == 2 else None
        return _normalize(ctx, _layer_norm, x, weight, d, eps=eps, bias=bias)

    @staticmethod
    def backward(ctx, grad):
        if ctx.saved_tensors[0].size == 0:
            return tuple(np.zeros(shape, dtype=grad.dtype) if need else None
                         for shape, need in zip(ctx.input_shapes, ctx.needs_input_grad))
        return _normalized_grads(ctx, grad, centred=True)


class RmsNorm(Function):
    """Root-mean-square normalization over the last `ndim` dimensions, then an optional scale:

        xhat = x * rstd,  rstd = 1 / sqrt(mean(x^2) + eps)
        y = xhat * weight

    As LayerNorm without the centring and the bias. Inputs: x, then optionally weight (of the
    normalized shape). The math runs on a (rows, D) view.
    """

    @staticmethod
    def forward(ctx, x, *affine, ndim, eps):
        d = math.prod(x.shape[x.ndim - ndim:])
        weight = affine[0].reshape(d) if affine else None
        return _normalize(ctx, _rms_norm, x, weight, d, eps=eps)

    @staticmethod
    def backward(ctx, grad):
        return _normalized_grads(ctx, grad, centred=False)


class Silu(Function):
    """SiLU (swish): x * sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        s = np.exp(np.minimum(x, 0))  # sigmoid without overflow, as ew.Sigmoid
        s /= 1 + np.exp(-np.abs(x))
        y = x * s
        if ctx.needs_input_grad[0]:
            d = y * (1 - s)
            d += s
            ctx.save_for_backward(d)  # the derivative: one saved array instead of x and s
        return y

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        return grad * d  # d(x sigma(x))/dx = sigma(x) (1 + x (1 - sigma(x)))


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        z = x * beta
        linear = z > threshold
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large z
        smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
        if ctx.needs_input_grad[0]:
            sigmoid = np.exp(np.minimum(z, 0)) / (1 + np.exp(-np.abs(z)))
            ctx.save_for_backward(np.where(linear, np.ones((), dtype=x.dtype), sigmoid))
        return np.where(linear, x, smooth)

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s  # d softplus / dx = sigmoid(beta x), 1 in the linear part


def _gelu_tanh(x: np.ndarray, y: np.ndarray, *derivative: np.ndarray) -> None:
    """y = GELU(x) with the tanh form of Phi; with an output for it, GELU'(x) too."""
    t = x * x
    t *= _GELU_CUBIC
    t += 1
    t *= x
    t *= _SQRT_2_OVER_PI
    np.tanh(t, out=t)
    np.add(t, 1, out=y)
    y *= x
    y *= 0.5
    if derivative:
        # d/dx = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2,  t = tanh(...)
        d = derivative[0]
        np.multiply(x, x, out=d)
        d *= 3 * _GELU_CUBIC * _SQRT_2_OVER_PI
        d += _SQRT_2_OVER_PI
        d *= x
        one_minus_t2 = t * t
        np.subtract(1, one_minus_t2, out=one_minus_t2)
        d *= one_minus_t2
        d += t
        d += 1
        d *= 0.5


def _gelu_erf(x: np.ndarray, y: np.ndarray, *derivative: np.ndarray) -> None:
    """y = GELU(x) with Phi through erf; with an output for it, GELU'(x) too."""
    squares = x * x
    cdf = normal_cdf(x, squares)
    np.multiply(x, cdf, out=y)
    if derivative:
        # d/dx = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        d = derivative[0]
        np.multiply(squares, -0.5, out=d)
        np.exp(d, out=d)
        d *= _INV_SQRT_2PI
        d *= x
        d += cdf


class Gelu(Function):
    """GELU(x) = x Phi(x), Phi the standard normal CDF.

    approximate="none": Phi(x) = (1 + erf(x / sqrt 2)) / 2, exact (to rounding; see erf.normal_cdf).
    approximate="tanh": Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
    """

    @staticmethod
    def forward(ctx, x, approximate):
        flat = x.reshape(-1)  # elementwise: any blocks will do; a 0-d array becomes (1,)
        y = np.empty_like(flat)
        outputs = (y, np.empty_like(flat)) if ctx.needs_input_grad[0] else (y,)
        map_blocks(_gelu_tanh if approximate == "tanh" else _gelu_erf, flat, *outputs)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(outputs[1].reshape(x.shape))  # GELU'(x): one saved array, not two
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        dx = np.empty_like(d)
        map_blocks(np.multiply, grad.reshape(-1), d.reshape(-1), dx.reshape(-1))
        return dx  # dx = g * GELU'(x)


def _cross_entropy(logits: np.ndarray, safe: np.ndarray, probs: np.ndarray, losses: np.ndarray,
                   label_smoothing: float) -> None:
    """Rows of logits (N, C) and their targets -> softmax(logits) and -log softmax at the
    (smoothed) target, before ignored rows are zeroed."""
    np.subtract(logits, logits.max(axis=1, keepdims=True), out=probs)
    picked = probs[np.arange(len(safe)), safe]  # (N,) shifted logit of each target
    if label_smoothing:
        picked *= 1 - label_smoothing
        picked += (label_smoothing / probs.shape[1]) * sums(probs, 1)[:, 0]  # the smoothed target's share
    np.exp(probs, out=probs)
    total = sums(probs, 1)[:, 0]  # (N,)
    probs /= total[:, None]  # softmax
    np.log(total, out=losses)
    losses -= picked  # -log softmax at the (smoothed) target


def _cross_entropy_backward(probs: np.ndarray, safe: np.ndarray, weight: np.ndarray, dx: np.ndarray,
                            label_smoothing: float) -> None:
    # dL/dlogits = (softmax - (1 - e) onehot(target) - e / C) * weight, weight = g / N for "mean"
    e = label_smoothing
    np.multiply(probs, weight[:, None], out=dx)
    dx[np.arange(len(safe)), safe] -= (1 - e) * weight if e else weight
    if e:
        dx -= (e / probs.shape[1]) * weight[:, None]


class CrossEntropy(Function):
    """Negative log-likelihood of integer targets under softmax(logits), fused with the softmax.

    logits (N, C); `target` (N,) integers, passed as a keyword (it has no gradient). Rows whose
    target is `ignore_index` contribute nothing, and "mean" divides by the number of other rows
    (as PyTorch; nan when every row is ignored). "none" returns the (N,) losses.

    With label smoothing e the target distribution is (1 - e) onehot + e / C, so a row's loss
    is (1 - e) * (-log p_target) + e * mean over classes of (-log p_c).
    """

    @staticmethod
    def forward(ctx, logits, target, ignore_index, reduction, label_smoothing):
        ctx.target = target  # for pictures of the graph (described_inputs), after backward too
        valid = target != ignore_index
        safe = np.where(valid, target, 0)  # ignored rows point at class 0, then get weight 0
        probs = np.empty_like(logits)
        losses = np.empty(len(safe), dtype=logits.dtype)
        map_blocks(_cross_entropy, logits, safe, probs, losses, label_smoothing=label_smoothing)
        losses *= valid
        count = int(valid.sum())
        ctx.save_for_backward(probs, safe, valid)
        ctx.reduction, ctx.count, ctx.label_smoothing = reduction, count, label_smoothing
        if reduction == "none":
            return losses
        if reduction == "sum":
            return np.asarray(losses.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(losses.sum() / count)

    @staticmethod
    def backward(ctx, grad):
        probs, safe, valid = ctx.saved_tensors
        if ctx.reduction == "mean":
            weight = valid * (grad / max(ctx.count, 1))  # (N,) each row's share of the gradient
        else:
            weight = valid * grad
        dx = np.empty_like(probs)
        map_blocks(_cross_entropy_backward, probs, safe, weight, dx, label_smoothing=ctx.label_smoothing)
        return dx

    def described_inputs(self):
        return (("targets", self.target),)


class Embedding(Function):
    """weight[ids]: the row of `weight` (num, dim) for each id; `ids`, integers of any shape,
    is a keyword (it has no gradient). The result has shape ids.shape + (dim,). The row
    `padding_idx` (when not None) gets no gradient, as in PyTorch: a padding token's vector
    stays what it was set to."""

    @staticmethod
    def forward(ctx, weight, ids, padding_idx=None):
        ctx.save_for_backward(ids)
        ctx.ids = ids  # for pictures of the graph (described_inputs), after backward too
        ctx.padding_idx = padding_idx
        return np.take(weight, ids, axis=0)  # a copy, even for a single id

    @staticmethod
    def backward(ctx, grad):
        # dW[k] = sum of the gradient rows whose id is k (0 for k = padding_idx). The ids are
        # sorted so that equal ids are runs of rows; a run of one row is copied (one fancy
        # assignment for all of them) and each longer run summed on its own. Measured on
        # (2048, 512) float32, one thread: 0.7 ms with 256 distinct ids, against 2.7 ms for
        # np.add.reduceat over the runs and 9.2 ms for np.add.at (reduceat: 7-10 ms with
        # 900-2000 distinct ids, where this takes 2-6 ms).
        (ids,) = ctx.saved_tensors
        ids = ids.reshape(-1)
        dw = np.zeros(ctx.input_shapes[0], dtype=grad.dtype)
        if ids.size:
            order = np.argsort(ids, kind="stable")
            sorted_ids = ids[order]
            starts = np.flatnonzero(np.diff(sorted_ids, prepend=-1))  # where each run of equal ids begins
            lengths = np.diff(starts, append=ids.size)
            rows = grad.reshape(-1, grad.shape[-1])[order]
            single = lengths == 1
            dw[sorted_ids[starts[single]]] = rows[starts[single]]
            for start, length in zip(starts[~single].tolist(), lengths[~single].tolist()):
                rows[start:start + length].sum(axis=0, out=dw[sorted_ids[start]])
        if ctx.padding_idx is not None:
            dw[ctx.padding_idx] = 0
        return dw

    def described_inputs(self):
        return (("ids", self.ids),)


class Dropout(Function):
    """Inverted dropout: zero each element with probability p and scale the others by 1/(1-p),
    so the expected output equals the input and evaluation needs no rescaling. The mask is
    drawn (in float32, whatever x's dtype) from the numpy Generator passed in."""

    @staticmethod
    def forward(ctx, x, p, generator):
        mask = generator.random(x.shape, dtype=np.float32)
        np.greater_equal(mask, p, out=mask)  # 1.0 where the element is kept
        mask = mask.astype(x.dtype, copy=False)
        mask *= 1 / (1 - p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask  # d(x * mask)/dx = mask
