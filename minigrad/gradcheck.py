"""Numerical gradient checking: the test every op must pass, and a tool for users' own ops.

`fn` may return a tensor of any shape y. We reduce it to one number L = sum(y * w) with a fixed
random w ~ N(0, 1), so that one backward gives the analytic dL/dx, and compare that, element by
element, with the central difference (L(x + eps e_i) - L(x - eps e_i)) / (2 eps). A random w
(rather than ones) catches errors that cancel out when the output gradient is uniform.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


def _loss(fn: Callable[..., Tensor], inputs: Sequence[Any],
          weights: np.ndarray | None) -> tuple[Tensor, np.ndarray]:
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if weights is None:
        weights = np.random.default_rng(0).standard_normal(out.shape)
    return (out * Tensor(weights.astype(out.dtype))).sum(), weights


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the analytic gradient of `fn(*inputs)` against central differences for every
    input Tensor that requires grad.

    Inputs should be float64: in float32, eps=1e-6 is below the rounding noise. Returns True
    when every element satisfies |analytic - numeric| <= atol + rtol * |numeric|; otherwise
    raises `GradcheckError` naming the input, the element and both values (or returns False
    with `raise_exception=False`).
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 inputs, "
                "finite differences are too noisy in lower precision"
            )

    for i in checked:
        inputs[i].grad = None
    loss, weights = _loss(fn, inputs, None)
    loss.backward()
    analytic = {i: (inputs[i].grad.data.copy() if inputs[i].grad is not None
                    else np.zeros_like(inputs[i].data))
                for i in checked}

    with no_grad():
        for i in checked:
            x = inputs[i].data
            flat = x.reshape(-1)  # a view: writes go into the tensor
            if x.size and not np.shares_memory(flat, x):  # (a size-0 array shares no memory)
                raise ValueError(f"gradcheck: input {i} must be a contiguous array")
            numeric = np.empty(x.size)
            for j in range(x.size):
                original = flat[j]
                flat[j] = original + eps
                plus = _loss(fn, inputs, weights)[0].item()
                flat[j] = original - eps
                minus = _loss(fn, inputs, weights)[0].item()
                flat[j] = original
                numeric[j] = (plus - minus) / (2 * eps)
            got = analytic[i].reshape(-1)
            bad = np.abs(got - numeric) > atol + rtol * np.abs(numeric)
            if bad.any():
                j = int(np.argmax(bad))
                where = np.unravel_index(j, x.shape) if x.ndim else ()
                message = (
                    f"gradcheck: gradient of input {i} (shape {x.shape}) is wrong at element "
                    f"{tuple(map(int, where))}: analytic {got[j]:.10g}, numerical {numeric[j]:.10g} "
                    f"({int(bad.sum())} of {x.size} elements differ)"
                )
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True
