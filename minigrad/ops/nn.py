"""Fused neural-network ops: each forward computes the whole function on arrays and each
backward is one closed-form derivative, instead of a chain of small recorded ops. That saves
graph nodes, saved arrays and passes over memory, and keeps softmax and log-softmax stable.

The arguments reach these ops already checked by `minigrad.functional`, which is where users
call them. `dim` is a non-negative axis. Temporaries an op made itself are reused in place;
arrays that were saved or that came in (`grad` may be a read-only broadcast view, shared with
another input's gradient) are never written.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from .erf import normal_cdf

_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715  # the cubic coefficient of the tanh approximation of GELU


class Softmax(Function):
    """y = exp(x - max x) / sum exp(x - max x) along `dim`; subtracting the max avoids overflow."""

    @staticmethod
    def forward(ctx, x, dim):
        if x.size == 0:  # an empty input has an empty softmax (and max has no identity)
            y = x.copy()
        else:
            y = x - x.max(axis=dim, keepdims=True)
            np.exp(y, out=y)
            y /= y.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        dx = grad * y
        np.subtract(grad, dx.sum(axis=ctx.dim, keepdims=True), out=dx)
        dx *= y
        return dx  # dx = y * (g - sum(g * y))


class LogSoftmax(Function):
    """y = x - max x - log(sum exp(x - max x)) along `dim`."""

    @staticmethod
    def forward(ctx, x, dim):
        if x.size == 0:  # an empty input has an empty result (and max has no identity)
            y = x.copy()
        else:
            y = x - x.max(axis=dim, keepdims=True)
            y -= np.log(np.exp(y).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        dx = np.exp(y)
        dx *= grad.sum(axis=ctx.dim, keepdims=True)
        np.subtract(grad, dx, out=dx)
        return dx  # dx = g - exp(y) * sum(g)


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
        x2 = x.reshape(math.prod(x.shape[:x.ndim - ndim]), d)  # (rows, D); D may be 0
        if x2.size == 0:  # nothing to normalize: an empty result, and zero gradients
            ctx.save_for_backward(x2, None, affine[0].reshape(d) if affine else None)
            return np.zeros(x.shape, dtype=x.dtype)
        xhat = x2 - x2.mean(axis=1, keepdims=True)
        var = np.einsum("ij,ij->i", xhat, xhat)[:, None]
        var /= d
        var += eps
        rstd = np.sqrt(var, out=var)
        np.divide(1, rstd, out=rstd)  # (rows, 1)
        xhat *= rstd
        weight = affine[0].reshape(d) if affine else None
        ctx.save_for_backward(xhat, rstd, weight)
        if weight is None:
            return xhat.reshape(x.shape)
        y = xhat * weight
        if len(affine) == 2:
            y += affine[1].reshape(d)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        d = xhat.shape[1]
        g = grad.reshape(xhat.shape)
        gxhat = g * weight if weight is not None else g  # dL/dxhat
        dx = None
        if xhat.size == 0:
            dx = np.zeros(grad.shape, dtype=grad.dtype) if ctx.needs_input_grad[0] else None
        elif ctx.needs_input_grad[0]:
            # dx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)), means over the row
            dx = xhat * (np.einsum("ij,ij->i", gxhat, xhat)[:, None] / d)
            np.subtract(gxhat, dx, out=dx)
            dx -= gxhat.mean(axis=1, keepdims=True)
            dx *= rstd
            dx = dx.reshape(grad.shape)
        grads = [dx]
        if weight is not None:
            shape = ctx.input_shapes[1]
            needs = ctx.needs_input_grad[1]
            # dw = sum g * xhat
            grads.append(np.einsum("ij,ij->j", g, xhat).reshape(shape) if needs else None)
        if len(ctx.needs_input_grad) == 3:
            # db = sum g
            grads.append(g.sum(axis=0).reshape(ctx.input_shapes[2]) if ctx.needs_input_grad[2] else None)
        return tuple(grads)


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
        x2 = x.reshape(-1, d)  # (rows, D)
        rstd = np.einsum("ij,ij->i", x2, x2)[:, None]
        rstd /= d
        rstd += eps
        np.sqrt(rstd, out=rstd)
        np.divide(1, rstd, out=rstd)  # (rows, 1)
        xhat = x2 * rstd
        weight = affine[0].reshape(d) if affine else None
        ctx.save_for_backward(xhat, rstd, weight)
        return (xhat if weight is None else xhat * weight).reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        d = xhat.shape[1]
        g = grad.reshape(-1, d)
        gxhat = g * weight if weight is not None else g  # dL/dxhat
        dx = None
        if ctx.needs_input_grad[0]:
            # dx = rstd * (gxhat - xhat * mean(gxhat * xhat)), the mean over the row
            dx = xhat * (np.einsum("ij,ij->i", gxhat, xhat)[:, None] / d)
            np.subtract(gxhat, dx, out=dx)
            dx *= rstd
            dx = dx.reshape(grad.shape)
        if weight is None:
            return dx
        dw = np.einsum("ij,ij->j", g, xhat).reshape(ctx.input_shapes[1]) if ctx.needs_input_grad[1] else None
        return dx, dw  # dw = sum over rows of g * xhat


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


class Gelu(Function):
    """GELU(x) = x Phi(x), Phi the standard normal CDF.

    approximate="none": Phi(x) = (1 + erf(x / sqrt 2)) / 2, exact (to rounding; see erf.normal_cdf).
    approximate="tanh": Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
    """

    @staticmethod
    def forward(ctx, x, approximate):
        shape = x.shape
        x = np.atleast_1d(x)  # a 0-d array would decay to a numpy scalar, which takes no out=
        if approximate == "tanh":
            t = x * x
            t *= _GELU_CUBIC
            t += 1
            t *= x
            t *= _SQRT_2_OVER_PI
            np.tanh(t, out=t)
            y = t + 1
            y *= x
            y *= 0.5
            if ctx.needs_input_grad[0]:
                # d/dx = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2,  t = tanh(...)
                d = x * x
                d *= 3 * _GELU_CUBIC * _SQRT_2_OVER_PI
                d += _SQRT_2_OVER_PI
                d *= x
                one_minus_t2 = t * t
                np.subtract(1, one_minus_t2, out=one_minus_t2)
                d *= one_minus_t2
                d += t
                d += 1
                d *= 0.5
                ctx.save_for_backward(d.reshape(shape))
        else:
            cdf = normal_cdf(x)
            y = x * cdf
            if ctx.needs_input_grad[0]:
                # d/dx = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
                d = x * x
                d *= -0.5
                np.exp(d, out=d)
                d *= _INV_SQRT_2PI
                d *= x
                d += cdf
                ctx.save_for_backward(d.reshape(shape))
        return y.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors  # GELU'(x), computed in forward: one saved array instead of two
        return grad * d  # dx = g * GELU'(x)


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
        probs = logits - logits.max(axis=1, keepdims=True)
        picked = probs[np.arange(len(safe)), safe]  # (N,) shifted logit of each target
        if label_smoothing:
            picked *= 1 - label_smoothing
            picked += label_smoothing * probs.mean(axis=1)  # the smoothed target's share of the logits
        np.exp(probs, out=probs)
        total = probs.sum(axis=1)  # (N,)
        probs /= total[:, None]  # softmax
        losses = np.log(total)
        losses -= picked  # -log softmax at the (smoothed) target
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
        e = ctx.label_smoothing
        if ctx.reduction == "mean":
            weight = valid * (grad / max(ctx.count, 1))  # (N,) each row's share of the gradient
        else:
            weight = valid * grad
        dx = probs * weight[:, None]
        dx[np.arange(len(safe)), safe] -= (1 - e) * weight if e else weight
        if e:
            dx -= (e / probs.shape[1]) * weight[:, None]
        # dL/dlogits = (softmax - (1 - e) onehot(target) - e / C) * weight, weight = g / N for "mean"
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
        # dW[k] = sum of the gradient rows whose id is k (0 for k = padding_idx). Sorting the
        # ids and summing each run with reduceat is ~5x faster here than the obvious np.add.at.
        (ids,) = ctx.saved_tensors
        ids = ids.reshape(-1)
        dw = np.zeros(ctx.input_shapes[0], dtype=grad.dtype)
        if ids.size:
            order = np.argsort(ids, kind="stable")
            sorted_ids = ids[order]
            starts = np.flatnonzero(np.diff(sorted_ids, prepend=-1))  # where each run of equal ids begins
            rows = grad.reshape(-1, grad.shape[-1])[order]
            dw[sorted_ids[starts]] = np.add.reduceat(rows, starts, axis=0)
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
