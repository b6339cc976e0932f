"""Tensor: construction and dtype rules, attributes, operators, constructors and input errors."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


# ----- construction and dtypes ------------------------------------------------------------------
@pytest.mark.parametrize("data", [[1.0, 2.0], 2.5, [[1, 2.5]], []])
def test_lists_and_python_floats_become_float32(data) -> None:
    assert mg.tensor(data).dtype == np.float32


@pytest.mark.parametrize("data", [[1, 2], 3, [[1], [2]]])
def test_lists_and_python_ints_become_int64(data) -> None:
    assert mg.tensor(data).dtype == np.int64


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_])
def test_numpy_arrays_keep_their_dtype(dtype) -> None:
    assert mg.tensor(np.zeros(3, dtype=dtype)).dtype == dtype


def test_bool_lists_stay_bool_and_dtype_overrides() -> None:
    assert mg.tensor([True, False]).dtype == np.bool_
    assert mg.tensor([1, 2], dtype=np.int64).dtype == np.int64
    assert mg.tensor(np.zeros(2), dtype=np.float32).dtype == np.float32
    assert mg.tensor(np.float64(1.5)).dtype == np.float64  # a numpy scalar keeps its dtype too


@pytest.mark.parametrize("data", [np.arange(3), np.array([True, False]), np.arange(3, dtype=np.int32)])
def test_integer_and_bool_tensors_cannot_require_grad(data) -> None:
    with pytest.raises(TypeError, match=str(data.dtype)):
        mg.tensor(data, requires_grad=True)
    t = mg.tensor(data)
    with pytest.raises(TypeError, match=str(data.dtype)):
        t.requires_grad = True


def test_non_numeric_data_is_rejected() -> None:
    with pytest.raises(TypeError, match="tensor"):
        mg.tensor(["a", "b"])


def test_attributes_numpy_item_and_assignable_data() -> None:
    t = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dtype == np.float64 and len(t) == 2
    assert t.numel() == 6 and t.size() == (2, 3) and t.size(1) == 3
    assert t.numpy() is t.data  # no copy
    assert t.requires_grad and t.grad is None and t.is_leaf
    t.data = np.ones((2, 3))
    assert t.sum().item() == 6.0 and isinstance(t.sum().item(), float)
    assert mg.tensor(np.array([7])).item() == 7
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        t.item()


def test_tensor_copies_its_data_like_torch_tensor_and_the_class_shares_it() -> None:
    array = np.arange(3.0)
    t = mg.tensor(array, requires_grad=True)
    array[0] = 9.0  # the user's array is theirs: the tensor does not see the change
    assert t.data[0] == 0.0 and t.dtype == np.float64
    t.data[1] = 7.0  # nor does an in-place update of the tensor reach the array
    assert array[1] == 1.0
    u = mg.tensor(t)
    assert not np.shares_memory(u.data, t.data) and u.grad_fn is None
    assert np.shares_memory(mg.Tensor(array).data, array)  # the class itself wraps without copying


def test_results_of_ops_have_ndarray_data_even_when_0d() -> None:
    s = mg.tensor(2.0) + mg.tensor(3.0)
    assert isinstance(s.data, np.ndarray) and s.shape == ()
    assert isinstance(mg.tensor([1.0, 2.0]).sum().exp().data, np.ndarray)


def test_repr_shows_values_dtype_and_grad_state() -> None:
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=float64" in repr(mg.tensor(np.zeros(2)))
    assert "requires_grad=True" in repr(mg.tensor([1.0], requires_grad=True))
    assert "grad_fn=Mul" in repr(mg.tensor([1.0], requires_grad=True) * 2.0)


# ----- operators --------------------------------------------------------------------------------
def test_python_numbers_take_the_tensor_dtype() -> None:
    t = mg.tensor([1.0, 2.0])
    for result in (t * 2.0, 2.0 - t, 1 / t, 2 ** t, t ** 2, t + 1, t / np.float64(3.0), t * np.int64(2),
                   t ** np.float64(1.5), np.float32(2.0) * t):
        assert isinstance(result, mg.Tensor) and result.dtype == np.float32
    ids = mg.tensor(np.array([1, 2]))
    assert (ids + 1).dtype == np.int64 and (ids * np.int64(2)).dtype == np.int64


def test_reflected_operators_values_and_gradients() -> None:
    x = mg.tensor(np.array([0.5, 2.0]), requires_grad=True)
    y = (2.0 - x) + 1 / x + 2 ** x + 3 * x + (1 + x)
    np.testing.assert_allclose(y.data, (2 - x.data) + 1 / x.data + 2 ** x.data + 3 * x.data + 1 + x.data)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, -1 - 1 / x.data ** 2 + np.log(2) * 2 ** x.data + 3 + 1)


def test_numpy_array_on_the_left_defers_to_the_tensor() -> None:
    x = mg.tensor(np.ones((3, 2)), requires_grad=True)
    y = np.ones((4, 3)) @ x
    assert isinstance(y, mg.Tensor) and y.shape == (4, 2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((3, 2), 4.0))


def test_comparisons_return_bool_tensors_outside_the_graph() -> None:
    x = mg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    other = mg.tensor(np.array([3.0, 2.0, 1.0]))
    for result, expected in [(x < 2, [1, 0, 0]), (x <= 2, [1, 1, 0]), (x > other, [0, 0, 1]),
                             (x >= other, [0, 1, 1]), (x == 2.0, [0, 1, 0]), (x != other, [1, 0, 1])]:
        assert result.dtype == np.bool_ and not result.requires_grad and result.grad_fn is None
        np.testing.assert_array_equal(result.data, np.array(expected, dtype=bool))


def test_bool_of_a_one_element_tensor() -> None:
    assert bool(mg.tensor(1.0) > 0)
    with pytest.raises(ValueError):
        bool(mg.tensor([1.0, 2.0]) > 0)


def test_getitem_repeated_indices_accumulate() -> None:
    x = mg.tensor(np.arange(4.0), requires_grad=True)
    (x[[0, 0, 3, 0]] * mg.tensor(np.array([1.0, 2.0, 3.0, 4.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [7.0, 0.0, 0.0, 3.0])


def test_getitem_with_a_bool_tensor_mask() -> None:
    x = mg.tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
    y = x[x > 0]
    np.testing.assert_array_equal(y.data, [2.0, 4.0])
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 3.0, 0.0, 3.0])


def test_power_zero_has_zero_gradient_even_at_zero() -> None:
    x = mg.tensor(np.array([0.0, 2.0]), requires_grad=True)
    y = x ** 0
    np.testing.assert_array_equal(y.data, [1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])  # as PyTorch; p x^(p-1) would give nan


def test_exponent_gradient_at_base_zero_is_zero() -> None:
    t = mg.tensor(np.array([1.0, 2.5]), requires_grad=True)
    (0.0 ** t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [0.0, 0.0])  # as PyTorch; 0 * ln 0 would give nan


def test_split_takes_a_numpy_integer_size() -> None:
    pieces = mg.split(mg.tensor(np.arange(5.0)), np.int64(2))
    assert [p.shape for p in pieces] == [(2,), (2,), (1,)]


def test_split_pieces_and_where_values() -> None:
    x = mg.tensor(np.arange(10.0))
    assert [p.shape for p in mg.split(x, 4)] == [(4,), (4,), (2,)]
    assert [p.shape for p in mg.split(x, [3, 7])] == [(3,), (7,)]
    np.testing.assert_array_equal(mg.where(x.data < 3, x, -x).data[:4], [0.0, 1.0, 2.0, -3.0])


# ----- errors that name the op and the shapes ----------------------------------------------------
def test_matmul_shape_error_names_both_shapes() -> None:
    a, b = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*\(2x3 and 4x5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"batch dimensions.*\(2x3x4 and 5x4x6\)"):
        mg.tensor(np.ones((2, 3, 4))) @ mg.tensor(np.ones((5, 4, 6)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        mg.tensor(2.0) @ mg.tensor(np.ones(3))


@pytest.mark.parametrize("make, pattern", [
    (lambda x: x.reshape(5, -1), r"reshape.*\(5, -1\).*\(2, 3\)"),
    (lambda x: x.view(-1, -1), r"view: only one dimension can be -1"),
    (lambda x: x.permute(0, 0), r"permute"),
    (lambda x: x.transpose(0, 2), r"transpose: dim 2 is out of range"),
    (lambda x: x.expand(4, 3), r"expand.*\(2, 3\)"),
    (lambda x: x.sum(dim=2), r"sum: dim 2 is out of range"),
    (lambda x: x.amax(dim=(1, -1)), r"amax: dim .* repeats"),
    (lambda x: x.unsqueeze(3), r"unsqueeze: dim 3"),
    (lambda x: x[5], r"getitem.*\(2, 3\)"),
    (lambda x: x.masked_fill(np.ones((2, 3)), 0.0), r"masked_fill: mask must be a bool"),
    (lambda x: x.masked_fill(np.ones(4, dtype=bool), 0.0), r"masked_fill.*\(4,\).*\(2, 3\)"),
    (lambda x: x.var(dim=0, correction=2), r"var: 2 element"),
    (lambda x: mg.cat([x, mg.tensor(np.ones((2, 4)))], dim=0), r"cat: shapes"),
    (lambda x: mg.stack([x, mg.tensor(np.ones((3, 2)))]), r"stack: all tensors"),
    (lambda x: mg.split(x, [1, 1], dim=1), r"split: sections \[1, 1\]"),
    (lambda x: mg.where(np.ones((2, 3)), x, x), r"where: condition must be bool"),
    (lambda x: mg.where(np.ones(4, dtype=bool), x, x), r"where: shapes"),
    (lambda x: x + mg.tensor(np.ones((4, 5))), r"add: shapes \(2, 3\) and \(4, 5\) do not broadcast"),
    (lambda x: x - np.ones(4), r"sub: shapes \(2, 3\) and \(4,\) do not broadcast"),
    (lambda x: x * np.ones((3, 2)), r"mul: shapes \(2, 3\) and \(3, 2\)"),
    (lambda x: x / np.ones(2), r"div: shapes \(2, 3\) and \(2,\)"),
    (lambda x: x ** mg.tensor(np.ones(2)), r"pow: shapes \(2, 3\) and \(2,\)"),
])
def test_bad_input_errors_name_the_op(make, pattern) -> None:
    with pytest.raises((ValueError, IndexError, TypeError), match=pattern):
        make(mg.tensor(np.ones((2, 3))))


# ----- constructors and seeding -------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda **kw: mg.zeros(2, 3,
                          **kw), lambda **kw: mg.ones((2, 3), **kw), lambda **kw: mg.full((2, 3), 7.0, **kw),
    lambda **kw: mg.randn(2, 3, **kw), lambda **kw: mg.rand(2, 3, **kw),
])
def test_constructors_default_to_float32_and_take_dtype_and_requires_grad(make) -> None:
    t = make()
    assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
    t = make(dtype=np.float64, requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad and t.is_leaf


def test_constructor_values() -> None:
    np.testing.assert_array_equal(mg.full(3, 2.5).data, [2.5, 2.5, 2.5])
    assert mg.arange(4).dtype == np.int64 and mg.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_array_equal(mg.arange(1, 7, 2).data, [1, 3, 5])
    r = mg.rand(1000).data
    assert r.min() >= 0 and r.max() < 1
    with pytest.raises(TypeError, match="int64"):
        mg.arange(3, requires_grad=True)
    with pytest.raises(ValueError, match="negative"):
        mg.zeros(2, -1)


def test_manual_seed_makes_random_tensors_reproducible() -> None:
    mg.manual_seed(123)
    first = (mg.randn(3, 4).data, mg.rand(5).data)
    mg.manual_seed(123)
    second = (mg.randn(3, 4).data, mg.rand(5).data)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(mg.randn(3, 4).data, first[0])


def test_rng_state_round_trips_through_json() -> None:
    import json

    mg.manual_seed(7)
    mg.randn(2)
    state = json.loads(json.dumps(mg.get_rng_state()))  # plain data, as a checkpoint keeps it
    expected = (mg.randn(3, 4).data, mg.rand(5).data, mg.nn.Dropout(0.5)(mg.ones(8)).data)
    mg.manual_seed(99)  # another stream in between
    mg.randn(10)
    mg.set_rng_state(state)
    again = (mg.randn(3, 4).data, mg.rand(5).data, mg.nn.Dropout(0.5)(mg.ones(8)).data)
    for a, b in zip(expected, again):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="set_rng_state: expected the dict"):
        mg.set_rng_state([1, 2])
    with pytest.raises(ValueError, match="set_rng_state: not a state"):
        mg.set_rng_state({"bit_generator": "MT19937", "state": {}})


def test_a_generator_argument_is_an_independent_stream() -> None:
    mg.manual_seed(0)
    expected_default = mg.randn(4).data
    mg.manual_seed(0)
    a = mg.randn(4, generator=np.random.default_rng(5)).data
    b = mg.randn(4, generator=np.random.default_rng(5)).data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mg.randn(4).data, expected_default)  # the default stream was not used
