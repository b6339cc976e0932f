"""Property tests over random broadcastable shapes: the binary operators and matmul's batch
broadcasting give each input a gradient of that input's shape, equal to a numpy reference (which
sums the broadcast gradient by bincount, independently of minigrad's own `unbroadcast`) and, where
PyTorch is installed, to PyTorch's."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import minigrad as mg

try:
    import torch
except ImportError:
    torch = None

# op name -> (forward, d out / d a, d out / d b), all elementwise on broadcast arrays
BINARY: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = {
    "+": (lambda a, b: a + b, lambda a, b: np.ones_like(a * b), lambda a, b: np.ones_like(a * b)),
    "-": (lambda a, b: a - b, lambda a, b: np.ones_like(a * b), lambda a, b: -np.ones_like(a * b)),
    "*": (lambda a, b: a * b, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b),
    "/": (lambda a, b: a / b, lambda a, b: 1 / b + 0 * a, lambda a, b: -a / (b * b)),
}

SETTINGS = settings(max_examples=30, deadline=None)


def sum_to(full: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient of the broadcast shape back to `shape`: each output element adds into the
    input element it was read from (found by broadcasting the input's flat indices)."""
    source = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), full.shape)
    return np.bincount(source.ravel(), weights=full.ravel(), minlength=int(np.prod(shape))).reshape(shape)


def random_operands(shapes: tuple[tuple[int, ...], ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal(shapes[0]))  # asarray: a 0-d draw is a Python float
    b = np.asarray(rng.standard_normal(shapes[1]))
    b = np.where(b >= 0, 1.0, -1.0) * (0.5 + np.abs(b))  # keep divisors away from zero
    return [a, b]


def minigrad_grads(fn: Callable[..., Any], arrays: list[np.ndarray],
                   grad: np.ndarray | None) -> tuple[Any, list[Any]]:
    inputs = [mg.tensor(x, requires_grad=True) for x in arrays]
    out = fn(*inputs)
    out.backward(grad)
    return out, [x.grad for x in inputs]


def torch_grads(fn: Callable[..., Any], arrays: list[np.ndarray],
                grad: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    inputs = [torch.tensor(x, requires_grad=True) for x in arrays]
    out = fn(*inputs)
    out.backward(torch.from_numpy(np.asarray(grad)))
    return out.detach().numpy(), [x.grad.numpy() for x in inputs]


def assert_matches(out: Any, ga: Any, gb: Any, expected: Any) -> None:
    for what, ours, theirs in zip(("forward", "grad a", "grad b"), (out, ga, gb), expected):
        np.testing.assert_allclose(ours.data, theirs, rtol=1e-10, atol=1e-12, err_msg=what)


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)),
       shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
       seed=st.integers(0, 2**16))
def test_binary_op_gradients_have_input_shapes_and_match_reference(op: str, shapes: Any, seed: int) -> None:
    forward, d_a, d_b = BINARY[op]
    a, b = random_operands(shapes.input_shapes, seed)
    grad = np.random.default_rng(seed + 1).standard_normal(shapes.result_shape)
    out, (ga, gb) = minigrad_grads(forward, [a, b], grad)

    assert out.shape == shapes.result_shape
    assert ga.shape == a.shape and gb.shape == b.shape
    assert ga.dtype == gb.dtype == np.float64
    expected = [forward(a, b), sum_to(grad * d_a(a, b), a.shape), sum_to(grad * d_b(a, b), b.shape)]
    assert_matches(out, ga, gb, expected)
    if torch is not None:
        expected_out, (ea, eb) = torch_grads(forward, [a, b], grad)
        assert_matches(out, ga, gb, [expected_out, ea, eb])


def matmul_reference(a: np.ndarray, b: np.ndarray,
                     grad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward and input gradients of a @ b with every batch dimension broadcast explicitly."""
    a2 = a[None, :] if a.ndim == 1 else a  # a 1-D left operand is a row
    b2 = b[:, None] if b.ndim == 1 else b  # a 1-D right operand is a column
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    A = np.broadcast_to(a2, batch + a2.shape[-2:])
    B = np.broadcast_to(b2, batch + b2.shape[-2:])
    out = np.einsum("...ij,...jk->...ik", A, B)
    g = grad.reshape(out.shape)
    ga = sum_to(np.einsum("...ik,...jk->...ij", g, B), a2.shape).reshape(a.shape)
    gb = sum_to(np.einsum("...ij,...ik->...jk", A, g), b2.shape).reshape(b.shape)
    return out.reshape(grad.shape), ga, gb


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=4, max_side=4),
       seed=st.integers(0, 2**16))
def test_matmul_batch_broadcasting_gradients_have_input_shapes_and_match_reference(
        shapes: Any, seed: int) -> None:
    a, b = random_operands(shapes.input_shapes, seed)
    grad = np.random.default_rng(seed + 1).standard_normal(shapes.result_shape)
    out, (ga, gb) = minigrad_grads(lambda x, y: x @ y, [a, b], grad)

    assert out.shape == shapes.result_shape
    assert ga.shape == a.shape and gb.shape == b.shape
    assert_matches(out, ga, gb, matmul_reference(a, b, grad))
    if torch is not None:
        expected_out, (ea, eb) = torch_grads(lambda x, y: x @ y, [a, b], grad)
        assert_matches(out, ga, gb, [expected_out, ea, eb])
