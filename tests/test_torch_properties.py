"""Property tests against PyTorch: random chains of ops over random broadcastable shapes (0-d,
size-0 and size-1 dims included) and mixed int and float dtypes give the same values, the same
dtypes and the same gradients as PyTorch. Each chain starts from the first input, applies a
few elementwise steps (unary functions, casts, numbers, and binary ops with the other inputs),
then maybe one reduction."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import minigrad as mg

torch = pytest.importorskip("torch")

DTYPES = ["float32", "float64", "int64", "int32"]

# name -> f(x) written once for both libraries (the same Tensor API)
UNARY: dict[str, Callable[[Any], Any]] = {
    "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(), "abs": lambda x: x.abs(),
    "neg": lambda x: -x, "relu": lambda x: x.relu(), "exp": lambda x: (x * 0.1).exp(),
    "*0.5": lambda x: x * 0.5, "+2": lambda x: x + 2, "2-": lambda x: 2 - x, "**2": lambda x: x ** 2,
    "**2.0": lambda x: x ** 2.0, "/2": lambda x: x / 2, "float": lambda x: x.float(),
    "double": lambda x: x.double(), "long": lambda x: x.long(),
}
# binary ops take the chain so far and one of the inputs, which is never 0 (a safe divisor)
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y, "/": lambda x, y: x / y,
    "rsub": lambda x, y: y - x, "where": lambda x, y: _where(x > 0, x, y),
}


def _where(cond: Any, a: Any, b: Any) -> Any:
    return mg.where(cond, a, b) if isinstance(a, mg.Tensor) else torch.where(cond, a, b)


@st.composite
def chains(draw: st.DrawFn) -> dict[str, Any]:
    shapes = draw(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=3))
    dtypes = draw(st.lists(st.sampled_from(DTYPES), min_size=3, max_size=3))
    steps = draw(st.lists(st.one_of(st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY))),
                                    st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)),
                                              st.integers(1, 2))),
                          min_size=1, max_size=4))
    reduction = draw(st.sampled_from([None, "sum", "mean", "amax"]))
    dim = draw(st.one_of(st.none(), st.integers(-4, 3)))
    keepdim = draw(st.booleans())
    return {"shapes": shapes.input_shapes, "dtypes": dtypes, "steps": steps, "reduction": reduction,
            "dim": dim, "keepdim": keepdim, "seed": draw(st.integers(0, 2**16))}


def make_inputs(shapes: tuple[tuple[int, ...], ...], dtypes: list[str], seed: int) -> list[np.ndarray]:
    """Values away from 0 (signed), small enough that no chain overflows."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape, dtype in zip(shapes, dtypes):
        magnitude = rng.integers(1, 4, shape) if dtype.startswith("int") else rng.uniform(0.5, 2.0, shape)
        arrays.append(np.asarray(np.where(rng.random(shape) < 0.5, -1, 1) * magnitude).astype(dtype))
    return arrays


def run(chain: dict[str, Any], leaves: list[Any]) -> Any:
    x = leaves[0]
    for step in chain["steps"]:
        x = UNARY[step[1]](x) if step[0] == "unary" else BINARY[step[1]](x, leaves[step[2]])
    reduction, dim = chain["reduction"], chain["dim"]
    if reduction is None:
        return x
    if dim is not None and not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        dim = None
    sizes = x.shape if dim is None or x.ndim == 0 else (x.shape[dim],)
    if reduction == "amax" and 0 in sizes:
        return x  # no maximum of nothing, on either side
    if reduction == "mean" and (0 in sizes or not _is_float(x)):
        return x  # nan with a warning; and torch refuses the mean of ints
    if dim is None:
        return getattr(x, reduction)()
    return getattr(x, reduction)(dim, keepdim=chain["keepdim"])


def _is_float(x: Any) -> bool:
    return x.dtype.is_floating_point if isinstance(x, torch.Tensor) else x.dtype.kind == "f"


def tolerance(arrays: list[np.ndarray], casts_to_float32: bool = False) -> dict[str, float]:
    """float64's rounding only when every input is float64 and no step casts to float32;
    otherwise some step ran in float32 (an int input meets the default float dtype, or a
    `float()` step), even if the result is float64."""
    if not casts_to_float32 and all(a.dtype == np.float64 for a in arrays):
        return {"rtol": 1e-10, "atol": 1e-12}
    return {"rtol": 2e-5, "atol": 2e-6}


@settings(max_examples=60, deadline=None)
@given(chain=chains())
def test_random_op_chains_match_torch(chain: dict[str, Any]) -> None:
    arrays = make_inputs(chain["shapes"], chain["dtypes"], chain["seed"])
    ours_in = [mg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    ours, theirs = run(chain, ours_in), run(chain, theirs_in)

    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    assert ours.shape == tuple(theirs.shape)
    tol = tolerance(arrays, casts_to_float32=("unary", "float") in chain["steps"])
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **tol)
    assert ours.requires_grad == theirs.requires_grad
    if not ours.requires_grad:
        return
    grad = np.random.default_rng(chain["seed"] + 1).standard_normal(ours.shape).astype(ours.dtype)
    ours.backward(grad)
    theirs.backward(torch.from_numpy(grad.copy()))
    for x, tx in zip(ours_in, theirs_in):
        if not tx.requires_grad:
            continue
        expected = tx.grad.numpy() if tx.grad is not None else np.zeros(tx.shape, dtype=x.dtype)
        got = x.grad.numpy() if x.grad is not None else np.zeros(x.shape, dtype=x.dtype)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **tol)


@settings(max_examples=40, deadline=None)
@given(shapes=mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", min_dims=0, max_dims=3,
                                            min_side=0, max_side=3),
       dtypes=st.lists(st.sampled_from(DTYPES), min_size=2, max_size=2), seed=st.integers(0, 2**16))
def test_matmul_of_mixed_dtypes_and_empty_dims_matches_torch_with_explicit_casts(
        shapes: Any, dtypes: list[str], seed: int) -> None:
    """PyTorch's matmul refuses mixed dtypes; minigrad promotes them as `*` does, which is
    PyTorch's matmul of the operands cast to their result type (gradients included)."""
    arrays = make_inputs(shapes.input_shapes, dtypes, seed)
    ours_in = [mg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    common = torch.result_type(theirs_in[0], theirs_in[1])
    ours = ours_in[0] @ ours_in[1]
    theirs = theirs_in[0].to(common) @ theirs_in[1].to(common)
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "") and ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **tolerance(arrays))
    if not ours.requires_grad:
        return
    grad = np.random.default_rng(seed + 1).standard_normal(ours.shape).astype(ours.dtype)
    ours.backward(grad)
    theirs.backward(torch.from_numpy(grad.copy()))
    for x, tx in zip(ours_in, theirs_in):
        if tx.requires_grad:
            assert x.grad.dtype == x.dtype and x.grad.shape == x.shape
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **tolerance(arrays))
