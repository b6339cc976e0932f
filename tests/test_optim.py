"""minigrad.optim: update rules against torch.optim, dtype discipline, state for resuming."""
import numpy as np
import pytest

import minigrad
from minigrad import optim
from minigrad.nn import Parameter

SHAPES = [(3, 4), (4,), ()]


def _start(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]


def _grad(param: np.ndarray, step: int, i: int) -> np.ndarray:
    """A gradient that depends on the parameter (so the trajectory matters) and on the step."""
    noise = np.asarray(np.random.default_rng(100 * step + i).standard_normal(param.shape), dtype=param.dtype)
    return np.asarray(np.tanh(param) + noise)


def _run_minigrad(make, steps=5, dtype=np.float64, lrs=None):
    params = [Parameter(a) for a in _start(dtype=dtype)]
    opt = make(params)
    for step in range(steps):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[step]
        for i, p in enumerate(params):
            p.grad = minigrad.tensor(_grad(p.data, step, i))
        opt.step()
    return [p.data for p in params]


def _run_torch(torch, make, steps=5, lrs=None):
    params = [torch.nn.Parameter(torch.from_numpy(a)) for a in _start()]
    opt = make(params)
    for step in range(steps):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[step]
        for i, p in enumerate(params):
            p.grad = torch.from_numpy(_grad(p.detach().numpy(), step, i))
        opt.step()
    return [p.detach().numpy() for p in params]


CASES = {
    "sgd": (lambda ps: optim.SGD(ps, lr=0.1), "SGD", dict(lr=0.1)),
    "sgd_momentum_decay": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.05), "SGD",
                           dict(lr=0.1, momentum=0.9, weight_decay=0.05)),
    "adam": (lambda ps: optim.Adam(ps, lr=0.01), "Adam", dict(lr=0.01)),
    "adam_l2": (lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), "Adam",
                dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "adamw": (lambda ps: optim.AdamW(ps, lr=0.01), "AdamW", dict(lr=0.01)),
    "adamw_strong_decay": (lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.5), "AdamW",
                           dict(lr=0.05, weight_decay=0.5)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_matches_torch(case):
    torch = pytest.importorskip("torch")
    make, torch_name, kwargs = CASES[case]
    ours = _run_minigrad(make)
    theirs = _run_torch(torch, lambda ps: getattr(torch.optim, torch_name)(ps, **kwargs))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_changing_lr_between_steps_matches_torch():
    torch = pytest.importorskip("torch")
    lrs = [0.001, 0.01, 0.02, 0.005, 0.0]
    ours = _run_minigrad(lambda ps: optim.AdamW(ps, lr=1.0), lrs=lrs)
    theirs = _run_torch(torch, lambda ps: torch.optim.AdamW(ps, lr=1.0), lrs=lrs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_defaults_are_pytorchs():
    p = [Parameter(np.zeros(2))]
    adam, adamw = optim.Adam(p), optim.AdamW(p)
    assert adam.defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False)
    assert adamw.defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)
    sgd = optim.SGD(p)
    assert sgd.defaults == dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)
    torch = pytest.importorskip("torch")
    for ours, theirs in [(adam, torch.optim.Adam), (adamw, torch.optim.AdamW), (sgd, torch.optim.SGD)]:
        reference = theirs([torch.zeros(2, requires_grad=True)]).defaults
        assert {k: reference[k] for k in ours.defaults} == ours.defaults


@pytest.mark.parametrize("case", list(CASES))
def test_float32_stays_float32_even_with_a_numpy_float64_lr(case):
    make = CASES[case][0]
    params = [Parameter(a) for a in _start(dtype=np.float32)]
    opt = make(params)
    opt.param_groups[0]["lr"] = np.float64(opt.param_groups[0]["lr"])  # as a schedule using np.cos gives
    for step in range(2):
        for i, p in enumerate(params):
            p.grad = minigrad.tensor(_grad(p.data, step, i))
        opt.step()
    assert all(p.dtype == np.float32 for p in params)
    buffers = [a for s in opt.state.values() for a in s.values() if isinstance(a, np.ndarray)]
    assert all(a.dtype == np.float32 for a in buffers)
    close = _run_minigrad(make, steps=2)
    for p, q in zip(params, close):
        np.testing.assert_allclose(p.data, q, rtol=1e-4, atol=1e-5)


def test_updates_are_in_place():
    p = Parameter(np.ones(3, dtype=np.float32))
    array = p.data
    opt = optim.Adam([p], lr=0.1)
    p.grad = minigrad.tensor(np.ones(3, dtype=np.float32))
    opt.step()
    assert p.data is array and not np.allclose(array, 1.0)


