"""Every op case with a PyTorch twin: same forward values, same input gradients, in float64."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402


def assert_close(ours: np.ndarray, theirs: Any, what: str) -> None:
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=what)


def test_matches_torch(torch_case: dict[str, Any]) -> None:
    inputs = torch_case["inputs"]()
    torch_inputs = [torch.tensor(x.data, requires_grad=x.requires_grad) for x in inputs]
    out = torch_case["fn"](*inputs)
    expected = torch_case["torch_fn"](*torch_inputs)
    assert_close(out.data, expected, "forward")

    grad = np.random.default_rng(7).standard_normal(out.shape)
    out.backward(grad)
    expected.backward(torch.from_numpy(grad))
    for i, (x, tx) in enumerate(zip(inputs, torch_inputs)):
        ours = x.grad.data if x.grad is not None else np.zeros_like(x.data)
        theirs = tx.grad if tx.grad is not None else torch.zeros_like(tx)
        assert_close(ours, theirs, f"gradient of input {i}")


def test_max_three_way_tie_splits_the_gradient_like_torch() -> None:
    # not in the gradcheck cases: a central difference sees 1/2 at a three-way tie, not 1/3
    data = np.array([[2.0, 2.0, 2.0, 1.0], [0.0, 3.0, 3.0, 3.0]])
    x, tx = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for dim in (1, None):
        x.grad, tx.grad = None, None
        (x.amax(dim) * 2.0).sum().backward()
        ((tx.amax(dim) if dim is not None else tx.amax()) * 2.0).sum().backward()
        np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)
