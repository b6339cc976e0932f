"""minigrad.functional and the fused ops behind it.

The gradient checks and float64 PyTorch comparisons of every op, on several shapes, are the
table in cases_nn.py, run by test_op_registry.py and test_ops_torch.py. This file checks the
rest: erf's accuracy, float32 behaviour on realistic sizes, dropout's semantics, edge cases,
and every error message.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.ops import nn as ops
from minigrad.ops.erf import erf, normal_cdf


def randn(*dims: int, seed: int = 0, dtype: Any = np.float32, scale: float = 1.0,
          requires_grad: bool = True) -> mg.Tensor:
    data = scale * np.random.default_rng(seed).standard_normal(dims)
    return mg.tensor(data.astype(dtype), requires_grad=requires_grad)


# ----- erf ------------------------------------------------------------------------------------------
def test_erf_matches_math_erf_to_float64_rounding() -> None:
    x = np.concatenate([np.linspace(-10, 10, 40001), [0.46875, -0.46875, 4.0, -4.0, 26.0, -27.0]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=0, atol=1e-15)


def test_erf_is_relatively_accurate_near_zero() -> None:
    x = np.concatenate([np.geomspace(1e-300, 0.5, 500), -np.geomspace(1e-300, 0.5, 500), [0.0]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=1e-15, atol=0)


def test_erf_special_values() -> None:
    out = erf(np.array([np.inf, -np.inf, 1e300, -1e300, np.nan]))
    np.testing.assert_array_equal(out[:4], [1.0, -1.0, 1.0, -1.0])
    assert np.isnan(out[4])


def test_erf_float32_stays_float32_and_is_accurate_to_float32() -> None:
    x = np.linspace(-6, 6, 20001, dtype=np.float32)
    out = erf(x)
    assert out.dtype == np.float32
    expected = np.array([math.erf(v) for v in x.astype(np.float64)])
    np.testing.assert_allclose(out, expected, rtol=0, atol=3e-7)
    tiny = np.geomspace(1e-30, 0.5, 300, dtype=np.float32)
    expected = np.array([math.erf(v) for v in tiny.astype(np.float64)])
    np.testing.assert_allclose(erf(-tiny), -expected, rtol=4e-7, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_cdf_keeps_its_relative_accuracy_in_the_lower_tail(dtype) -> None:
    # 1 + erf(x / sqrt 2) cancels for negative x; in float32 it was 19% off at x = -5.
    x = np.concatenate([np.linspace(-9, 6, 30001), [-1e6, 1e6]]).astype(dtype)
    expected = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)])
    out = normal_cdf(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=2e-5 if dtype == np.float32 else 1e-9, atol=0)
    x = np.float32(-3.0) + np.float32(1e-6) * np.arange(-5, 6, dtype=np.float32)  # the switch of formulas
    assert np.all(np.diff(normal_cdf(x)) >= 0)
    view = np.linspace(-8, 8, 48, dtype=np.float32).reshape(6, 8)[::2, ::3].T
    np.testing.assert_array_equal(normal_cdf(view), normal_cdf(view.copy()))
    assert normal_cdf(np.array(-5.0, dtype=np.float32)).shape == ()


def test_erf_keeps_shape_and_reads_non_contiguous_input() -> None:
    x = np.random.default_rng(0).standard_normal((6, 8)) * 3
    view = x[::2, ::3].T
    expected = np.vectorize(math.erf)(view)
    np.testing.assert_allclose(erf(view), expected, atol=1e-15)
    assert erf(np.float64(0.5)).shape == ()


# ----- one node per function, float32 in and out --------------------------------------------------
FUSED: list[tuple[str, Callable[[mg.Tensor], mg.Tensor], type]] = [
    ("softmax", lambda x: F.softmax(x, -1), ops.Softmax),
    ("log_softmax", lambda x: F.log_softmax(x, 0), ops.LogSoftmax),
    ("layer_norm", lambda x: F.layer_norm(x, 8), ops.LayerNorm),
    ("gelu", lambda x: F.gelu(x), ops.Gelu),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), ops.Gelu),
    ("cross_entropy", lambda x: F.cross_entropy(x, np.array([0, 7, 3, -100, 5])), ops.CrossEntropy),
    ("dropout", lambda x: F.dropout(x, 0.3), ops.Dropout),
    ("cross_entropy_smoothed",
     lambda x: F.cross_entropy(x, np.array([0, 7, 3, -100, 5]), label_smoothing=0.1), ops.CrossEntropy),
    ("rms_norm", lambda x: F.rms_norm(x, 8), ops.RmsNorm),
    ("silu", lambda x: F.silu(x), ops.Silu),
    ("softplus", lambda x: F.softplus(x), ops.Softplus),
]


@pytest.mark.parametrize("name,fn,op", FUSED, ids=[f[0] for f in FUSED])
def test_fused_function_records_one_node_and_keeps_float32(name: str, fn: Callable, op: type) -> None:
    x = randn(5, 8)
    y = fn(x)
    assert type(y.grad_fn) is op and y.grad_fn.parents == (x,)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


def test_layer_norm_and_embedding_parameters_keep_float32() -> None:
    x, w, b = randn(4, 6), randn(6, seed=1), randn(6, seed=2)
    F.layer_norm(x, 6, w, b).sum().backward()
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32
    table = randn(10, 3)
    out = F.embedding(np.array([1, 2]), table)
    out.sum().backward()
    assert out.dtype == np.float32 and table.grad.dtype == np.float32


def test_backward_twice_with_retain_graph_gives_the_same_gradient() -> None:
    # a backward that wrote into its saved arrays (or into the incoming gradient) would drift
    for name, fn, _ in FUSED:
        x = randn(5, 8, dtype=np.float64)
        y = fn(x)
        grad = np.random.default_rng(1).standard_normal(y.shape)
        kept = grad.copy()
        y.backward(grad, retain_graph=True)
        first = x.grad.data.copy()
        y.backward(grad)
        np.testing.assert_allclose(x.grad.data, 2 * first, rtol=1e-12, err_msg=name)
        np.testing.assert_array_equal(grad, kept, err_msg=name)


def test_gelu_saves_only_its_derivative() -> None:
    for approximate in ("none", "tanh"):
        x = randn(4, 3, dtype=np.float64)
        (saved,) = F.gelu(x, approximate=approximate).grad_fn.saved_tensors
        assert saved.shape == (4, 3) and not np.shares_memory(saved, x.data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_and_gelu_of_a_0d_tensor(dtype) -> None:
    # numpy arithmetic on 0-d arrays returns scalars, which in-place ufuncs (out=) reject
    value = erf(np.asarray(0.7, dtype=dtype))
    assert value.shape == () and value.dtype == dtype
    assert value == pytest.approx(math.erf(0.7), rel=1e-6)
    for approximate in ("none", "tanh"):
        x = mg.tensor(np.asarray(0.7, dtype=dtype), requires_grad=True)
        y = F.gelu(x, approximate=approximate)
        y.backward()
        assert y.shape == () and x.grad.shape == () and y.dtype == x.grad.dtype == dtype
        expected = F.gelu(mg.tensor(np.full(1, 0.7, dtype=dtype)), approximate=approximate).item()
        assert y.item() == expected
    assert mg.gradcheck(F.gelu, [mg.tensor(0.7, dtype=np.float64, requires_grad=True)])


def test_layer_norm_output_has_zero_mean_and_unit_variance() -> None:
    x = randn(3, 4, 16, scale=5.0)
    y = F.layer_norm(x, (4, 16)).data.reshape(3, -1)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(y.var(axis=1), 1, atol=1e-4)


def test_softmax_method_on_tensor_uses_the_fused_op() -> None:
    x = randn(2, 3)
    assert type(x.softmax(-1).grad_fn) is ops.Softmax
    np.testing.assert_allclose(x.softmax(1).data.sum(axis=1), 1, rtol=1e-6)


def test_linear_and_convenience_functions() -> None:
    x, w, b = (randn(2, 3, 4, dtype=np.float64), randn(5, 4, seed=1, dtype=np.float64),
               randn(5, seed=2, dtype=np.float64))
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data, rtol=1e-12)
    np.testing.assert_allclose(F.linear(x, w).data, x.data @ w.data.T, rtol=1e-12)
    assert mg.gradcheck(lambda x, w, b: F.linear(x, w, b), [x, w, b])
    np.testing.assert_array_equal(F.relu(x).data, np.maximum(x.data, 0))
    np.testing.assert_allclose(F.tanh(x).data, np.tanh(x.data))
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp(-x.data)))


# ----- cross_entropy ------------------------------------------------------------------------------
def test_cross_entropy_mean_divides_by_the_rows_not_ignored() -> None:
    x = randn(4, 3, dtype=np.float64)
    target = np.array([2, -100, 0, -100])
    per_row = F.cross_entropy(x, target, reduction="none").data
    assert per_row[1] == 0 and per_row[3] == 0
    assert F.cross_entropy(x, target).item() == pytest.approx(per_row.sum() / 2)
    assert F.cross_entropy(x, target, reduction="sum").item() == pytest.approx(per_row.sum())


def test_cross_entropy_with_every_row_ignored_is_nan_with_zero_gradient_like_torch() -> None:
    x = randn(3, 4, dtype=np.float64)
    loss = F.cross_entropy(x, np.full(3, -100))
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, 0)
    assert F.cross_entropy(x, np.full(3, -100), reduction="sum").item() == 0


def test_cross_entropy_accepts_integer_tensor_and_list_targets() -> None:
    x = randn(3, 4)
    expected = F.cross_entropy(x, np.array([1, 0, 3])).item()
    assert F.cross_entropy(x, mg.tensor(np.array([1, 0, 3]))).item() == expected
    assert F.cross_entropy(x, [1, 0, 3]).item() == expected


# ----- embedding ----------------------------------------------------------------------------------
def test_embedding_gradient_counts_repeated_ids() -> None:
    table = randn(5, 2)
    ids = mg.tensor(np.array([[4, 1, 4], [4, 0, 1]]))  # an integer Tensor is fine too
    out = F.embedding(ids, table)
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out.data[0, 0], table.data[4])
    out.sum().backward()
    np.testing.assert_array_equal(table.grad.data[:, 0], [1, 2, 0, 0, 3])


@pytest.mark.parametrize("vocab", [3, 40, 1000])
def test_embedding_gradient_sums_runs_of_any_length(vocab: int) -> None:
    """Ids seen once (copied) and ids seen many times (summed), mixed: the sum np.add.at makes."""
    rng = np.random.default_rng(vocab)
    ids = rng.integers(0, vocab, size=(7, 30))
    ids[0, :12] = 1  # one long run
    table = mg.tensor(rng.standard_normal((vocab, 4)), requires_grad=True)
    g = rng.standard_normal((7, 30, 4))
    F.embedding(ids, table).backward(mg.tensor(g))
    expected = np.zeros((vocab, 4))
    np.add.at(expected, ids.reshape(-1), g.reshape(-1, 4))
    np.testing.assert_allclose(table.grad.data, expected, rtol=1e-12, atol=1e-12)


def test_embedding_output_is_a_copy_of_the_rows() -> None:
    table = randn(3, 2)
    out = F.embedding(np.array(1), table)
    table.data[1] = 100.0
    assert out.shape == (2,) and (out.data != 100.0).all()


# ----- dropout ------------------------------------------------------------------------------------
def test_dropout_off_returns_the_input_itself() -> None:
    x = randn(3, 4)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert x.grad_fn is None


def test_dropout_scales_the_kept_elements_and_zeros_about_p_of_them() -> None:
    x = mg.ones(200, 500)
    y = F.dropout(x, 0.3, generator=np.random.default_rng(0)).data
    assert set(np.unique(y)) == {np.float32(0), np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.01


def test_dropout_gradient_is_the_mask() -> None:
    x = randn(6, 7)
    y = F.dropout(x, 0.5, generator=np.random.default_rng(1))
    y.backward(np.ones(y.shape, dtype=np.float32))
    np.testing.assert_array_equal(x.grad.data, np.where(y.data != 0, np.float32(2), 0))


def test_dropout_uses_manual_seed_or_the_generator_given() -> None:
    x = randn(4, 6)
    mg.manual_seed(5)
    first = F.dropout(x, 0.5).data
    mg.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, first)
    a = F.dropout(x, 0.5, generator=np.random.default_rng(9)).data
    b = F.dropout(x, 0.5, generator=np.random.default_rng(9)).data
    np.testing.assert_array_equal(a, b)


# ----- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [-1, 10, 12])
def test_embedding_rejects_ids_out_of_range(bad: int) -> None:
    with pytest.raises(IndexError, match=rf"embedding: id {bad} is outside \[0, 10\)"):
        F.embedding(np.array([0, bad, 3]), randn(10, 4))


def test_embedding_rejects_non_integer_ids_and_bad_weight() -> None:
    with pytest.raises(TypeError, match="embedding: ids must be integers, got dtype float32"):
        F.embedding(mg.tensor([1.0, 2.0]), randn(10, 4))
    with pytest.raises(ValueError,
                       match=r"embedding: weight must have shape \(num_embeddings, dim\), got \(10,\)"):
        F.embedding(np.array([1]), randn(10))


def re_shape(shape: tuple) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("logits_shape,target_shape", [((2, 3, 4), (2,)), ((4, 3), (4, 1)), ((4, 3), (5,)),
                                                      ((2, 3, 4), (2, 3)), ((3,), (1,))])
def test_cross_entropy_rejects_mismatched_shapes(logits_shape: tuple, target_shape: tuple) -> None:
    message = (r"cross_entropy: expected logits \(N, C, d\.\.\.\) and target \(N, d\.\.\.\) "
               r"\(or \(C,\) and \(\)\), "
               rf"got logits of shape {re_shape(logits_shape)} and target of shape {re_shape(target_shape)}")
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(randn(*logits_shape), np.zeros(target_shape, dtype=np.int64))


def test_cross_entropy_rejects_targets_out_of_range_but_not_ignore_index() -> None:
    with pytest.raises(IndexError,
                       match=r"cross_entropy: target 3 is outside \[0, 3\) and is not ignore_index \(-100\)"):
        F.cross_entropy(randn(2, 3), np.array([0, 3]))
    with pytest.raises(IndexError, match=r"target -1 is outside \[0, 3\)"):
        F.cross_entropy(randn(2, 3), np.array([-1, 0]))
    F.cross_entropy(randn(2, 3), np.array([-1, 0]), ignore_index=-1)


def test_cross_entropy_rejects_float_targets_and_bad_reduction() -> None:
    with pytest.raises(TypeError, match="cross_entropy: target must be integers, got dtype float64"):
        F.cross_entropy(randn(2, 3), np.array([0.0, 1.0]))
    with pytest.raises(ValueError,
                       match="cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(randn(2, 3), np.array([0, 1]), reduction="avg")


def test_layer_norm_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4,\) does not match the last "
                                         r"dimensions of the input of shape \(2, 3\)"):
        F.layer_norm(randn(2, 3), 4)
    with pytest.raises(ValueError, match=r"normalized_shape \(2, 3, 4\) does not match"):
        F.layer_norm(randn(3, 4), (2, 3, 4))
    with pytest.raises(ValueError,
                       match=r"layer_norm: weight of shape \(4,\) does not match normalized_shape \(3,\)"):
        F.layer_norm(randn(2, 3), 3, weight=randn(4))
    with pytest.raises(ValueError, match=r"layer_norm: bias of shape \(3, 1\) does not match"):
        F.layer_norm(randn(2, 3), 3, bias=randn(3, 1))


def test_gelu_rejects_an_unknown_approximation() -> None:
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(randn(2), approximate="erf")


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan")])
def test_dropout_rejects_p_outside_0_1(p: float) -> None:
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\), got"):
        F.dropout(randn(2, 3), p)


def test_softmax_rejects_a_dim_out_of_range_and_integer_input() -> None:
    with pytest.raises(IndexError, match="softmax: dim 2 is out of range for 2 dimensions"):
        F.softmax(randn(2, 3), 2)
    with pytest.raises(TypeError,
                       match="log_softmax: input must be a floating-point tensor, got dtype int64"):
        F.log_softmax(mg.tensor(np.array([1, 2])), 0)


# ----- PyTorch, at realistic sizes (the small float64 cases are in cases_nn.py) ---------------------
TORCH_FUNCTIONS: list[tuple[str, Callable, Callable]] = [
    ("softmax", lambda x: F.softmax(x, -1), lambda tf, x: tf.softmax(x, -1)),
    ("log_softmax", lambda x: F.log_softmax(x, 1), lambda tf, x: tf.log_softmax(x, 1)),
    ("layer_norm", lambda x: F.layer_norm(x, 96), lambda tf, x: tf.layer_norm(x, (96,))),
    ("gelu", lambda x: F.gelu(x), lambda tf, x: tf.gelu(x)),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda tf, x: tf.gelu(x, approximate="tanh")),
]


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-12, 1e-13), (np.float32, 2e-5, 1e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("name,ours,theirs", TORCH_FUNCTIONS, ids=[f[0] for f in TORCH_FUNCTIONS])
def test_matches_torch_on_a_larger_array(name: str, ours: Callable, theirs: Callable, dtype: Any,
                                         rtol: float, atol: float) -> None:
    torch = pytest.importorskip("torch")
    x = randn(64, 96, dtype=dtype, scale=3.0)
    tx = torch.tensor(x.data, requires_grad=True)
    y, ty = ours(x), theirs(torch.nn.functional, tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=rtol, atol=atol)
    grad = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(grad)
    ty.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_and_embedding_match_torch_on_a_larger_batch(dtype: Any) -> None:
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    tol = 1e-12 if dtype == np.float64 else 1e-5
    rng = np.random.default_rng(2)
    target = rng.integers(0, 50, 256)
    target[::7] = -100
    x = randn(256, 50, dtype=dtype, scale=4.0)
    tx = torch.tensor(x.data, requires_grad=True)
    loss, tloss = F.cross_entropy(x, target), tf.cross_entropy(tx, torch.from_numpy(target))
    loss.backward()
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=tol)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=tol, atol=tol * 1e-2)

    ids = rng.integers(0, 30, (16, 20))
    w = randn(30, 8, dtype=dtype)
    tw = torch.tensor(w.data, requires_grad=True)
    out, tout = F.embedding(ids, w), tf.embedding(torch.from_numpy(ids), tw)
    grad = rng.standard_normal(out.shape).astype(dtype)
    out.backward(grad)
    tout.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    np.testing.assert_allclose(w.grad.data, tw.grad.numpy(), rtol=tol, atol=tol)


# ----- the functions added for modern blocks and losses ------------------------------------------
def test_cross_entropy_keeps_the_target_shape_for_reduction_none() -> None:
    x = randn(2, 5, 3, 4)
    target = np.random.default_rng(0).integers(0, 5, (2, 3, 4))
    losses = F.cross_entropy(x, target, reduction="none", label_smoothing=0.1)
    assert losses.shape == (2, 3, 4) and losses.dtype == np.float32
    mean = F.cross_entropy(x, target, label_smoothing=0.1).item()
    assert mean == pytest.approx(losses.data.mean(), rel=1e-6)


def test_cross_entropy_rejects_label_smoothing_outside_0_1() -> None:
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(randn(2, 3), np.array([0, 1]), label_smoothing=1.5)


def test_rms_norm_default_eps_is_the_dtype_epsilon() -> None:
    x = mg.tensor(np.zeros((2, 3), dtype=np.float32))
    x.data[0] = 1e-4
    out = F.rms_norm(x, 3).data
    expected = 1e-4 / np.sqrt(np.float32(1e-8) + np.finfo(np.float32).eps)
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)
    assert np.all(out[1] == 0)


def test_rms_norm_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape \(4,\) does not match .* \(2, 3\)"):
        F.rms_norm(randn(2, 3), 4)
    with pytest.raises(ValueError, match=r"rms_norm: weight of shape \(2,\) does not match normalized_shape"):
        F.rms_norm(randn(2, 3), 3, randn(2))


def test_leaky_relu_and_softplus_match_their_formulas() -> None:
    x = mg.tensor([-2.0, -0.5, 0.0, 3.0], requires_grad=True)
    y = F.leaky_relu(x, 0.1)
    np.testing.assert_allclose(y.data, [-0.2, -0.05, 0.0, 3.0], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.1, 0.1, 0.1, 1.0])  # at 0 the negative side, as PyTorch
    big = F.softplus(mg.tensor([30.0, -30.0, 0.0]))
    np.testing.assert_allclose(big.data, [30.0, np.log1p(np.exp(-30.0)), np.log(2.0)], rtol=1e-6)
    with pytest.raises(ValueError, match="softplus: beta must be positive, got 0"):
        F.softplus(x, beta=0)


def test_one_hot_like_torch() -> None:
    out = F.one_hot(np.array([[0, 2], [1, 2]]))
    assert out.dtype == np.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.data[0], [[1, 0, 0], [0, 0, 1]])
    assert F.one_hot(mg.tensor(np.array([1])), num_classes=4).shape == (1, 4)
    assert F.one_hot(np.zeros(0, dtype=np.int64), num_classes=3).shape == (0, 3)
    with pytest.raises(IndexError, match=r"one_hot: class 3 is outside \[0, 3\)"):
        F.one_hot(np.array([3]), num_classes=3)
    with pytest.raises(TypeError, match="one_hot: tensor must be integers"):
        F.one_hot(mg.tensor([1.0]))
