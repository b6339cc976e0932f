"""The neural-network functions, PyTorch style: `import minigrad.functional as F`.

Each function checks its arguments (this is where bad input enters, so the errors name the
function, the shapes and the values) and then applies one fused op from `minigrad.ops.nn`,
whose backward is a single closed-form formula. Integer arguments (`ids`, `target`) may be
numpy integer arrays, lists, or integer Tensors; they are never differentiated.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .combine import where
from .creation import default_generator
from .ops import attention, linalg
from .ops import nn as ops
from .tensor import Tensor


def _float_tensor(x: Any, op: str, what: str = "input") -> Tensor:
    t = x if isinstance(x, Tensor) else Tensor(x)
    if not np.issubdtype(t.dtype, np.floating):
        raise TypeError(f"{op}: {what} must be a floating-point tensor, got dtype {t.dtype}")
    return t


def _int_array(x: Any, op: str, what: str) -> np.ndarray:
    array = x.data if isinstance(x, Tensor) else np.asarray(x)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{op}: {what} must be integers, got dtype {array.dtype}")
    return array


def softmax(x: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`: every slice along `dim` becomes a distribution.
    The same as `x.softmax(dim)`, where the op is called."""
    return _float_tensor(x, "softmax").softmax(dim)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """log(softmax(x, dim)), computed without forming the softmax (no log of 0).
    The same as `x.log_softmax(dim)`, where the op is called."""
    return _float_tensor(x, "log_softmax").log_softmax(dim)


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each sample over its last len(normalized_shape) dimensions to mean 0 and
    variance 1 (biased variance, plus `eps`), then multiply by `weight` and add `bias`, both
    of shape `normalized_shape`."""
    x = _float_tensor(x, "layer_norm")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (normalized_shape,)
    shape = tuple(int(n) for n in normalized_shape)
    if not shape or x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the last dimensions of the input "
            f"of shape {x.shape}"
        )
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and tuple(np.shape(param)) != shape:
            raise ValueError(f"layer_norm: {name} of shape {tuple(np.shape(param))} does not match "
                             f"normalized_shape {shape}")
    if weight is None and bias is not None:  # the op takes bias after weight: use a constant one
        weight = Tensor(np.ones(shape, dtype=x.dtype))
    affine = [p for p in (weight, bias) if p is not None]
    return ops.LayerNorm.apply(x, *affine, ndim=len(shape), eps=float(eps))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF: exactly, through erf ("none"), or through
    PyTorch's tanh approximation ("tanh")."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return ops.Gelu.apply(_float_tensor(x, "gelu"), approximate=approximate)


def cross_entropy(logits: Tensor, target: Any, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """The softmax cross-entropy of logits (N, C) against integer class targets (N,); also
    (N, C, d1, ...) against (N, d1, ...) (a class per position, the classes along dim 1) and
    an unbatched (C,) against ().

    Targets equal to `ignore_index` are left out; "mean" averages over the remaining targets,
    "sum" adds them, "none" returns the per-target losses in the target's shape (0 where
    ignored). `label_smoothing` e in [0, 1] mixes the one-hot target with the uniform
    distribution: (1 - e) onehot + e / C, as PyTorch.
    """
    logits = _float_tensor(logits, "cross_entropy", "logits")
    target = _int_array(target, "cross_entropy", "target")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    shape_ok = (logits.ndim == 1 and target.ndim == 0) or (
        logits.ndim >= 2 and target.shape == logits.shape[:1] + logits.shape[2:])
    if not shape_ok:
        raise ValueError(
            f"cross_entropy: expected logits (N, C, d...) and target (N, d...) (or (C,) and ()), got logits "
            f"of shape {logits.shape} and target of shape {target.shape}"
        )
    classes = logits.shape[0] if logits.ndim == 1 else logits.shape[1]
    bad = (target != ignore_index) & ((target < 0) | (target >= classes))
    if bad.any():
        raise IndexError(
            f"cross_entropy: target {target[bad].flat[0]} is outside [0, {classes}) "
            f"and is not ignore_index ({ignore_index})"
        )
    rows = logits.reshape(1, classes) if logits.ndim == 1 else logits
    if rows.ndim > 2:  # (N, C, d...) -> (N, d..., C) -> (N * d..., C): one row per target
        rows = rows.permute(0, *range(2, rows.ndim), 1).reshape(-1, classes)
    loss = ops.CrossEntropy.apply(rows, target=target.reshape(-1), ignore_index=ignore_index,
                                  reduction=reduction, label_smoothing=float(label_smoothing))
    return loss.reshape(target.shape) if reduction == "none" and loss.shape != target.shape else loss


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) while training;
    the input itself, with nothing recorded, when not training or when p is 0. The mask comes
    from `generator`, else from the generator `minigrad.manual_seed` resets."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    x = _float_tensor(x, "dropout")
    if not training or p == 0:
        return x
    return ops.Dropout.apply(x, p=float(p), generator=generator or default_generator())


def embedding(ids: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """The rows of `weight` (num_embeddings, dim) picked by integer `ids` of any shape:
    shape ids.shape + (dim,). Ids must lie in [0, num_embeddings); negative ids do not wrap.
    The row `padding_idx` (negative counts from the end) receives no gradient."""
    ids = _int_array(ids, "embedding", "ids")
    weight = _float_tensor(weight, "embedding", "weight")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must have shape (num_embeddings, dim), got {weight.shape}")
    num = weight.shape[0]
    if ids.size:
        low, high = ids.min(), ids.max()
        if low < 0 or high >= num:
            raise IndexError(f"embedding: id {low if low < 0 else high} is outside [0, {num})")
    if padding_idx is not None:
        padding_idx = _padding_index(padding_idx, num, "embedding")
    return ops.Embedding.apply(weight, ids=ids, padding_idx=padding_idx)


def _padding_index(padding_idx: int, num: int, op: str) -> int:
    """padding_idx in [-num, num) as a non-negative row index, or an IndexError."""
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"{op}: padding_idx must be an int or None, got {type(padding_idx).__name__}")
    if not -num <= padding_idx < num:
        raise IndexError(f"{op}: padding_idx {padding_idx} is outside [-{num}, {num})")
    return int(padding_idx) % num


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with weight of shape (out, in) as in torch.nn.functional.linear."""
    if bias is None:
        return linalg.Linear.apply(x, weight)
    return linalg.Linear.apply(x, weight, bias)


