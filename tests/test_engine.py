"""The backward engine: graph walk, accumulation, graph release, grad mode, custom Functions."""
from __future__ import annotations

import gc
import sys
import weakref

import cases_core
import numpy as np
import pytest

import minigrad as mg
from minigrad import Function, autograd


def f64(data, requires_grad=True) -> mg.Tensor:
    return mg.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


# ----- the walk ---------------------------------------------------------------------------------
def test_backward_through_a_chain_of_100000_ops_needs_no_recursion() -> None:
    limit = sys.getrecursionlimit()
    x = f64([1.5, -2.0])
    y = x
    for _ in range(100_000):
        y = -y  # the cheapest op: the test is about depth, not arithmetic
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])  # (-1)^100000
    assert sys.getrecursionlimit() == limit
    del y  # freeing the 100,000-deep graph must not recurse either
    gc.collect()


def test_topological_order_puts_every_node_after_its_consumers() -> None:
    x = f64([1.0, 2.0])
    a = x * 2.0
    b = a.exp()
    c = a + b  # a is consumed by b and by c
    order = autograd.topological_order(c.grad_fn)
    assert order[0] is c.grad_fn
    assert order.index(b.grad_fn) < order.index(a.grad_fn)
    assert len(order) == 3


def test_gradients_of_a_tensor_used_several_times_accumulate() -> None:
    x = f64([1.0, -2.0, 3.0])
    y = x * x + x * 3.0 + x  # dy/dx = 2x + 4
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 4)


def test_a_shared_intermediate_gets_the_sum_of_its_consumers_gradients() -> None:
    x = f64([0.5, 1.0])
    h = x.exp()
    h.retain_grad()
    (h * 2.0 + h * h).sum().backward()  # dL/dh = 2 + 2h
    np.testing.assert_allclose(h.grad.data, 2 + 2 * h.data)
    np.testing.assert_allclose(x.grad.data, (2 + 2 * h.data) * h.data)


def test_leaf_grads_are_their_own_arrays_even_when_backward_shares_one() -> None:
    # Add's backward hands the same array to both inputs; a leaf used once keeps a copy, a
    # leaf used twice keeps the sum: neither may be changed through the other's .grad
    a, b, c = f64([1.0, 2.0]), f64([3.0, 4.0]), f64([5.0, 6.0])
    out = a + b
    (out + c + c).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data *= 10  # as clip_grad_norm_ does
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])
    np.testing.assert_array_equal(c.grad.data, [2.0, 2.0])
    np.testing.assert_array_equal(a.grad.data, [10.0, 10.0])


def test_leaf_grad_accumulates_across_backward_calls_until_zeroed() -> None:
    x = f64([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 + 2 * x.data)
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])


def test_backward_on_a_leaf_sets_its_grad() -> None:
    x = f64([1.0, 2.0])
    x.backward(np.array([0.5, 4.0]))
    np.testing.assert_array_equal(x.grad.data, [0.5, 4.0])


def test_inputs_that_do_not_require_grad_get_none() -> None:
    x, c = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False)
    y = x * c
    assert y.grad_fn.needs_input_grad == (True, False)
    y.sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.data, c.data)


def test_broadcast_gradients_are_summed_to_each_input_shape() -> None:
    a, b, c = f64(np.ones((3, 1))), f64(np.ones((1, 4))), f64(2.0)
    (a + b * c).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (1, 4) and c.grad.shape == ()
    np.testing.assert_array_equal(a.grad.data, np.full((3, 1), 4.0))
    np.testing.assert_array_equal(b.grad.data, np.full((1, 4), 6.0))  # 3 rows times c = 2
    assert c.grad.item() == 12.0


