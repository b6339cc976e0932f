"""The Tensor methods and minigrad.* functions added after the core: what the gradient-check
table (cases_core.py) cannot show, i.e. the non-differentiable results (indices, bool tests,
constructors), behaviour at points where a central difference is not the derivative, float32
in and out, and every error message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F


def t64(values: Any, requires_grad: bool = True) -> mg.Tensor:
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# ----- float32 stays float32 ------------------------------------------------------------------------
FLOAT32_OPS = [
    ("sin", lambda x: x.sin()),
    ("cos", lambda x: x.cos()),
    ("log1p", lambda x: x.abs().log1p()),
    ("sign", lambda x: x.sign() * x),
    ("square", lambda x: x.square()),
    ("rsqrt", lambda x: (x.abs() + 1).rsqrt()),
    ("clamp", lambda x: x.clamp(-0.5, 0.5)),
    ("maximum", lambda x: x.maximum(0.0)),
    ("minimum", lambda x: mg.minimum(x, x.flip(0))),
    ("std", lambda x: x.std(1)),
    ("logsumexp", lambda x: x.logsumexp(1)),
    ("prod", lambda x: x.prod(0)),
    ("norm", lambda x: x.norm(dim=1)),
    ("cumsum", lambda x: x.cumsum(1)),
    ("roll", lambda x: x.roll(1, 1)),
    ("pad", lambda x: F.pad(x, (1, 1))),
    ("gather", lambda x: x.gather(1, np.array([[0], [2], [1], [0]]))),
    ("topk", lambda x: x.topk(2).values),
    ("sort", lambda x: x.sort().values),
    ("einsum", lambda x: mg.einsum("ij,kj->ik", x, x)),
    ("scatter_add", lambda x: x.scatter_add(0, np.zeros((1, 3), dtype=np.int64), x[:1] * 2.0)),
    ("nll_loss", lambda x: F.nll_loss(x, np.array([0, 1, 2, 1]))),
    ("mse_loss", lambda x: F.mse_loss(x, 0.5)),
]


@pytest.mark.parametrize("name,fn", FLOAT32_OPS, ids=[n for n, _ in FLOAT32_OPS])
def test_float32_in_float32_out(name: str, fn: Any) -> None:
    x = mg.randn(4, 3, requires_grad=True, generator=np.random.default_rng(0))
    out = fn(x)
    assert out.dtype == np.float32, name
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.data).all()


# ----- against PyTorch where a central difference is not the derivative ----------------------------
def test_clamp_at_its_bounds_and_ties_match_torch() -> None:
    torch = pytest.importorskip("torch")
    data = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    ours, theirs = t64(data), torch.tensor(data, requires_grad=True)
    (ours.clamp(-1.0, 1.0) * 3.0).sum().backward()
    (theirs.clamp(-1.0, 1.0) * 3.0).sum().backward()
    np.testing.assert_array_equal(ours.grad.data, theirs.grad.numpy())  # the bounds pass the gradient
    a, b = t64([1.0, 2.0, 3.0]), t64([1.0, 0.0, 3.0])
    ta, tb = torch.tensor(a.data, requires_grad=True), torch.tensor(b.data, requires_grad=True)
    a.maximum(b).sum().backward()
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_array_equal(a.grad.data, ta.grad.numpy())
    np.testing.assert_array_equal(b.grad.data, tb.grad.numpy())


def test_prod_gradient_with_two_zeros_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    data = np.array([[0.0, 2.0, 0.0, 3.0], [0.0, 1.5, 2.0, 4.0]])
    ours, theirs = t64(data), torch.tensor(data, requires_grad=True)
    ours.prod(1).sum().backward()
    theirs.prod(1).sum().backward()
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy())


def test_norm_of_zeros_has_zero_gradient_like_torch() -> None:
    x = t64(np.zeros((2, 3)))
    x.norm().backward()
    assert np.all(x.grad.data == 0)


def test_logsumexp_of_integers_is_a_float_like_torch() -> None:
    out = mg.tensor(np.arange(3)).logsumexp(0)
    assert out.dtype == np.float32 and out.item() == pytest.approx(np.log(np.exp(np.arange(3)).sum()))


def test_logsumexp_of_all_minus_inf_is_minus_inf() -> None:
    x = mg.tensor(np.array([[-np.inf, -np.inf], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(x.logsumexp(1).data, [-np.inf, np.log(4.0)])
    np.testing.assert_allclose(mg.tensor(np.zeros((2, 0))).logsumexp(1).data, [-np.inf, -np.inf])


# ----- sorting and selection ---------------------------------------------------------------------------
def test_sort_is_stable_and_puts_nan_last_or_first_like_torch() -> None:
    torch = pytest.importorskip("torch")
    data = np.array([[3.0, 1.0, np.nan, 1.0, 3.0, 2.0], [0.0, 0.0, 0.0, -1.0, 5.0, -1.0]])
    for descending in (False, True):
        values, indices = mg.sort(mg.tensor(data), dim=1, descending=descending)
        expected = torch.sort(torch.tensor(data), dim=1, descending=descending, stable=True)
        np.testing.assert_array_equal(values.data, expected.values.numpy())
        np.testing.assert_array_equal(indices.data, expected.indices.numpy())
        assert indices.dtype == np.int64
        order = mg.tensor(data).argsort(dim=1, descending=descending)
        np.testing.assert_array_equal(order.data, expected.indices.numpy())


def test_topk_returns_values_and_indices() -> None:
    x = mg.tensor([[1.0, 5.0, 3.0, 4.0], [2.0, -1.0, 0.0, 7.0]])
    result = x.topk(2)
    assert isinstance(result, mg.ValuesIndices)
    values, indices = result
    np.testing.assert_array_equal(values.data, [[5.0, 4.0], [7.0, 2.0]])
    np.testing.assert_array_equal(indices.data, [[1, 3], [3, 0]])
    assert result.values is values and result.indices is indices
    smallest = mg.topk(x, 1, dim=0, largest=False)
    np.testing.assert_array_equal(smallest.indices.data, [[0, 1, 1, 0]])
    assert x.topk(0).values.shape == (2, 0)


def test_topk_gradient_goes_to_the_picked_elements() -> None:
    x = t64([3.0, 1.0, 4.0, 1.5])
    x.topk(2).values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 1.0, 0.0])


def test_predicates_and_tolist() -> None:
    x = mg.tensor([1.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(x.isnan().data, [False, False, False, True])
    np.testing.assert_array_equal(mg.isinf(x).data, [False, True, True, False])
    np.testing.assert_array_equal(x.isfinite().data, [True, False, False, False])
    assert mg.tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]] and mg.tensor(3.0).tolist() == 3.0


def test_chunk_and_split_like_torch() -> None:
    x = mg.arange(10.0)
    assert [c.shape[0] for c in x.chunk(3)] == [4, 4, 2]
    assert [c.shape[0] for c in x.chunk(4)] == [3, 3, 3, 1]
    assert [c.shape[0] for c in mg.arange(6.0).chunk(4)] == [2, 2, 2]
    assert [c.shape for c in mg.zeros(0).chunk(3)] == [(0,)] * 3
    assert [c.shape for c in x.split(4)] == [(4,), (4,), (2,)]
    assert [c.shape for c in mg.split(x, [3, 7])] == [(3,), (7,)]


def test_repeat_interleave_and_repeat_values() -> None:
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(x.repeat_interleave(2).data, [1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(
        x.repeat_interleave(mg.tensor(np.array([1, 2])), dim=0).data, [[1, 2], [3, 4], [3, 4]]
    )
    np.testing.assert_array_equal(x.repeat(1, 2).data, [[1, 2, 1, 2], [3, 4, 3, 4]])
    assert x.repeat(2, 1, 1).shape == (2, 2, 2)


def test_t_and_mT() -> None:
    v = mg.tensor([1.0, 2.0])
    assert v.t() is v
    assert mg.zeros(2, 3).t().shape == (3, 2) and mg.zeros(4, 2, 3).mT.shape == (4, 3, 2)


def test_pad_values() -> None:
    x = mg.tensor([[1.0, 2.0]])
    np.testing.assert_array_equal(F.pad(x, (1, 0, 0, 1), value=9.0).data, [[9, 1, 2], [9, 9, 9]])
    np.testing.assert_array_equal(F.pad(x, (-1, 0)).data, [[2.0]])


# ----- constructors ------------------------------------------------------------------------------------
def test_like_constructors_keep_shape_and_dtype() -> None:
    x = mg.zeros(2, 3, dtype=np.float64)
    for made in (mg.zeros_like(x), mg.ones_like(x), mg.full_like(x, 7.0), mg.randn_like(x)):
        assert made.shape == (2, 3) and made.dtype == np.float64 and made.is_leaf
    assert mg.ones_like(x, dtype=np.float32).dtype == np.float32
    assert mg.full_like(x, 7.0).data[0, 0] == 7.0 and mg.zeros_like(x, requires_grad=True).requires_grad


def test_eye_linspace_empty_randint() -> None:
    np.testing.assert_array_equal(mg.eye(2, 3).data, np.eye(2, 3))
    assert mg.eye(3).dtype == np.float32
    np.testing.assert_allclose(mg.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    assert mg.linspace(0, 1, 5).dtype == np.float32 and mg.empty(2, 4).shape == (2, 4)
    r = mg.randint(3, 7, (1000,), generator=np.random.default_rng(0))
    assert r.dtype == np.int64 and r.data.min() == 3 and r.data.max() == 6
    assert mg.randint(5, (2, 2)).shape == (2, 2) and mg.randint(5, (2, 2)).data.max() < 5


def test_from_numpy_and_as_tensor_share_memory() -> None:
    array = np.zeros(3, dtype=np.float64)
    shared = mg.from_numpy(array)
    array[0] = 5.0
    assert shared.data[0] == 5.0 and shared.dtype == np.float64
    assert mg.as_tensor(array).data is not None and np.shares_memory(mg.as_tensor(array).data, array)
    t = mg.tensor([1.0])
    assert mg.as_tensor(t) is t and mg.as_tensor(t, dtype=np.float64).dtype == np.float64
    assert mg.as_tensor([1, 2]).dtype == mg.tensor([1, 2]).dtype  # lists convert as minigrad.tensor does
    with pytest.raises(TypeError, match="from_numpy: expected a numpy array, got list"):
        mg.from_numpy([1.0])


# ----- einsum ------------------------------------------------------------------------------------------
def test_einsum_equals_the_matrix_product() -> None:
    a, b = mg.randn(2, 3, 4), mg.randn(2, 4, 5)
    np.testing.assert_allclose(mg.einsum("bij,bjk->bik", a, b).data, (a @ b).data, rtol=1e-5)


# ----- errors ------------------------------------------------------------------------------------------
X = mg.zeros(2, 3)
ERRORS = [
    ("clamp-no-bounds", lambda: X.clamp(), ValueError, "clamp: at least one of min and max must be given"),
    ("maximum-shapes", lambda: X.maximum(mg.zeros(4)), ValueError, r"maximum: shapes \(2, 3\) and \(4,\)"),
    ("norm-p", lambda: X.norm(0.5), ValueError, "norm: p must be 'fro', a number >= 1 or inf, got 0.5"),
    ("norm-nuc", lambda: X.norm("nuc"), ValueError, "norm: p must be"),
    ("cumsum-dim", lambda: X.cumsum(2), IndexError, "cumsum: dim 2 is out of range"),
    ("prod-dim", lambda: X.prod(5), IndexError, "prod: dim 5 is out of range"),
    (
        "flatten-order",
        lambda: mg.zeros(2, 3, 4).flatten(2, 1),
        ValueError,
        "flatten: start_dim 2 comes after end_dim 1",
    ),
    ("unflatten-sizes", lambda: X.unflatten(1, (2, 2)), ValueError, r"unflatten: shape \(2, 2\) is invalid"),
    ("t-3d", lambda: mg.zeros(2, 3, 4).t(), ValueError, r"t: expects a tensor with at most 2 dimensions"),
    ("mT-1d", lambda: mg.zeros(3).mT, ValueError, r"mT: expects a tensor with at least 2 dimensions"),
    (
        "tril-1d",
        lambda: mg.zeros(3).tril(),
        ValueError,
        r"tril: expects .* at least 2 dimensions, got shape \(3,\)",
    ),
    ("triu-1d", lambda: mg.triu(mg.zeros(3)), ValueError, r"triu: expects"),
    ("repeat-few", lambda: X.repeat(2), ValueError, r"repeat: needs at least 2 non-negative counts"),
    (
        "repeat_interleave-count",
        lambda: X.repeat_interleave(np.array([1, 2]), dim=1),
        ValueError,
        "repeat_interleave: 2 repeats for size 3 of dim 1",
    ),
    (
        "repeat_interleave-negative",
        lambda: X.repeat_interleave(-1),
        ValueError,
        "repeat_interleave: repeats must",
    ),
    ("chunk-zero", lambda: X.chunk(0), ValueError, "chunk: chunks must be positive, got 0"),
    (
        "split-sections",
        lambda: X.split([1, 1], dim=1),
        ValueError,
        r"split: sections \[1, 1\] do not add up to size 3 of dim 1",
    ),
    ("flip-dim", lambda: X.flip(3), IndexError, "flip: dim 3 is out of range"),
    ("roll-pairs", lambda: X.roll((1, 2), 0), ValueError, "roll: 2 shifts for 1 dims"),
    ("roll-flat", lambda: X.roll((1, 2)), ValueError, "roll: without dims, shifts must be one int"),
    (
        "gather-float-index",
        lambda: X.gather(1, np.zeros((2, 1))),
        TypeError,
        "gather: index must be integers, got dtype float64",
    ),
    (
        "gather-rank",
        lambda: X.gather(1, np.zeros(2, dtype=np.int64)),
        ValueError,
        r"gather: index of shape \(2,\) does not fit a tensor of shape \(2, 3\)",
    ),
    (
        "gather-larger",
        lambda: X.gather(1, np.zeros((3, 1), dtype=np.int64)),
        ValueError,
        "gather: index of shape",
    ),
    (
        "gather-range",
        lambda: X.gather(1, np.array([[0], [3]])),
        IndexError,
        "gather: index 3 is out of bounds for dim 1 with size 3",
    ),
    (
        "gather-negative",
        lambda: X.gather(0, np.array([[-1, 0, 0]])),
        IndexError,
        "gather: index -1 is out of bounds",
    ),
    (
        "scatter_add-dtype",
        lambda: X.scatter_add(0, np.zeros((1, 3), dtype=np.int64), mg.zeros(1, 3, dtype=np.float64)),
        TypeError,
        "scatter_add: src has dtype float64, self has float32",
    ),
    (
        "scatter_add-src",
        lambda: X.scatter_add(0, np.zeros((1, 3), dtype=np.int64), mg.zeros(1, 2)),
        ValueError,
        r"scatter_add: index of shape \(1, 3\) is larger than src of shape \(1, 2\)",
    ),
    (
        "masked_select",
        lambda: X.masked_select(np.ones(4, dtype=bool)),
        ValueError,
        r"masked_select: mask of shape \(4,\) does not broadcast to shape \(2, 3\)",
    ),
    ("topk-k", lambda: X.topk(4), ValueError, "topk: k=4 is out of range for size 3 of dim -1"),
    ("sort-dim", lambda: X.sort(dim=2), IndexError, "sort: dim 2 is out of range"),
    ("where-condition", lambda: X.where(np.zeros((2, 3)), 0.0), TypeError, "where: condition must be bool"),
    ("pad-mode", lambda: F.pad(X, (1, 1), mode="reflect"), ValueError, "pad: only mode='constant'"),
    (
        "pad-odd",
        lambda: F.pad(X, (1, 1, 1)),
        ValueError,
        r"pad: expected pairs \(before, after\) for at most 2 dims",
    ),
    (
        "pad-negative",
        lambda: F.pad(X, (-2, -2)),
        ValueError,
        r"pad: padding \(-2, -2\) leaves a negative size",
    ),
    ("einsum-implicit", lambda: mg.einsum("ij,jk", X, X), ValueError, "einsum: only explicit subscripts"),
    ("einsum-count", lambda: mg.einsum("ij->i", X, X), ValueError, "einsum: 'ij->i' names 1 operands, got 2"),
    (
        "einsum-rank",
        lambda: mg.einsum("ijk->i", X),
        ValueError,
        r"einsum: subscripts 'ijk' do not fit .* \(2, 3\)",
    ),
    ("einsum-diagonal", lambda: mg.einsum("ii->i", mg.zeros(3, 3)), ValueError, "a diagonal"),
    (
        "einsum-sizes",
        lambda: mg.einsum("ij,jk->ik", X, X),
        ValueError,
        "einsum: letter 'j' has sizes 3 and 2",
    ),
    ("einsum-output", lambda: mg.einsum("ij->ik", X), ValueError, "einsum: output subscripts 'ik' must be"),
    ("einsum-letters", lambda: mg.einsum("i1->i", X), ValueError, "einsum: subscripts must be letters"),
    ("eye-negative", lambda: mg.eye(-1), ValueError, "eye: sizes must be non-negative"),
    ("linspace-steps", lambda: mg.linspace(0, 1, -2), ValueError, "linspace: steps must be non-negative"),
    (
        "randint-range",
        lambda: mg.randint(5, 5, (2,)),
        ValueError,
        r"randint: high \(5\) must be larger than low",
    ),
    (
        "nll_loss-shapes",
        lambda: F.nll_loss(X, np.zeros(3, dtype=np.int64)),
        ValueError,
        r"nll_loss: expected input \(N, C, d...\) and target \(N, d...\)",
    ),
    (
        "nll_loss-range",
        lambda: F.nll_loss(X, np.array([0, 3])),
        IndexError,
        r"nll_loss: target 3 is outside \[0, 3\)",
    ),
    (
        "mse_loss-reduction",
        lambda: F.mse_loss(X, X, reduction="avg"),
        ValueError,
        "mse_loss: reduction must be 'mean', 'sum' or 'none'",
    ),
]


@pytest.mark.parametrize("fn,error,message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_op(fn: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        fn()