def relu(x: Tensor) -> Tensor:
    return _float_tensor(x, "relu").relu()


def tanh(x: Tensor) -> Tensor:
    return _float_tensor(x, "tanh").tanh()


def sigmoid(x: Tensor) -> Tensor:
    return _float_tensor(x, "sigmoid").sigmoid()


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (SiLU, also called swish), the activation of Llama's SwiGLU block."""
    return ops.Silu.apply(_float_tensor(x, "silu"))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, a smooth relu; x itself where beta x > threshold."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    return ops.Softplus.apply(_float_tensor(x, "softplus"), beta=float(beta), threshold=float(threshold))


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    x = _float_tensor(x, "leaky_relu")
    return where(x.data > 0, x, x * float(negative_slope))


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer classes of any shape -> int64 one-hot vectors of shape tensor.shape +
    (num_classes,); num_classes=-1 takes the largest class + 1. Not differentiable."""
    classes = _int_array(tensor, "one_hot", "tensor")
    if num_classes == -1:
        num_classes = int(classes.max()) + 1 if classes.size else 0
    if classes.size and (classes.min() < 0 or classes.max() >= num_classes):
        bad = classes.min() if classes.min() < 0 else classes.max()
        raise IndexError(f"one_hot: class {bad} is outside [0, {num_classes})")
    return Tensor(np.equal(classes[..., None], np.arange(num_classes)).astype(np.int64))


def rms_norm(
    x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """Divide each sample by the root mean square of its last len(normalized_shape) dimensions
    (plus `eps` inside the root; None: the dtype's machine epsilon, as PyTorch), then multiply
    by `weight` of shape `normalized_shape`. LayerNorm without centring and bias (Llama's norm)."""
    x = _float_tensor(x, "rms_norm")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (normalized_shape,)
    shape = tuple(int(n) for n in normalized_shape)
    if not shape or x.ndim < len(shape) or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(
            f"rms_norm: normalized_shape {shape} does not match the last dimensions of the input "
            f"of shape {x.shape}"
        )
    if weight is not None and tuple(np.shape(weight)) != shape:
        raise ValueError(
            f"rms_norm: weight of shape {tuple(np.shape(weight))} does not match normalized_shape {shape}"
        )
    eps = float(np.finfo(x.dtype).eps) if eps is None else float(eps)
    affine = [] if weight is None else [weight]
    return ops.RmsNorm.apply(x, *affine, ndim=len(shape), eps=eps)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(query key^T * scale + mask) value, as one fused op (see minigrad/ops/attention.py).

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); batch dims broadcast.
    `attn_mask` broadcastable to (..., L, S): bool (True = the query may attend to that key) or
    float (added to the scores; it gets a gradient if it requires one). `is_causal` hides the
    keys after each query (j > i, aligned at the top left as in PyTorch); it excludes
    `attn_mask`. `scale` defaults to 1 / sqrt(E). `dropout_p` drops attention probabilities
    (always: pass 0 when evaluating). `enable_gqa` lets query have Hq heads (dim -3) and
    key/value Hk, Hq a multiple of Hk: each key/value head serves Hq / Hk query heads.
    A query that may attend to no key gets a zero output, as in PyTorch.
    """
    op = "scaled_dot_product_attention"
    q, k, v = (_float_tensor(t, op, name) for t, name in ((query, "query"), (key, "key"), (value, "value")))
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(
            f"{op}: query, key and value must have the same dtype, got {q.dtype}, {k.dtype} and {v.dtype}"
        )
    if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{op}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got shapes "
            f"{q.shape}, {k.shape} and {v.shape}"
        )
    lead, groups = 2, 1  # lead: the trailing dims that are not batch dims
    if enable_gqa and min(q.ndim, k.ndim, v.ndim) >= 3 and q.shape[-3] != k.shape[-3]:
        if k.shape[-3] != v.shape[-3] or q.shape[-3] % k.shape[-3]:
            raise ValueError(
                f"{op}: with enable_gqa the query heads (dim -3) must be a multiple of the key and value "
                f"heads, got shapes {q.shape}, {k.shape} and {v.shape}"
            )
        lead, groups = 3, q.shape[-3] // k.shape[-3]
    try:
        batch = np.broadcast_shapes(q.shape[:-lead], k.shape[:-lead], v.shape[:-lead]) + q.shape[-lead:-2]
    except ValueError:
        hint = "" if enable_gqa else " (different head counts need enable_gqa=True)"
        raise ValueError(
            f"{op}: the batch dims of query, key and value do not broadcast, got shapes "
            f"{q.shape}, {k.shape} and {v.shape}{hint}"
        ) from None
    scores_shape = batch + (q.shape[-2], k.shape[-2])  # (..., L, S)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1), got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: pass either attn_mask or is_causal=True, not both")

    hidden, bias = None, []
    if is_causal:
        hidden = np.triu(np.ones(scores_shape[-2:], dtype=bool), 1)  # (L, S): key j hidden from query i < j
    elif attn_mask is not None:
        mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(np.asarray(attn_mask))
        try:
            np.broadcast_shapes(mask.shape, scores_shape)
        except ValueError:
            raise ValueError(
                f"{op}: attn_mask of shape {mask.shape} does not broadcast to the scores of shape "
                f"{scores_shape}"
            ) from None
        if mask.dtype == np.bool_:
            hidden = ~mask.data
        elif mask.dtype == q.dtype:
            bias = [mask]
        else:
            raise TypeError(
                f"{op}: attn_mask must be bool or have the query's dtype {q.dtype}, got {mask.dtype}"
            )
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return attention.ScaledDotProductAttention.apply(
        q,
        k,
        v,
        *bias,
        hidden=hidden,
        scale=scale,
        groups=groups,
        dropout_p=float(dropout_p),
        generator=default_generator(),
    )
