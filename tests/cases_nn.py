"""Gradient-check cases for the fused ops of minigrad/ops/nn.py, in the format of cases_core:

    op        the Function class the case exercises (read by the registry test)
    fn        fn(*tensors) -> Tensor, the computation to check (through minigrad.functional)
    inputs    inputs() -> list of fresh float64 leaf tensors that require grad
    torch_fn  the same computation in PyTorch, or None (dropout: PyTorch draws another mask)
    id        a readable test id
Integer arguments (ids, targets) and the dropout generator live inside `fn`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad.ops import attention
from minigrad.ops import nn as ops

CASES: list[dict[str, Any]] = []


def leaf(*dims: int, seed: int = 0, scale: float = 1.0) -> mg.Tensor:
    data = scale * np.random.default_rng(seed).standard_normal(dims)
    return mg.tensor(np.asarray(data, dtype=np.float64), requires_grad=True)


def fixed(values: list[float]) -> Callable[[], list[mg.Tensor]]:
    return lambda: [mg.tensor(np.array(values, dtype=np.float64), requires_grad=True)]


def case(op: type, id: str, fn: Callable[..., Any], inputs: Callable[[], list[mg.Tensor]],
         torch_fn: Callable[..., Any] | None) -> None:
    CASES.append({"op": op, "fn": fn, "inputs": inputs, "torch_fn": torch_fn, "id": f"{op.__name__}-{id}"})


def _tf() -> Any:
    import torch.nn.functional  # only called from torch_fn, which only the PyTorch tests run

    return torch.nn.functional


def _from(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)


def _long(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.asarray(array, dtype=np.int64))


# ----- softmax and log_softmax, along every kind of dim -------------------------------------------
for dims, dim in [((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((5,), 0)]:
    tag = f"{dims}dim={dim}"
    make = lambda dims=dims: [leaf(*dims)]
    case(ops.Softmax, tag, lambda x, dim=dim: F.softmax(x, dim), make, lambda x,
         dim=dim: _tf().softmax(x, dim))
    case(ops.LogSoftmax, tag, lambda x, dim=dim: F.log_softmax(x, dim), make,
         lambda x, dim=dim: _tf().log_softmax(x, dim))
# logits of a few hundred: a softmax without the max shift would overflow exp
case(ops.Softmax, "large", lambda x: F.softmax(x, -1), lambda: [leaf(2, 5, scale=300)],
     lambda x: _tf().softmax(x, -1))
case(ops.LogSoftmax, "large", lambda x: F.log_softmax(x, -1), lambda: [leaf(2, 5, scale=300)],
     lambda x: _tf().log_softmax(x, -1))

# ----- layer_norm: with and without weight and bias, one or two normalized dims ---------------------
case(ops.LayerNorm, "(3,5)plain", lambda x: F.layer_norm(x, 5), lambda: [leaf(3, 5)],
     lambda x: _tf().layer_norm(x, (5,)))
case(ops.LayerNorm, "(3,5)affine", lambda x, w, b: F.layer_norm(x, (5,), w, b),
     lambda: [leaf(3, 5), leaf(5, seed=1), leaf(5, seed=2)],
     lambda x, w, b: _tf().layer_norm(x, (5,), w, b))
case(ops.LayerNorm, "(2,3,4)over(3,4)affine", lambda x, w, b: F.layer_norm(x, (3, 4), w, b),
     lambda: [leaf(2, 3, 4), leaf(3, 4, seed=1), leaf(3, 4, seed=2)],
     lambda x, w, b: _tf().layer_norm(x, (3, 4), w, b))
case(ops.LayerNorm, "(2,3,4)over(3,4)plain", lambda x: F.layer_norm(x, (3, 4)), lambda: [leaf(2, 3, 4)],
     lambda x: _tf().layer_norm(x, (3, 4)))
case(ops.LayerNorm, "(4,3)weight-only,eps=0.1", lambda x, w: F.layer_norm(x, 3, w, eps=0.1),
     lambda: [leaf(4, 3), leaf(3, seed=1)], lambda x, w: _tf().layer_norm(x, (3,), w, eps=0.1))
case(ops.LayerNorm, "(2,4)bias-only", lambda x, b: F.layer_norm(x, 4, bias=b),
     lambda: [leaf(2, 4), leaf(4, seed=2)], lambda x, b: _tf().layer_norm(x, (4,), bias=b))
case(ops.LayerNorm, "(2,2,6)over(6)", lambda x, w, b: F.layer_norm(x, 6, w, b),
     lambda: [leaf(2, 2, 6), leaf(6, seed=1), leaf(6, seed=2)],
     lambda x, w, b: _tf().layer_norm(x, (6,), w, b))

# ----- gelu: both forms, on every interval of the erf approximation and far into the tails -------
GELU_POINTS = [-12.0, -7.0, -5.0, -2.5, -1.0, -0.5, -0.1, 0.05, 0.3, 0.66, 0.7, 1.3, 3.0, 5.9, 8.0, 15.0]
for approximate in ["none", "tanh"]:
    tag = f"approximate={approximate}"
    torch_gelu = lambda x, a=approximate: _tf().gelu(x, approximate=a)
    ours = lambda x, a=approximate: F.gelu(x, approximate=a)
    case(ops.Gelu, f"{tag},(3,4)", ours, lambda: [leaf(3, 4)], torch_gelu)
    case(ops.Gelu, f"{tag},(2,3,2)", ours, lambda: [leaf(2, 3, 2, scale=3)], torch_gelu)
    case(ops.Gelu, f"{tag},tails", ours, fixed(GELU_POINTS), torch_gelu)

# ----- cross_entropy: every reduction, ignored rows ---------------------------------------------------
TARGET = np.array([1, 0, 3, 3, 2])
TARGET_IGNORED = np.array([1, -100, 3, -100, 2])
TARGET_IGNORE_2 = np.array([2, 0, 2, 3, 1])
for reduction in ["mean", "sum", "none"]:
    for name, target, ignore in [("", TARGET, -100), ("ignore-100", TARGET_IGNORED, -100),
                                 ("ignore=2", TARGET_IGNORE_2, 2)]:
        case(ops.CrossEntropy, f"{reduction},{name or 'all'}",
             lambda x, t=target, i=ignore, r=reduction: F.cross_entropy(x, t, ignore_index=i, reduction=r),
             lambda: [leaf(5, 4, scale=2)],
             lambda x, t=target, i=ignore, r=reduction:
                 _tf().cross_entropy(x, _long(t), ignore_index=i, reduction=r))
case(ops.CrossEntropy, "large-logits", lambda x: F.cross_entropy(x, TARGET), lambda: [leaf(5, 4, scale=200)],
     lambda x: _tf().cross_entropy(x, _long(TARGET)))

# ----- embedding: repeated ids (their gradients add up), ids of several shapes --------------------------
IDS = np.array([[0, 2, 2], [4, 2, 0]])
case(ops.Embedding, "ids(2,3)repeated", lambda w: F.embedding(IDS, w), lambda: [leaf(5, 3)],
     lambda w: _tf().embedding(_long(IDS), w))
case(ops.Embedding, "ids(7,)", lambda w: F.embedding(np.array([3, 3, 3, 1, 0, 3, 1]), w),
     lambda: [leaf(4, 2)],
     lambda w: _tf().embedding(_long([3, 3, 3, 1, 0, 3, 1]), w))
case(ops.Embedding, "id()", lambda w: F.embedding(np.array(2), w), lambda: [leaf(3, 4)],
     lambda w: _tf().embedding(_long(2), w))

# ----- dropout: a fresh generator with a fixed seed per call, so every evaluation drops the same ----
for dims, p in [((4, 5), 0.5), ((2, 3, 4), 0.2)]:
    case(ops.Dropout, f"{dims}p={p}", lambda x, p=p: F.dropout(x, p, generator=np.random.default_rng(3)),
         lambda dims=dims: [leaf(*dims)], None)

# ----- cross_entropy: label smoothing, (N, C, d...) inputs, the unbatched form -----------------------
TARGET_2D = np.array([[1, 0, 2], [-100, 2, 2]])  # (N=2, d=3) targets for (2, 3 classes, 3) logits
for reduction in ["mean", "sum", "none"]:
    case(
        ops.CrossEntropy,
        f"{reduction},label_smoothing=0.2",
        lambda x, r=reduction: F.cross_entropy(x, TARGET_IGNORED, reduction=r, label_smoothing=0.2),
        lambda: [leaf(5, 4, scale=2)],
        lambda x, r=reduction: _tf().cross_entropy(
            x, _long(TARGET_IGNORED), reduction=r, label_smoothing=0.2
        ),
    )
    case(
        ops.CrossEntropy,
        f"{reduction},(N,C,d),label_smoothing=0.1",
        lambda x, r=reduction: F.cross_entropy(x, TARGET_2D, reduction=r, label_smoothing=0.1),
        lambda: [leaf(2, 3, 3)],
        lambda x, r=reduction: _tf().cross_entropy(x, _long(TARGET_2D), reduction=r, label_smoothing=0.1),
    )
case(
    ops.CrossEntropy,
    "(N,C,d1,d2)",
    lambda x: F.cross_entropy(x, TARGET_2D.reshape(2, 3, 1)),
    lambda: [leaf(2, 4, 3, 1)],
    lambda x: _tf().cross_entropy(x, _long(TARGET_2D.reshape(2, 3, 1))),
)
case(
    ops.CrossEntropy,
    "unbatched(C,)",
    lambda x: F.cross_entropy(x, np.array(2), label_smoothing=0.3),
    lambda: [leaf(4)],
    lambda x: _tf().cross_entropy(x, _long(np.array(2)), label_smoothing=0.3),
)
case(
    ops.CrossEntropy,
    "label_smoothing=1",
    lambda x: F.cross_entropy(x, TARGET, label_smoothing=1.0),
    lambda: [leaf(5, 4)],
    lambda x: _tf().cross_entropy(x, _long(TARGET), label_smoothing=1.0),
)

# ----- rms_norm: with and without weight, one or two normalized dims, default and given eps -------
case(
    ops.RmsNorm,
    "(3,5)plain",
    lambda x: F.rms_norm(x, 5),
    lambda: [leaf(3, 5)],
    lambda x: _tf().rms_norm(x, (5,)),
)
case(
    ops.RmsNorm,
    "(3,5)weight",
    lambda x, w: F.rms_norm(x, (5,), w),
    lambda: [leaf(3, 5), leaf(5, seed=1)],
    lambda x, w: _tf().rms_norm(x, (5,), w),
)
case(
    ops.RmsNorm,
    "(2,3,4)over(3,4)weight,eps=0.1",
    lambda x, w: F.rms_norm(x, (3, 4), w, eps=0.1),
    lambda: [leaf(2, 3, 4), leaf(3, 4, seed=1)],
    lambda x, w: _tf().rms_norm(x, (3, 4), w, eps=0.1),
)
case(
    ops.RmsNorm,
    "(6,)1-d",
    lambda x, w: F.rms_norm(x, 6, w),
    lambda: [leaf(6), leaf(6, seed=1)],
    lambda x, w: _tf().rms_norm(x, (6,), w),
)
case(
    ops.RmsNorm,
    "(2,0,4)size-0",
    lambda x: F.rms_norm(x, 4),
    lambda: [leaf(2, 0, 4)],
    lambda x: _tf().rms_norm(x, (4,)),
)

# ----- activations: silu, softplus (both sides of the threshold) -----------------------------------
for dims in [(3, 4), (), (2, 0, 3)]:
    case(
        ops.Silu,
        f"{dims}",
        lambda x: F.silu(x),
        lambda dims=dims: [leaf(*dims, scale=3)],
        lambda x: _tf().silu(x),
    )
    case(
        ops.Softplus,
        f"{dims}",
        lambda x: F.softplus(x),
        lambda dims=dims: [leaf(*dims, scale=3)],
        lambda x: _tf().softplus(x),
    )
case(
    ops.Silu,
    "tails",
    lambda x: F.silu(x),
    fixed([-50.0, -20.0, -1.0, 0.0, 1.0, 20.0, 50.0]),
    lambda x: _tf().silu(x),
)
case(
    ops.Softplus,
    "beta=2,threshold=3",
    lambda x: F.softplus(x, beta=2.0, threshold=3.0),
    fixed([-40.0, -2.0, -0.3, 0.4, 1.2, 1.6, 20.0]),
    lambda x: _tf().softplus(x, beta=2.0, threshold=3.0),
)

# ----- scaled_dot_product_attention: every mask kind, causal, scale, GQA, broadcast batches --------
SDPA_BOOL_MASK = np.random.default_rng(5).random((3, 4)) > 0.4  # (L, S), True = may attend
SDPA_BOOL_MASK[1] = False  # a query that may attend to no key: zero output and gradients
SDPA_CASES: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[tuple[int, ...], ...]]] = [
    (
        "plain",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
        lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v),
        ((2, 2, 3, 4), (2, 2, 4, 4), (2, 2, 4, 3)),
    ),
    (
        "causal,L<S",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v, is_causal=True),
        ((1, 2, 3, 4), (1, 2, 4, 4), (1, 2, 4, 2)),
    ),
    (
        "causal,scale=0.7,L>S",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
        lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
        ((2, 4, 3), (2, 3, 3), (2, 3, 2)),
    ),
    (
        "bool-mask",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(SDPA_BOOL_MASK)),
        lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v, attn_mask=_from(SDPA_BOOL_MASK)),
        ((2, 2, 3, 4), (2, 2, 4, 4), (2, 2, 4, 3)),
    ),
    (
        "float-mask-with-grad",
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        lambda q, k, v, m: _tf().scaled_dot_product_attention(q, k, v, attn_mask=m),
        ((2, 2, 3, 4), (2, 2, 4, 4), (2, 2, 4, 3), (2, 1, 3, 4)),
    ),
    (
        "gqa",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
        lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v, enable_gqa=True),
        ((1, 4, 3, 2), (1, 2, 4, 2), (1, 2, 4, 3)),
    ),
    (
        "gqa,causal,float-mask",
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True),
        lambda q, k, v, m: _tf().scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True),
        ((2, 4, 3, 2), (2, 1, 3, 2), (2, 1, 3, 2), (4, 3, 3)),
    ),
    (
        "broadcast-batch",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
        lambda q, k, v: _tf().scaled_dot_product_attention(q, k, v),
        ((2, 3, 2, 3), (3, 4, 3), (1, 3, 4, 2)),
    ),
]
for tag, fn, torch_fn, shapes in SDPA_CASES:
    case(
        attention.ScaledDotProductAttention,
        tag,
        fn,
        lambda shapes=shapes: [leaf(*s, seed=i) for i, s in enumerate(shapes)],
        torch_fn,
    )


def _sdpa_dropout_reseeded(q: mg.Tensor, k: mg.Tensor, v: mg.Tensor) -> mg.Tensor:
    """Attention with dropout, the generator reseeded first so every evaluation drops the same."""
    mg.manual_seed(4)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)


case(
    attention.ScaledDotProductAttention,
    "dropout,same-mask-each-call",
    _sdpa_dropout_reseeded,
    lambda: [leaf(2, 3, 4), leaf(2, 5, 4, seed=1), leaf(2, 5, 3, seed=2)],
    None,
)


# padding_idx drops the padding row's gradient by design; gradcheck sees the true derivative
# when the padding positions are multiplied by 0 (PyTorch's convention, as a function).
NOT_PADDING = (IDS != 2)[..., None].astype(np.float64)
case(
    ops.Embedding,
    "padding_idx=2",
    lambda w: F.embedding(IDS, w, padding_idx=2) * NOT_PADDING,
    lambda: [leaf(5, 3)],
    lambda w: _tf().embedding(_long(IDS), w, padding_idx=2) * _from(NOT_PADDING),
)