# ----- releasing the graph ----------------------------------------------------------------------
def test_second_backward_raises_and_names_retain_graph() -> None:
    x = f64([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()
    np.testing.assert_array_equal(x.grad.data, 2 * x.data)  # the failed call added nothing


def test_retain_graph_allows_a_second_backward() -> None:
    x = f64([1.0, 2.0])
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = x.grad.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first)


def test_saved_arrays_are_released_after_backward() -> None:
    x = f64(np.arange(6.0).reshape(2, 3))
    a, b = x * 2.0, x + 1.0  # intermediates: only the Mul node below saves their arrays
    y = a * b
    saved = [weakref.ref(arr) for arr in y.grad_fn.saved_tensors]
    del a, b
    gc.collect()
    assert all(ref() is not None for ref in saved)  # alive while the graph may still need them
    loss = y.sum()
    loss.backward()
    gc.collect()
    assert all(ref() is None for ref in saved)
    assert all(node.__dict__.get("_saved", None) is None for node in autograd.topological_order(loss.grad_fn))


def test_retain_graph_keeps_the_saved_arrays() -> None:
    x = f64([1.0, 2.0])
    y = x * x
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.saved_tensors[0] is x.data


def test_nodes_keep_no_reference_to_intermediate_tensors() -> None:
    x = f64([1.0, 2.0])
    h = x + 1.0  # Add saves nothing, so nothing should keep h alive but the name
    y = h.sum()
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


# ----- dtypes -----------------------------------------------------------------------------------
def mixed_graph(x: mg.Tensor, w: mg.Tensor) -> mg.Tensor:
    h = (x @ w).sigmoid() * 2.0 - 1.0 / (x.abs().sum(-1, keepdim=True) + 1.0)
    reduced = h.max(dim=0).values + h.amax(dim=0) + h.var(dim=0) + h.mean(0) ** 1.7
    h = reduced + h[np.array([0, 0])].sum(0) + h.T[0].tanh().sum()
    return ((h ** 2 + 2 ** h).relu() * 0.01).exp().sum() + mg.cat([h, h.sqrt()]).mean()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_preserved_through_forward_and_backward(dtype) -> None:
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.random((3, 4)).astype(dtype), requires_grad=True)
    w = mg.tensor(rng.random((4, 2)).astype(dtype), requires_grad=True)
    loss = mixed_graph(x, w)
    assert loss.dtype == dtype
    loss.backward(retain_graph=True)
    loss.backward()  # a second accumulation must not promote either
    assert x.grad.dtype == dtype and w.grad.dtype == dtype
    assert np.isfinite(x.grad.data).all()


@pytest.mark.parametrize("case", cases_core.CASES, ids=[c["id"] for c in cases_core.CASES])
def test_every_core_op_keeps_float32(case) -> None:
    inputs = [mg.tensor(x.data.astype(np.float32), requires_grad=True) for x in case["inputs"]()]
    out = case["fn"](*inputs)
    assert out.dtype == np.float32
    grad = np.ones(out.shape, dtype=np.float32)
    out.backward(grad, retain_graph=True)
    out.backward(grad)  # the first gradient is cast on arrival; a promoted second one would show
    assert all(x.grad is None or x.grad.dtype == np.float32 for x in inputs)


def test_non_leaf_grads_keep_the_dtype() -> None:
    x = mg.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    h = x.amax(dim=1)
    h.retain_grad()
    (h * 3.0).sum().backward()
    assert h.grad.dtype == np.float32 and x.grad.dtype == np.float32


def test_leaf_grad_keeps_its_dtype_when_a_wider_gradient_accumulates_into_it() -> None:
    # x * y with y float64 sends a float64 gradient to the float32 leaf x, on every backward
    x = mg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = mg.tensor(np.full(3, 2.0))
    for _ in range(2):
        (x * y).sum().backward()
        assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0, 4.0])


# ----- backward's arguments -----------------------------------------------------------------------
def test_backward_on_a_non_scalar_needs_a_gradient_and_names_the_shape() -> None:
    y = f64(np.ones((2, 3))) * 2.0
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()


def test_backward_with_an_explicit_gradient() -> None:
    x = f64(np.ones((2, 3)))
    y = x * 2.0
    y.backward(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.grad.data, 2 * np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2.0).backward(np.ones(3))


