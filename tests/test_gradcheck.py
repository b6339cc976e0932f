"""minigrad.gradcheck as a user meets it: True on a correct op, a precise report on a wrong one."""
from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import Function, GradcheckError


class Product(Function):
    """a * b, correct."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a


class ProductWrongAt12(Product):
    """a * b whose gradient for b is off by exactly 1 at element (1, 2)."""

    @staticmethod
    def backward(ctx, grad):
        da, db = Product.backward(ctx, grad)
        db = db.copy()
        db[1, 2] += 1.0
        return da, db


def inputs(requires_grad=(True, True), dtype=np.float64) -> list[mg.Tensor]:
    rng = np.random.default_rng(3)
    return [mg.tensor(rng.standard_normal((2, 3)).astype(dtype), requires_grad=r) for r in requires_grad]


def test_returns_true_on_a_correct_custom_op() -> None:
    assert mg.gradcheck(Product.apply, inputs()) is True


@pytest.mark.parametrize("fn", [
    lambda a, b: (a * b).sum(),  # a 0-d output
    lambda a, b: (a @ b.T).tanh(),  # a matrix output
    lambda a, b: mg.stack([a, b]).max(dim=0).values,
])
def test_returns_true_for_outputs_of_any_shape(fn) -> None:
    assert mg.gradcheck(fn, inputs())


def test_a_wrong_gradient_raises_naming_input_element_and_both_values() -> None:
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(ProductWrongAt12.apply, inputs())
    message = str(info.value)
    assert "input 1" in message and "(1, 2)" in message and "1 of 6 elements" in message
    found = re.search(r"analytic (\S+), numerical (\S+?)\s", message)
    analytic, numerical = (float(v) for v in found.groups())
    assert analytic - numerical == pytest.approx(1.0, abs=1e-6)


def test_a_wrong_gradient_returns_false_without_raise_exception() -> None:
    assert mg.gradcheck(ProductWrongAt12.apply, inputs(), raise_exception=False) is False


def test_only_inputs_that_require_grad_are_checked() -> None:
    assert mg.gradcheck(ProductWrongAt12.apply, inputs(requires_grad=(True, False)))  # b's error goes unseen
    assert mg.gradcheck(lambda a, k: a * k, [inputs()[0], 3.0])  # numbers may be inputs too


def test_rejects_float32_inputs_with_a_clear_message() -> None:
    with pytest.raises(TypeError, match=r"input 0 has dtype float32.*float64"):
        mg.gradcheck(Product.apply, inputs(dtype=np.float32))


def test_rejects_inputs_that_need_no_gradient() -> None:
    with pytest.raises(ValueError, match="no input requires grad"):
        mg.gradcheck(Product.apply, inputs(requires_grad=(False, False)))


def test_rejects_fn_that_does_not_return_a_tensor() -> None:
    with pytest.raises(TypeError, match="must return a Tensor"):
        mg.gradcheck(lambda a: a.data.sum(), inputs()[:1])


def test_leaves_the_inputs_unchanged() -> None:
    xs = inputs()
    before = [x.data.copy() for x in xs]
    mg.gradcheck(Product.apply, xs)
    for x, b in zip(xs, before):
        np.testing.assert_array_equal(x.data, b)
