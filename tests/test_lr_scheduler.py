"""optim.lr_scheduler against torch.optim.lr_scheduler over 100 steps, with two parameter groups."""
import json
import math

import numpy as np
import pytest

from minigrad import optim
from minigrad.nn import Parameter
from minigrad.optim import lr_scheduler

STEPS = 100


def _optimizer(module, param):
    groups = [{"params": [param(np.ones(2))]}, {"params": [param(np.ones(3))], "lr": 0.5}]
    return module.SGD(groups, lr=0.1, momentum=0.9)


def _schedule(make, module, param):
    """[lr of every group] for the first STEPS steps: read before each step, as training does."""
    opt = _optimizer(module, param)
    scheduler = make(opt, module.lr_scheduler)
    lrs = []
    for _ in range(STEPS):
        lrs.append([g["lr"] for g in opt.param_groups])
        assert scheduler.get_last_lr() == lrs[-1]
        opt.step()
        scheduler.step()
    return lrs


SCHEDULES = {
    "StepLR": lambda opt, s: s.StepLR(opt, step_size=7, gamma=0.5),
    "StepLR-default-gamma": lambda opt, s: s.StepLR(opt, step_size=30),
    "CosineAnnealingLR": lambda opt, s: s.CosineAnnealingLR(opt, T_max=60, eta_min=0.01),
    "CosineAnnealingLR-past-T_max": lambda opt, s: s.CosineAnnealingLR(opt, T_max=30),
    "LinearLR-warmup": lambda opt, s: s.LinearLR(opt, start_factor=0.1, total_iters=20),
    "LinearLR-decay": lambda opt, s: s.LinearLR(opt, start_factor=1.0, end_factor=0.25, total_iters=80),
    "LinearLR-defaults": lambda opt, s: s.LinearLR(opt),
    "LambdaLR": lambda opt, s: s.LambdaLR(opt, lambda step: 0.95 ** step),
    "LambdaLR-per-group": lambda opt, s: s.LambdaLR(
        opt, [lambda step: 1 / (1 + step), lambda step: min(1, step / 10)]),
    "SequentialLR-warmup-cosine": lambda opt, s: s.SequentialLR(
        opt, [s.LinearLR(opt, start_factor=0.05, total_iters=9),
              s.CosineAnnealingLR(opt, T_max=89, eta_min=0.001)],
        milestones=[10]),
    "SequentialLR-three": lambda opt, s: s.SequentialLR(
        opt, [s.LinearLR(opt, start_factor=0.5, total_iters=4), s.StepLR(opt, step_size=10, gamma=0.7),
              s.CosineAnnealingLR(opt, T_max=40)], milestones=[5, 50]),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch_over_100_steps(name):
    torch = pytest.importorskip("torch")
    import warnings

    ours = _schedule(SCHEDULES[name], optim, Parameter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's deprecated step(0) inside PyTorch
        theirs = _schedule(SCHEDULES[name], torch.optim, lambda a: torch.nn.Parameter(torch.from_numpy(a)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)


def test_step_lr_values():
    opt = _optimizer(optim, Parameter)
    scheduler = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    seen = []
    for _ in range(5):
        seen.append(scheduler.get_last_lr())
        scheduler.step()
    assert seen == [[0.1, 0.5], [0.1, 0.5], [0.05, 0.25], [0.05, 0.25], [0.025, 0.125]]
    assert opt.param_groups[0]["initial_lr"] == 0.1 and scheduler.last_epoch == 5


def test_cosine_reaches_eta_min_at_t_max():
    opt = _optimizer(optim, Parameter)
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.02)
    for _ in range(5):
        scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.02 + 0.08 * 0.5)
    for _ in range(5):
        scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([0.02, 0.02])


def test_state_dict_round_trip_and_json():
    def make(opt):
        return lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, 0.1, total_iters=4),
                                               lr_scheduler.StepLR(opt, 3)], [5])

    opt = _optimizer(optim, Parameter)
    scheduler = make(opt)
    for _ in range(7):
        scheduler.step()
    state = scheduler.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 7
    state = json.loads(json.dumps(state))  # plain values only

    opt2 = _optimizer(optim, Parameter)
    resumed = make(opt2)
    resumed.load_state_dict(state)
    for _ in range(10):
        scheduler.step()
        resumed.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_resume_with_last_epoch_after_loading_the_optimizer():
    opt = _optimizer(optim, Parameter)
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    for _ in range(6):
        scheduler.step()
    opt2 = _optimizer(optim, Parameter)
    opt2.param_groups[0]["params"] = opt.param_groups[0]["params"]
    opt2.param_groups[1]["params"] = opt.param_groups[1]["params"]
    opt2.load_state_dict(opt.state_dict())  # brings initial_lr along
    resumed = lr_scheduler.CosineAnnealingLR(opt2, T_max=20, last_epoch=5)
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        lr_scheduler.StepLR(_optimizer(optim, Parameter), 3, last_epoch=4)


def test_lambda_lr_keeps_no_function_in_its_state():
    opt = _optimizer(optim, Parameter)
    scheduler = lr_scheduler.LambdaLR(opt, lambda step: math.exp(-step))
    assert "lr_lambdas" not in scheduler.state_dict()


def test_scheduler_errors():
    opt = _optimizer(optim, Parameter)
    with pytest.raises(TypeError, match="StepLR: list is not an Optimizer"):
        lr_scheduler.StepLR([], 3)
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer"):
        lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive integer"):
        lr_scheduler.CosineAnnealingLR(opt, 2.5)
    with pytest.raises(ValueError, match="LinearLR: need 0 < start_factor <= 1"):
        lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="LambdaLR: expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda s: 1.0])
    with pytest.raises(ValueError, match="SequentialLR: expected 1 milestones for 2 schedulers"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2), lr_scheduler.StepLR(opt, 3)], [])
    other = _optimizer(optim, Parameter)
    with pytest.raises(ValueError, match="every scheduler must drive the optimizer"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2), lr_scheduler.StepLR(other, 3)], [4])