def test_backward_of_a_one_element_non_scalar_is_allowed() -> None:
    x = f64([[2.0]])
    (x * x).backward()
    assert x.grad.item() == 4.0


def test_backward_on_a_tensor_without_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0, 2.0]).sum().backward()


def test_retain_grad_keeps_the_gradient_of_a_non_leaf() -> None:
    x = f64([1.0, 2.0, 3.0])
    h = x * 2.0
    g = x * 3.0
    h.retain_grad()
    (h * h + g).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)
    assert g.grad is None  # non-leaves keep no grad unless asked
    assert not h.is_leaf and x.is_leaf


# ----- detach and grad mode -----------------------------------------------------------------------
def test_detach_shares_data_and_cuts_the_graph() -> None:
    x = f64([1.0, 2.0])
    y = x * 2.0
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # no gradient flowed through d


def test_no_grad_as_context_manager_records_nothing() -> None:
    x = f64([1.0, 2.0])
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = (x * 2.0).exp().sum()
    assert mg.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    assert (x * 2.0).requires_grad  # recording is back on


def test_no_grad_as_decorator_and_nested() -> None:
    x = f64([1.0, 2.0])

    @mg.no_grad()
    def evaluate(depth: int) -> mg.Tensor:
        return evaluate(depth - 1) if depth else x * 2.0  # the same no_grad object re-entered

    with mg.no_grad():
        with mg.no_grad():
            pass
        assert not mg.is_grad_enabled()
    y = evaluate(3)
    assert y.grad_fn is None and not y.requires_grad
    assert mg.is_grad_enabled()


def test_no_grad_restores_grad_mode_after_an_exception() -> None:
    with pytest.raises(ValueError):
        with mg.no_grad():
            raise ValueError("boom")
    assert mg.is_grad_enabled()


# ----- what nodes record --------------------------------------------------------------------------
def test_nodes_record_parents_shapes_dtype_and_module_scope() -> None:
    x, w = f64(np.ones((2, 3))), f64(np.ones((3, 4)))
    with autograd.module_scope("blocks.0.attn"):
        h = x @ w
    y = h.sum()
    node = h.grad_fn
    assert node.parents == (x, w)  # leaves are kept as Tensors
    assert y.grad_fn.parents == (node,)  # computed inputs through their node
    assert node.input_shapes == ((2, 3), (3, 4))
    assert node.out_shape == (2, 4) and node.out_dtype == np.float64
    assert node.scope == "blocks.0.attn" and y.grad_fn.scope == ""
    assert "MatMul" in repr(node) and "blocks.0.attn" in repr(node)


# ----- custom Functions ---------------------------------------------------------------------------
class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class ScaledAdd(Function):
    """a + scale * b, with a keyword argument and a None gradient when b needs none."""

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.scale = scale
        return a + scale * b

    @staticmethod
    def backward(ctx, grad):
        return grad, (grad * ctx.scale if ctx.needs_input_grad[1] else None)


class WrongArity(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad  # one gradient for two inputs


def test_custom_function_with_saved_tensors() -> None:
    x = f64([1.0, -2.0])
    y = Cube.apply(x)
    assert isinstance(y.grad_fn, Cube)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * x.data ** 2)
    assert mg.gradcheck(Cube.apply, [f64([0.3, -1.2, 2.0])])


def test_custom_function_with_keyword_arguments_numbers_and_none_gradients() -> None:
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False)
    y = ScaledAdd.apply(a, b, scale=0.5)
    np.testing.assert_array_equal(y.data, [2.5, 4.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])
    z = ScaledAdd.apply(a, 10.0, scale=2.0)  # a number operand is wrapped like a constant tensor
    np.testing.assert_array_equal(z.data, [21.0, 22.0])


def test_custom_function_returning_the_wrong_number_of_gradients_is_named() -> None:
    y = WrongArity.apply(f64([1.0]), f64([2.0]))
    with pytest.raises(RuntimeError, match=r"WrongArity.backward returned 1 gradients for 2 inputs"):
        y.backward()
