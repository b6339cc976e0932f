"""In-place changes and the version counter: PyTorch's rules, and no silent wrong gradient when
a saved array changes between forward and backward."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd, nn, optim

MODIFIED = "modified by an inplace operation"


def f64(data, requires_grad=False) -> mg.Tensor:
    return mg.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


# ----- the version counter ----------------------------------------------------------------------
def test_every_tracked_change_bumps_the_version() -> None:
    t = f64([1.0, 2.0, 3.0])
    changes = [
        lambda: t.add_(1), lambda: t.sub_(1), lambda: t.mul_(2), lambda: t.div_(2), lambda: t.zero_(),
        lambda: t.fill_(3), lambda: t.copy_([1, 2, 3]), lambda: t.__setitem__(0, 5.0),
        lambda: t.__iadd__(1), lambda: t.__isub__(1), lambda: t.__imul__(2), lambda: t.__itruediv__(2),
        lambda: setattr(t, "data", np.zeros(3)),
    ]
    for expected, change in enumerate(changes, start=1):
        change()
        assert t._version == expected
    a = t.data
    a -= 1.0  # a numpy update of the array itself: not tracked ...
    assert t._version == len(changes)
    t.data -= 1.0  # ... but through the attribute it is
    assert t._version == len(changes) + 1


def test_versions_match_pytorch_for_the_same_changes() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = f64([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    for t in (ours, theirs):
        t.add_(1)
        t.mul_(2)
        t[0] = 4.0
        t.zero_()
        t += 1
        t.detach().fill_(2)  # detach shares the counter
    assert ours._version == theirs._version == 6
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_an_element_picked_by_integers_is_a_view_as_in_pytorch() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = f64([[1.0, 2.0], [3.0, 4.0]], requires_grad=True), torch.tensor([[1.0, 2.0], [3.0, 4.0]],
                                                                                   requires_grad=True)
    for lib, t in ((mg, ours), (torch, theirs)):
        with lib.no_grad():
            t[0, 1].zero_()
            t[1][0].fill_(7.0)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    assert ours._version == theirs._version == 2


def test_views_and_detach_share_the_version_counter() -> None:
    x = f64(np.arange(6.0).reshape(2, 3))
    row, flat = x[0], x.reshape(6)
    row.add_(10)
    assert x._version == flat._version == 1
    np.testing.assert_array_equal(x.numpy()[0], [10, 11, 12])  # the view wrote into x
    x.detach().zero_()
    assert row._version == 2 and float(flat.sum()) == 0


# ----- saved arrays checked at backward ------------------------------------------------------------
def test_an_input_changed_before_backward_raises_naming_op_shape_and_versions() -> None:
    x = f64([1.0, 2.0, 3.0], requires_grad=True)
    w = f64([4.0, 5.0, 6.0])
    y = (x * w).sum()  # Mul saved w for x's gradient
    w.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        y.backward()
    message = str(info.value)
    assert message.startswith("Mul:") and "(3,)" in message
    assert "version 1" in message and "expected version 0" in message


def test_an_output_changed_before_backward_raises_like_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for lib, make in ((mg, lambda: f64([0.5, 1.0], True)),
                      (torch, lambda: torch.tensor([0.5, 1.0], dtype=torch.float64, requires_grad=True))):
        x = make()
        y = x.exp()  # Exp saved its output
        with lib.no_grad():
            y.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_a_change_to_an_array_nothing_saved_is_allowed() -> None:
    x = f64([1.0, 2.0], requires_grad=True)
    y = x * 3.0  # Mul by a number saves nothing of x for x's gradient
    x2 = f64([1.0, 2.0])
    z = x + x2  # Add saves nothing
    x2.add_(1)
    with mg.no_grad():
        x.add_(1)  # allowed under no_grad: nothing saved x's array
    (y.sum() + z.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_optimizer_step_before_backward_raises_instead_of_using_new_weights() -> None:
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = mg.randn(5, 3)
    model(x).sum().backward()
    loss = model(x).sum()
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()
    # PyTorch raises for the same sequence
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    tx = torch.randn(5, 3)
    tmodel(tx).sum().backward()
    tloss = tmodel(tx).sum()
    topt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        tloss.backward()


@pytest.mark.parametrize("change", ["load_state_dict", "data", "adam"])
def test_other_parameter_updates_before_backward_raise(change: str) -> None:
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = mg.randn(5, 3)
    loss = model(x).sum()
    if change == "load_state_dict":
        model.load_state_dict(model.state_dict())
    elif change == "data":
        w = model[2].weight
        w.data = w.data * 0.5
    else:
        model(x).sum().backward()
        optim.Adam(model.parameters()).step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_the_normal_training_loop_is_unaffected() -> None:
    mg.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, target = mg.randn(8, 3), mg.randn(8, 1)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = ((model(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert model.weight._version == 20


# ----- in-place ops: PyTorch's rules ------------------------------------------------------------------
LEAF_CHANGES = {
    "add_": lambda p: p.add_(1), "sub_": lambda p: p.sub_(1), "mul_": lambda p: p.mul_(2),
    "div_": lambda p: p.div_(2), "zero_": lambda p: p.zero_(), "fill_": lambda p: p.fill_(1),
    "copy_": lambda p: p.copy_(np.ones(3)), "+=": lambda p: p.__iadd__(1), "-=": lambda p: p.__isub__(1),
    "*=": lambda p: p.__imul__(2), "/=": lambda p: p.__itruediv__(2),
    "setitem": lambda p: p.__setitem__(0, 1.0), "clamp_": lambda p: p.clamp_(min=1.5, max=2.5),
}


@pytest.mark.parametrize("name", sorted(LEAF_CHANGES))
def test_a_leaf_that_requires_grad_cannot_change_in_place_outside_no_grad(name: str) -> None:
    torch = pytest.importorskip("torch")
    ours = f64([1.0, 2.0, 3.0], requires_grad=True)
    theirs = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    change = LEAF_CHANGES[name]
    if name == "copy_":
        theirs_change = lambda p: p.copy_(torch.ones(3))  # noqa: E731
    else:
        theirs_change = change
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        theirs_change(theirs)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        change(ours)
    assert ours._version == 0
    with mg.no_grad():
        change(ours)  # allowed, as in PyTorch
    with torch.no_grad():
        theirs_change(theirs)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    assert ours.grad_fn is None and ours.requires_grad


def test_a_view_of_a_leaf_cannot_change_in_place_either() -> None:
    p = f64([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        p[1:].zero_()
    y = p * 2.0
    with pytest.raises(RuntimeError, match="view of a tensor that requires grad"):
        y[1:].zero_()  # y's own node would not learn of the change: refuse instead of a wrong gradient
    with pytest.raises(RuntimeError, match="expand"), mg.no_grad():
        f64([1.0]).expand(3).add_(1)


def test_manual_sgd_step_under_no_grad_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    start = np.array([0.5, -1.0, 2.0])
    p = f64(start, requires_grad=True)
    tp = torch.tensor(start, requires_grad=True)
    for _ in range(3):
        for lib, w in ((mg, p), (torch, tp)):
            ((w * w * w).sum()).backward()
            with lib.no_grad():
                w -= 0.01 * w.grad
                w.grad.zero_()
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-12)
    assert p.is_leaf and p._version == tp._version == 3


def test_p_data_arithmetic_with_a_tensor_operand_works() -> None:
    p = f64([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()
    p.data -= 0.5 * p.grad  # numpy in-place with a Tensor operand: the Tensor's array is used
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0])
    assert isinstance(p.data, np.ndarray) and p._version == 1
    p.data = mg.tensor([3.0, 4.0], dtype=np.float64)  # assigning a Tensor takes its array
    np.testing.assert_array_equal(p.numpy(), [3.0, 4.0])
    with pytest.raises(TypeError, match="expected a numpy array or a Tensor"):
        p.data = [1.0, 2.0]
    with pytest.raises(TypeError, match="floating-point"):
        p.data = np.array([1, 2])
    assert isinstance(np.float32(2) * mg.tensor([1.0]), mg.Tensor)  # array op Tensor stays a Tensor
    assert (np.array([1.0, 2.0]) < mg.tensor([2.0, 1.0])).numpy().tolist() == [True, False]


def test_in_place_recorded_in_the_graph_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a0, w0, v0 = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(2)

    def run(lib, make):
        w, v = make(w0, True), make(v0, True)
        a = make(a0, False)
        a.mul_(w)  # a leaf without grad becomes part of the graph; Mul saved a's old values
        a += w * w
        h = a.clone()
        h[1:3] = v * 3.0
        h.sub_(v.sum(), alpha=2.0)
        h.div_(1.5)
        out = (h * h).sum()
        out.backward()
        return out.item(), w.grad, v.grad

    ours = run(mg, lambda x, g: f64(x, g))
    theirs = run(torch, lambda x, g: torch.tensor(x, requires_grad=g))
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
    for g, tg in zip(ours[1:], theirs[1:]):
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-12)


def test_copy_and_fill_gradients_match_torch() -> None:
    torch = pytest.importorskip("torch")
    src0 = np.array([1.0, -2.0, 3.0])

    def run(lib, make):
        x = make(src0, True)
        y = x * 2.0
        z = make(np.zeros((2, 3)), False) + 0.0
        z.copy_(y)  # broadcast src: its gradient is summed back
        out = (z * z).sum()
        out.backward()
        return x.grad

    ours = run(mg, lambda x, g: f64(x, g))
    theirs = run(torch, lambda x, g: torch.tensor(x, requires_grad=g))
    np.testing.assert_allclose(ours.numpy(), 16.0 * src0)  # 2 rows * d(2x)^2/dx
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())
    x = f64([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    y.fill_(3.0)
    (y * x).sum().backward()  # the filled values are constants: dy/dx = 0
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_shape_and_dtype_rules_match_torch() -> None:
    torch = pytest.importorskip("torch")
    shape_message = r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"
    with pytest.raises(RuntimeError, match=shape_message):
        torch.zeros(3).add_(torch.ones(2, 3))
    with pytest.raises(ValueError, match="add_: " + shape_message):
        mg.zeros(3).add_(mg.ones(2, 3))
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
        torch.zeros(3, dtype=torch.long).add_(1.5)
    with pytest.raises(TypeError, match="add_: result type float.* can't be cast to the desired output"):
        mg.zeros(3, dtype=np.int64).add_(1.5)
    ids = mg.zeros(3, dtype=np.int64)
    ids += 2
    ids[0] = 7
    assert ids.dtype == np.int64 and ids.numpy().tolist() == [7, 2, 2]
    t = mg.zeros(2, 3)
    t.copy_(np.arange(3))  # copy_ casts and broadcasts, as torch's
    assert t.dtype == np.float32 and t.numpy().tolist() == [[0, 1, 2], [0, 1, 2]]
    with pytest.raises(ValueError, match=r"copy_: src of shape \(4,\) does not broadcast to shape \(2, 3\)"):
        t.copy_(np.arange(4))
    with pytest.raises(IndexError, match="setitem: index 5 is invalid for shape"):
        t[5] = 1.0


def test_clone_and_requires_grad_() -> None:
    torch = pytest.importorskip("torch")
    x = f64([1.0, 2.0]).requires_grad_()
    assert x.requires_grad and x.is_leaf
    c = x.clone()
    assert type(c.grad_fn).__name__ == "Clone" and not np.shares_memory(c.numpy(), x.numpy())
    (c * c).sum().backward()
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64).requires_grad_()
    (tx.clone() * tx.clone()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    with pytest.raises(TypeError, match="floating-point"):
        mg.zeros(2, dtype=np.int64).requires_grad_()


def test_a_node_that_saved_the_array_it_overwrites_keeps_a_copy() -> None:
    a = f64([2.0, 3.0])
    w = f64([5.0, 7.0], requires_grad=True)
    a.mul_(w)  # Mul saved a for w's gradient, then a was overwritten by a * w
    a.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 3.0])
    node = a.grad_fn
    assert node is not None and type(node).__name__ == "Mul"


def test_increment_version_is_what_optimizers_use() -> None:
    p = nn.Parameter(np.zeros(2))
    autograd.increment_version(p)
    assert p._version == 1
