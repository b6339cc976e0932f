"""The neural-network functions, PyTorch style: `import minigrad.functional as F`.

Each function checks its arguments (this is where bad input enters, so the errors name the
function, the shapes and the values) and then applies one fused op from `minigrad.ops.nn`,
whose backward is a single closed-form formula. Integer arguments (`ids`, `target`) may be
numpy integer arrays, lists, or integer Tensors; they are never differentiated.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .creation import default_generator
from .ops import linalg
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


def cross_entropy(logits: Tensor, target: Any, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """The softmax cross-entropy of logits (N, C) against integer class targets (N,).

    Rows whose target equals `ignore_index` are left out; "mean" averages over the remaining
    rows, "sum" adds them, "none" returns the (N,) per-row losses (0 for ignored rows).
    """
    logits = _float_tensor(logits, "cross_entropy", "logits")
    target = _int_array(target, "cross_entropy", "target")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if logits.ndim != 2 or target.ndim != 1 or target.shape[0] != logits.shape[0]:
        raise ValueError(
            f"cross_entropy: expected logits (N, C) and target (N,), got logits of shape {logits.shape} "
            f"and target of shape {target.shape}"
        )
    classes = logits.shape[1]
    bad = (target != ignore_index) & ((target < 0) | (target >= classes))
    if bad.any():
        raise IndexError(
            f"cross_entropy: target {target[bad][0]} is outside [0, {classes}) "
            f"and is not ignore_index ({ignore_index})"
        )
    return ops.CrossEntropy.apply(logits, target=target, ignore_index=ignore_index, reduction=reduction)


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