def test_params_without_grad_are_skipped():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.AdamW([a, b], lr=0.1)
    a.grad = minigrad.tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert b not in opt.state and opt.state[a]["step"] == 1


def test_zero_grad():
    p = Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1)
    p.grad = minigrad.tensor(np.ones(2))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, np.zeros(2))
    opt.zero_grad()
    assert p.grad is None


def test_model_parameters_generator_is_accepted():
    model = minigrad.nn.Linear(2, 3)
    opt = optim.SGD(model.parameters(), lr=0.1)
    params = opt.param_groups[0]["params"]
    assert len(params) == 2 and params[0] is model.weight


def test_bad_arguments():
    p = [Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr must be in"):
        optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0.0, 1.0\)"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="parameter 1 of group 0 appears more than once"):
        optim.AdamW(p + p)
    with pytest.raises(TypeError, match="parameter 0 of group 0 is not a leaf Tensor that requires grad"):
        optim.SGD([minigrad.tensor([1.0])], lr=0.1)


@pytest.mark.parametrize("case", ["sgd_momentum_decay", "adam_l2", "adamw"])
def test_state_dict_resumes_bit_for_bit(case, tmp_path):
    make = CASES[case][0]

    def train(params, opt, steps, first):
        for step in range(first, first + steps):
            for i, p in enumerate(params):
                p.grad = minigrad.tensor(_grad(p.data, step, i))
            opt.step()

    straight = [Parameter(a) for a in _start(dtype=np.float32)]
    opt = make(straight)
    train(straight, opt, 3, 0)
    minigrad.save({**{f"p{i}": p for i, p in enumerate(straight)}, **opt.state_dict()}, tmp_path / "c.npz")
    train(straight, opt, 3, 3)

    checkpoint = minigrad.load(tmp_path / "c.npz")
    resumed = [Parameter(checkpoint.pop(f"p{i}")) for i in range(len(SHAPES))]
    opt2 = make([Parameter(a) for a in _start(seed=5, dtype=np.float32)])
    opt2.param_groups[0]["params"] = resumed
    opt2.load_state_dict(checkpoint)
    train(resumed, opt2, 3, 3)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_is_a_copy_and_holds_arrays_only():
    p = Parameter(np.ones(2))
    opt = optim.Adam([p])
    p.grad = minigrad.tensor(np.ones(2))
    opt.step()
    state = opt.state_dict()
    assert set(state) == {"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "param_groups.0.params",
                          "param_groups.0.lr", "param_groups.0.betas", "param_groups.0.eps",
                          "param_groups.0.weight_decay", "param_groups.0.amsgrad"}
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["state.0.exp_avg"][...] = 7
    assert not np.any(opt.state[p]["exp_avg"] == 7)


def test_load_state_dict_errors():
    p = Parameter(np.ones(2))
    adam = optim.Adam([p])
    p.grad = minigrad.tensor(np.ones(2))
    adam.step()
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: unexpected key 'state\.0\.(step|exp_avg)'"):
        sgd.load_state_dict(adam.state_dict())
    other = optim.Adam([Parameter(np.ones(3))])
    with pytest.raises(ValueError, match=r"'state.0.exp_avg' has shape \(2,\), parameter 0 has \(3,\)"):
        other.load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="no 'param_groups.0.params' and 'param_groups.0.lr' entries"):
        adam.load_state_dict({})
    partial = {k: v for k, v in adam.state_dict().items() if k != "state.0.exp_avg_sq"}
    with pytest.raises(ValueError, match="state of parameter 0 is incomplete: missing exp_avg_sq"):
        adam.load_state_dict(partial)


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    torch = pytest.importorskip("torch")
    grads = [np.asarray(g * 3) for g in _start(seed=3)]
    params = [Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = minigrad.tensor(g.copy())
    tparams = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(tparams, grads):
        p.grad = torch.from_numpy(g.copy())
    total = optim.clip_grad_norm_(params, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(tparams, max_norm)
    assert isinstance(total, float)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_in_place_float32_and_single_tensor():
    p = Parameter(np.array([3.0, 4.0], dtype=np.float32))
    p.grad = minigrad.tensor(np.array([3.0, 4.0], dtype=np.float32))
    array = p.grad.data
    assert optim.clip_grad_norm_(p, 1.0) == pytest.approx(5.0)
    assert p.grad.data is array and array.dtype == np.float32
    np.testing.assert_allclose(array, [0.6, 0.8], rtol=1e-5)
    q = Parameter(np.ones(2))
    assert optim.clip_grad_norm_([q], 1.0) == 0.0  # no gradients: norm 0, nothing to scale
