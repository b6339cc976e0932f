"""F.scaled_dot_product_attention against PyTorch's, for every mask kind, is_causal, scale, GQA
and both float dtypes; what the fused op keeps for backward; dropout; the error messages.

The float64 gradient checks are cases in cases_nn.py; this file adds float32, the option grid
and the behaviour that a gradient check cannot see.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.ops.attention import ScaledDotProductAttention

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


def _inputs(shapes: list[tuple[int, ...]], dtype: Any, seed: int = 0) -> tuple[list[mg.Tensor], list[Any]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return (
        [mg.tensor(a, requires_grad=True) for a in arrays],
        [torch.tensor(a, requires_grad=True) for a in arrays],
    )


def _mask(kind: str, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
    """(ours, torch's) attention mask of the given kind, broadcastable to the scores."""
    rng = np.random.default_rng(1)
    if kind in ("none", "causal"):
        return None, None
    if kind == "bool":
        m = rng.random(shape) > 0.4
        m[..., 0, :] = False  # the first query may attend to no key at all
        return mg.tensor(m), torch.from_numpy(m)
    bias = rng.standard_normal(shape).astype(dtype)
    if kind == "float-inf":
        bias[..., -1, 1:] = -np.inf  # a query that sees only key 0
        bias[..., 0, :] = -np.inf  # and one that sees none
    return mg.tensor(bias), torch.from_numpy(bias)


GRID = list(
    itertools.product(
        [np.float64, np.float32],
        ["none", "bool", "float", "float-inf", "causal"],
        [None, 0.25],
        [False, True],  # GQA: 4 query heads on 2 key/value heads
    )
)


@pytest.mark.parametrize(
    "dtype,mask_kind,scale,gqa", GRID, ids=[f"{d.__name__}-{m}-scale={s}-gqa={g}" for d, m, s, g in GRID]
)
def test_matches_torch(dtype: Any, mask_kind: str, scale: float | None, gqa: bool) -> None:
    B, L, S, E, Ev = 2, 5, 6, 4, 3
    heads_q, heads_kv = (4, 2) if gqa else (3, 3)
    ours, theirs = _inputs([(B, heads_q, L, E), (B, heads_kv, S, E), (B, heads_kv, S, Ev)], dtype)
    mask, torch_mask = _mask(mask_kind, (B, 1, L, S) if mask_kind == "bool" else (heads_q, L, S), dtype)
    causal = mask_kind == "causal"
    out = F.scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=gqa)
    expected = TF.scaled_dot_product_attention(
        *theirs, attn_mask=torch_mask, is_causal=causal, scale=scale, enable_gqa=gqa
    )
    assert out.dtype == dtype and out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), **TOLERANCE[dtype])
    grad = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
    out.backward(grad)
    expected.backward(torch.from_numpy(grad))
    for name, x, tx in zip("qkv", ours, theirs):
        assert x.grad.dtype == dtype
        np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), err_msg=f"d{name}", **TOLERANCE[dtype])


