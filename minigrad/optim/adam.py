"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as torch.optim."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, check_range


class Adam(Optimizer):
    """Adam with bias correction; at step t, per parameter:
        g = grad + weight_decay * p            (L2 penalty folded into the gradient)
        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
        v_max = max(v_max, v)                  (amsgrad only; then v_max replaces v below)
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    state_names = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    decoupled = False  # AdamW: decay p directly instead of adding to g

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        kind = type(self).__name__
        betas = group["betas"]
        group["betas"] = (check_range(f"{kind}: betas[0]", betas[0], 0.0, 1.0, high_open=True),
                          check_range(f"{kind}: betas[1]", betas[1], 0.0, 1.0, high_open=True))
        group["eps"] = check_range(f"{kind}: eps", group["eps"], 0.0)
        group["weight_decay"] = check_range(f"{kind}: weight_decay", group["weight_decay"], 0.0)
        group["amsgrad"] = bool(group["amsgrad"])

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.state_names if group["amsgrad"] else self.state_names[:3]

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        if weight_decay and self.decoupled:
            param *= 1.0 - lr * weight_decay
        elif weight_decay:
            grad = grad + weight_decay * param
        m *= beta1
        m += (1.0 - beta1) * grad
        v *= beta2
        v += (1.0 - beta2) * (grad * grad)
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        step_size = lr / (1.0 - beta1**t)
        denom = np.sqrt(v) / math.sqrt(1.0 - beta2**t) + eps
        param -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay, then the Adam step on the
    raw gradient."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
