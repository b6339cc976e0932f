"""dtypes: inference from Python data, PyTorch's promotion rule, casts and the default dtype,
each compared with what PyTorch does."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import minigrad as mg

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


@pytest.fixture
def default_float64() -> Iterator[None]:
    mg.set_default_dtype(mg.float64)
    try:
        yield
    finally:
        mg.set_default_dtype(mg.float32)


def torch_dtype(torch: Any, dtype: np.dtype) -> Any:
    return getattr(torch, np.dtype(dtype).name)


# ----- names and the default ----------------------------------------------------------------------
def test_aliases_are_numpy_dtypes() -> None:
    for name in DTYPES:
        assert getattr(mg, name) == np.dtype(name)
    assert mg.tensor([1.0]).dtype == mg.float32 and mg.zeros(2, dtype=mg.int64).dtype == np.int64


def test_default_dtype_reaches_lists_constructors_and_layers(default_float64) -> None:
    assert mg.get_default_dtype() == mg.float64
    made = [mg.tensor([1.5]), mg.tensor(2.5), mg.zeros(2), mg.ones(2), mg.full(2, 1.0), mg.randn(2),
            mg.rand(2), mg.arange(0.0, 1.0, 0.5), mg.nn.Linear(2, 3).weight, mg.nn.Embedding(3, 2).weight,
            mg.nn.LayerNorm(2).bias, mg.nn.RMSNorm(2).weight]
    assert all(t.dtype == np.float64 for t in made)
    assert (mg.arange(3) / 2).dtype == np.float64 and mg.tensor([1, 2]).dtype == np.int64


def test_only_a_floating_dtype_can_be_the_default() -> None:
    with pytest.raises(TypeError, match="set_default_dtype: only floating-point dtypes .* int64"):
        mg.set_default_dtype(mg.int64)
    assert mg.get_default_dtype() == mg.float32


def test_bad_dtypes_are_type_errors_naming_the_op() -> None:
    with pytest.raises(TypeError, match="to: 'cpu' is not a supported dtype.*CPU only"):
        mg.randn(2).to("cpu")
    with pytest.raises(TypeError, match="complex"):
        mg.zeros(2, dtype=np.complex64)


# ----- inference from Python data -------------------------------------------------------------------
@pytest.mark.parametrize("data", [[1, 2, 3], [[1], [2]], 3, 2.5, [1.0, 2], [True, False], True, [],
                                  [[1, 2.5]]])
def test_python_data_gets_the_dtype_torch_infers(torch, data) -> None:
    assert mg.tensor(data).dtype == np.dtype(str(torch.tensor(data).dtype).replace("torch.", ""))


def test_full_and_arange_infer_like_torch(torch) -> None:
    for fill in (3, 3.0, True):
        assert mg.full((2,), fill).dtype.name == str(torch.full((2,), fill).dtype).replace("torch.", "")
    for args in [(4,), (0, 4, 2), (0.0, 1.0, 0.5), (0, 1, 0.25)]:
        assert mg.arange(*args).dtype.name == str(torch.arange(*args).dtype).replace("torch.", "")


def test_ids_made_from_a_list_feed_an_embedding() -> None:
    ids = mg.tensor([[0, 2, 1]])
    assert mg.nn.Embedding(3, 4)(ids).shape == (1, 3, 4)


# ----- promotion, against torch.result_type ---------------------------------------------------------
def _operands(torch: Any) -> list[tuple[str, Any, Any]]:
    """(label, minigrad operand, torch operand): tensors of every dtype, 1-d and 0-d, and numbers."""
    out = []
    for name in DTYPES:
        data = np.array([1, 3, 2]).astype(name)
        out.append((f"{name}[3]", mg.tensor(data), torch.from_numpy(data.copy())))
        out.append((f"{name}[]", mg.tensor(data[0]), torch.from_numpy(data[:1].copy()).reshape(())))
    for number in (True, 2, 2.5):
        out.append((repr(number), number, number))
    return out


def test_result_type_matches_torch_for_every_pair(torch) -> None:
    operands = _operands(torch)
    wrong = []
    for (la, a, ta), (lb, b, tb) in itertools.product(operands, repeat=2):
        if not isinstance(a, mg.Tensor) and not isinstance(b, mg.Tensor):
            continue
        theirs = str(torch.result_type(ta, tb)).replace("torch.", "")
        if mg.result_type(a, b).name != theirs:
            wrong.append(f"{la} with {lb}: {mg.result_type(a, b)} (torch {theirs})")
    assert not wrong, "\n".join(wrong)


OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "radd": lambda a, b: b + a, "rmul": lambda a, b: b * a,
    "rdiv": lambda a, b: b / a,
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_binary_ops_compute_in_torch_dtype(torch, op) -> None:
    fn = OPS[op]
    wrong = []
    for (la, a, ta), (lb, b, tb) in itertools.product(_operands(torch), repeat=2):
        if not isinstance(a, mg.Tensor):
            continue
        try:
            expected = fn(ta, tb)
        except RuntimeError:  # bool subtraction, which torch refuses
            continue
        got = fn(a, b)
        if got.dtype.name != str(expected.dtype).replace("torch.", ""):
            wrong.append(f"{la} {op} {lb}: {got.dtype} (torch {expected.dtype})")
        elif not np.allclose(got.numpy().astype(np.float64), expected.double().numpy(), rtol=2e-3,
                             equal_nan=True):
            wrong.append(f"{la} {op} {lb}: values {got.numpy()} (torch {expected.numpy()})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "neg", "sum",
                                  "max", "pow2", "pow2.0", "pow0.5", "mean"])
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float16", "float32", "float64"])
def test_unary_ops_give_torch_dtype(torch, name, dtype) -> None:
    if dtype == "bool" and name in ("neg", "relu", "abs", "pow2", "pow2.0", "pow0.5"):
        pytest.skip("torch refuses these on bool")
    data = np.array([1, 2, 3]).astype(dtype)
    fns = {"neg": lambda t: -t, "pow2": lambda t: t ** 2, "pow2.0": lambda t: t ** 2.0,
           "pow0.5": lambda t: t ** 0.5}
    fn = fns.get(name, lambda t: getattr(t, name)())
    tx = torch.from_numpy(data.copy())
    if name == "mean" and not tx.is_floating_point():
        tx = tx.float()  # torch refuses the mean of integers; minigrad gives the default float dtype
    ours, theirs = fn(mg.tensor(data)), fn(tx)
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.double().numpy(), rtol=1e-3)


def test_issue_examples_stay_in_float32() -> None:
    ids = mg.arange(4)
    for t in (ids / 2, ids * 0.5, ids.exp(), ids ** 2.0, ids.sqrt(), ids.mean()):
        assert t.dtype == np.float32
    weights = mg.randn(4, requires_grad=True)
    assert (weights * (ids / 2)).dtype == np.float32 and (weights * ids).dtype == np.float32


def test_a_float64_0d_tensor_does_not_widen_a_float32_one_but_a_float64_matrix_does() -> None:
    x = mg.randn(2, 3, requires_grad=True)
    assert (x * mg.tensor(np.float64(2.0))).dtype == np.float32
    y = x * mg.tensor(np.ones((2, 3)))
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtype_gradients_reach_inner_nodes_in_their_dtype(torch) -> None:
    data = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    x = mg.tensor(data, requires_grad=True)
    h = x.tanh()
    h.retain_grad()
    (h * mg.tensor(np.full((2, 3), 3.0))).sum().backward()  # a float64 product
    tx = torch.tensor(data, requires_grad=True)
    th = tx.tanh()
    th.retain_grad()
    (th * torch.full((2, 3), 3.0, dtype=torch.float64)).sum().backward()
    assert h.grad.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("a,b", [("int64", "float32"), ("float32", "float64"), ("int32", "int64"),
                                 ("bool", "float32")])
def test_where_cat_stack_matmul_promote(torch, a, b) -> None:
    x, y = np.ones((2, 2)).astype(a), np.ones((2, 2)).astype(b)
    tx, ty = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    mask = np.array([[True, False], [False, True]])
    expected = str(torch.result_type(tx, ty)).replace("torch.", "")
    assert mg.where(mask, mg.tensor(x), mg.tensor(y)).dtype.name == expected
    assert str(torch.where(torch.from_numpy(mask), tx, ty).dtype) == f"torch.{expected}"
    assert mg.cat([mg.tensor(x), mg.tensor(y)]).dtype.name == expected == str(torch.cat([tx, ty]).dtype)[6:]
    assert mg.stack([mg.tensor(x), mg.tensor(y)]).dtype.name == expected
    if a != "bool":
        assert (mg.tensor(x) @ mg.tensor(y)).dtype.name == expected  # torch raises here; we promote like *


def test_where_with_a_number_keeps_the_tensor_dtype() -> None:
    x = mg.randn(3)
    assert mg.where(x > 0, x, 0.0).dtype == np.float32
    assert mg.where(x > 0, mg.arange(3), 0.5).dtype == np.float32
    assert mg.where(x > 0, mg.arange(3), -1).dtype == np.int64


# ----- pow on integers ------------------------------------------------------------------------------
def test_integer_pow_with_a_negative_integer_exponent_is_refused_like_torch(torch) -> None:
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        torch.tensor([1, 2]) ** -1
    for exponent in (-1, -2, mg.tensor([2, -1])):
        with pytest.raises(ValueError, match="pow: integers to negative integer powers are not allowed"):
            mg.tensor([1, 2]) ** exponent
    assert (mg.tensor([1, 2]) ** -1.0).dtype == np.float32  # a float exponent is fine
    np.testing.assert_allclose((mg.tensor([1, 2]) ** -1.0).numpy(), (torch.tensor([1, 2]) ** -1.0).numpy())


def test_int_base_and_int_exponent_stay_int(torch) -> None:
    ours = mg.tensor([2, 3]) ** mg.tensor([3, 2])
    theirs = torch.tensor([2, 3]) ** torch.tensor([3, 2])
    assert ours.dtype == np.int64 and ours.numpy().tolist() == theirs.tolist()
    assert (2 ** mg.tensor([1, 2])).dtype == np.int64 and (2.0 ** mg.tensor([1, 2])).dtype == np.float32


# ----- casts ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,dtype", [("float", "float32"), ("double", "float64"), ("half", "float16"),
                                          ("long", "int64"), ("int", "int32"), ("bool", "bool")])
def test_cast_methods_match_torch(torch, method, dtype) -> None:
    data = np.array([-1.5, 0.0, 2.7], dtype=np.float64)
    ours, theirs = getattr(mg.tensor(data), method)(), getattr(torch.from_numpy(data.copy()), method)()
    assert ours.dtype == np.dtype(dtype) and str(theirs.dtype) == f"torch.{dtype}"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("source,target", [("float32", "float64"), ("float64", "float32"),
                                           ("float32", "float16")])
def test_float_casts_are_differentiable_like_torch(torch, source, target) -> None:
    data = np.array([0.5, -1.25, 3.0]).astype(source)
    x = mg.tensor(data, requires_grad=True)
    y = x.to(getattr(mg, target))
    (y * y * 3.0).sum().backward()
    tx = torch.from_numpy(data.copy()).requires_grad_()
    (tx.to(torch_dtype(torch, target)) ** 2 * 3.0).sum().backward()
    assert y.dtype == np.dtype(target) and x.grad.dtype == np.dtype(source)
    assert type(y.grad_fn).__name__ == "Cast"
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-3)


def test_casts_to_the_same_dtype_return_the_tensor_and_to_ints_leave_the_graph() -> None:
    x = mg.randn(3, requires_grad=True)
    assert x.float() is x and x.to(mg.float32) is x and x.to(mg.tensor([1.0])) is x
    ids = x.long()
    assert ids.dtype == np.int64 and not ids.requires_grad and ids.grad_fn is None
    assert x.to(mg.tensor(np.zeros(1))).dtype == np.float64  # to(tensor): that tensor's dtype