def test_float_mask_gets_its_gradient_like_torch() -> None:
    (q, k, v), (tq, tk, tv) = _inputs([(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2)], np.float64)
    bias = np.random.default_rng(3).standard_normal((3, 1, 6))  # broadcast over batch and queries
    mask, torch_mask = mg.tensor(bias, requires_grad=True), torch.tensor(bias, requires_grad=True)
    F.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum().backward()
    TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch_mask).sum().backward()
    np.testing.assert_allclose(mask.grad.data, torch_mask.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_query_that_sees_no_key_gets_zeros_not_nan() -> None:
    (q, k, v), _ = _inputs([(1, 3, 4), (1, 5, 4), (1, 5, 2)], np.float32)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.sum().backward()
    assert np.all(out.data[0, 1] == 0) and np.isfinite(out.data).all()
    assert np.all(q.grad.data[0, 1] == 0) and np.isfinite(k.grad.data).all()


def test_the_probabilities_are_the_only_large_array_kept_for_backward() -> None:
    (q, k, v), _ = _inputs([(2, 2, 16, 4), (2, 2, 16, 4), (2, 2, 16, 4)], np.float32)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    node = out.grad_fn
    assert isinstance(node, ScaledDotProductAttention)
    large = [a for a in node.saved_tensors if isinstance(a, np.ndarray) and a.size >= 2 * 2 * 16 * 16]
    assert len(large) == 1 and large[0].shape == (2, 2, 16, 16)
    np.testing.assert_allclose(large[0].sum(axis=-1), 1, rtol=1e-6)  # rows of probabilities
    out.sum().backward()
    assert node.__dict__["_saved"] is None  # released after backward


def test_nothing_is_saved_when_no_input_requires_grad() -> None:
    q = mg.randn(1, 4, 3)
    with mg.no_grad():
        out = F.scaled_dot_product_attention(q, q, q)
    assert out.grad_fn is None
    out = F.scaled_dot_product_attention(q, q, q)
    assert out.grad_fn is None and out.shape == (1, 4, 3)


def test_dropout_zeroes_probabilities_and_rescales_the_rest() -> None:
    # with value = identity the output is the dropped-out probability matrix itself
    L = S = 64
    q = mg.randn(L, 8, generator=np.random.default_rng(0))
    value = mg.tensor(np.eye(S, dtype=np.float32))
    plain = F.scaled_dot_product_attention(q, q, value).data
    mg.manual_seed(0)
    dropped = F.scaled_dot_product_attention(q, q, value, dropout_p=0.25).data
    zero = dropped == 0
    assert 0.2 < zero.mean() < 0.3
    np.testing.assert_allclose(dropped[~zero], plain[~zero] / 0.75, rtol=1e-5)
    mg.manual_seed(0)
    again = F.scaled_dot_product_attention(q, q, value, dropout_p=0.25).data
    np.testing.assert_array_equal(again, dropped)  # the mask comes from minigrad's generator


def test_scale_defaults_to_one_over_sqrt_of_the_head_size() -> None:
    (q, k, v), _ = _inputs([(3, 9), (4, 9), (4, 2)], np.float64)
    default = F.scaled_dot_product_attention(q, k, v).data
    explicit = F.scaled_dot_product_attention(q, k, v, scale=1 / 3).data
    np.testing.assert_array_equal(default, explicit)


ERRORS = [
    (
        "shapes",
        dict(q=(2, 3, 4), k=(2, 5, 3), v=(2, 5, 4)),
        {},
        ValueError,
        r"scaled_dot_product_attention: expected query \(\.\.\., L, E\)"
        r".*\(2, 3, 4\), \(2, 5, 3\) and \(2, 5, 4\)",
    ),
    ("key-value-length", dict(q=(3, 4), k=(5, 4), v=(6, 4)), {}, ValueError, r"\(5, 4\) and \(6, 4\)"),
    ("batch", dict(q=(2, 3, 4), k=(3, 5, 4), v=(3, 5, 4)), {}, ValueError, "batch dims .* do not broadcast"),
    (
        "heads-without-gqa",
        dict(q=(1, 4, 3, 2), k=(1, 2, 5, 2), v=(1, 2, 5, 2)),
        {},
        ValueError,
        "enable_gqa=True",
    ),
    (
        "gqa-not-a-multiple",
        dict(q=(1, 3, 3, 2), k=(1, 2, 5, 2), v=(1, 2, 5, 2)),
        dict(enable_gqa=True),
        ValueError,
        "multiple of the key and value heads",
    ),
    (
        "mask-shape",
        dict(q=(3, 4), k=(5, 4), v=(5, 4)),
        dict(attn_mask=np.ones((3, 4), dtype=bool)),
        ValueError,
        r"attn_mask of shape \(3, 4\) does not broadcast to the scores of shape \(3, 5\)",
    ),
    (
        "mask-dtype",
        dict(q=(3, 4), k=(5, 4), v=(5, 4)),
        dict(attn_mask=np.zeros((3, 5), dtype=np.int64)),
        TypeError,
        "attn_mask must be bool or have the query's dtype float32, got int64",
    ),
    (
        "mask-and-causal",
        dict(q=(3, 4), k=(5, 4), v=(5, 4)),
        dict(attn_mask=np.ones((3, 5), dtype=bool), is_causal=True),
        ValueError,
        "not both",
    ),
    (
        "dropout",
        dict(q=(3, 4), k=(5, 4), v=(5, 4)),
        dict(dropout_p=1.0),
        ValueError,
        r"dropout_p must be in \[0, 1\)",
    ),
    ("1-d", dict(q=(4,), k=(5, 4), v=(5, 4)), {}, ValueError, "expected query"),
]


@pytest.mark.parametrize("shapes,kwargs,error,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_op_and_shapes(shapes: dict, kwargs: dict, error: type, message: str) -> None:
    q, k, v = (mg.zeros(*shapes[n]) for n in "qkv")
    with pytest.raises(error, match=message):
        F.scaled_dot_product_attention(q, k, v, **kwargs)


def test_dtype_mismatch_is_a_type_error() -> None:
    q = mg.zeros(3, 4)
    with pytest.raises(TypeError, match="same dtype, got float32, float64 and float32"):
        F.scaled_dot_product_attention(q, mg.zeros(5, 4, dtype=np.float64), mg.zeros(5, 4))
    with pytest.raises(TypeError, match="query must be a floating-point tensor"):
        F.scaled_dot_product_attention(mg.tensor(np.zeros((3, 4), dtype=np.int64)), q, q)
