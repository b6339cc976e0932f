"""Parameter groups, SGD(nesterov=, dampening=) and Adam(amsgrad=) against torch.optim."""
import numpy as np
import pytest

import minigrad
from minigrad import optim
from minigrad.nn import Parameter

SHAPES = [(3, 4), (4,), (), (2, 2)]


def _start():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s) for s in SHAPES]


def _grad(param, step, i):
    noise = np.random.default_rng(100 * step + i).standard_normal(param.shape)
    return np.asarray(np.tanh(param) + noise)


def _groups(params, options):
    """Parameters 0-1 in the first group, 2-3 in the second, each with its options."""
    return [{"params": params[:2], **options[0]}, {"params": params[2:], **options[1]}]


def _run(make, options, steps=8, use_torch=None):
    if use_torch is None:
        params = [Parameter(a) for a in _start()]
    else:
        params = [use_torch.nn.Parameter(use_torch.from_numpy(a)) for a in _start()]
    opt = make(_groups(params, options))
    for step in range(steps):
        for i, p in enumerate(params):
            data = p.data if use_torch is None else p.detach().numpy()
            g = _grad(data, step, i)
            p.grad = minigrad.tensor(g) if use_torch is None else use_torch.from_numpy(g)
        opt.step()
    return [p.data if use_torch is None else p.detach().numpy() for p in params]


CASES = {
    "sgd-lr-momentum-per-group": ("SGD", dict(lr=0.05), [dict(momentum=0.9), dict(lr=0.2, weight_decay=0.1)]),
    "sgd-nesterov": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), [{}, dict(weight_decay=0.2)]),
    "sgd-dampening": ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.5), [{}, dict(momentum=0.0)]),
    "sgd-nesterov-one-group": ("SGD", dict(lr=0.1), [dict(momentum=0.5, nesterov=True), {}]),
    "adam-amsgrad": ("Adam", dict(lr=0.05, amsgrad=True), [{}, dict(weight_decay=0.1, betas=(0.5, 0.9))]),
    "adam-amsgrad-one-group": ("Adam", dict(lr=0.05), [dict(amsgrad=True), dict(eps=1e-3)]),
    "adamw-no-decay-group": ("AdamW", dict(lr=0.05, weight_decay=0.3), [{}, dict(weight_decay=0.0)]),
    "adamw-amsgrad": ("AdamW", dict(lr=0.02, amsgrad=True), [dict(lr=0.1), {}]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_groups_match_torch(case):
    torch = pytest.importorskip("torch")
    name, defaults, options = CASES[case]
    ours = _run(lambda groups: getattr(optim, name)(groups, **defaults), options)
    theirs = _run(lambda groups: getattr(torch.optim, name)(groups, **defaults), options, use_torch=torch)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_param_groups_hold_every_option():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "nesterov": True, "momentum": 0.9}], lr=0.1)
    first, second = opt.param_groups
    assert first == dict(params=[a], lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)
    assert second["params"] == [b] and second["lr"] == 0.5 and second["nesterov"] is True


def test_add_param_group_and_its_errors():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "weight_decay": 0.5})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["weight_decay"] == 0.5
    with pytest.raises(ValueError, match="parameter 0 of group 2 appears more than once"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'momentum' in a parameter group"):
        opt.add_param_group({"params": [Parameter(np.ones(1))], "momentum": 0.9})
    with pytest.raises(TypeError, match="must be a dict with a 'params' entry"):
        opt.add_param_group([Parameter(np.ones(1))])
    with pytest.raises(ValueError, match="parameter group 2 is empty"):
        opt.add_param_group({"params": []})
    with pytest.raises(ValueError, match="Adam: lr must be in"):
        optim.Adam([{"params": [Parameter(np.ones(1))], "lr": -1.0}])


def test_nesterov_needs_momentum_and_no_dampening():
    p = [Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="nesterov momentum needs momentum > 0 and dampening = 0"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="nesterov momentum needs"):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)


def test_state_dict_with_groups_restores_options_and_resumes_bit_for_bit():
    options = [dict(amsgrad=True), dict(lr=0.2, betas=(0.5, 0.8))]

    def fresh():
        params = [Parameter(a.astype(np.float32)) for a in _start()]
        return params, optim.Adam(_groups(params, options), lr=0.05)

    def run(params, opt, first, steps):
        for step in range(first, first + steps):
            for i, p in enumerate(params):
                p.grad = minigrad.tensor(_grad(p.data, step, i).astype(np.float32))
            opt.step()

    params, opt = fresh()
    run(params, opt, 0, 3)
    saved_params, saved = [p.data.copy() for p in params], opt.state_dict()
    assert saved["param_groups.1.params"].tolist() == [2, 3]
    assert saved["param_groups.1.betas"].tolist() == [0.5, 0.8]
    assert "state.0.max_exp_avg_sq" in saved and "state.2.max_exp_avg_sq" not in saved
    run(params, opt, 3, 3)

    resumed, opt2 = fresh()
    opt2.param_groups[1]["lr"] = 1.0  # overwritten by the saved options
    for p, data in zip(resumed, saved_params):
        p.data[...] = data
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == 0.2 and opt2.param_groups[1]["betas"] == (0.5, 0.8)
    assert opt2.param_groups[0]["amsgrad"] is True
    run(resumed, opt2, 3, 3)
    for a, b in zip(params, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_checks_group_sizes_and_amsgrad_state():
    params = [Parameter(a) for a in _start()]
    opt = optim.Adam(_groups(params, [dict(amsgrad=True), {}]))
    for i, p in enumerate(params):
        p.grad = minigrad.tensor(_grad(p.data, 0, i))
    opt.step()
    state = opt.state_dict()
    one_group = optim.Adam(params)
    with pytest.raises(ValueError, match=r"'param_groups\.1\.\w+' is for parameter group 1, but there are 1"):
        one_group.load_state_dict(state)
    partial = {k: v for k, v in state.items() if k != "state.0.max_exp_avg_sq"}
    with pytest.raises(ValueError, match="state of parameter 0 is incomplete: missing max_exp_avg_sq"):
        opt.load_state_dict(partial)
    regrouped = optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters, the state has 2"):
        regrouped.load_state_dict(state)


def test_loads_the_state_of_the_layout_before_parameter_groups():
    params = [Parameter(a) for a in _start()]
    opt = optim.Adam(params, lr=0.1)
    for i, p in enumerate(params):
        p.grad = minigrad.tensor(_grad(p.data, 0, i))
    opt.step()
    old_layout = {k: v for k, v in opt.state_dict().items() if k.startswith("state.")}
    old_layout["lr"] = np.array(0.05)
    fresh = optim.Adam(params, lr=0.1)
    fresh.load_state_dict(old_layout)
    assert fresh.param_groups[0]["lr"] == 0.05 and fresh.state[params[0]]["step"] == 1
