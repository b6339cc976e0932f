"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as torch.optim.SGD."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, check_range


class SGD(Optimizer):
    """Per parameter, with g = grad + weight_decay * p:
        without momentum:  p -= lr * g
        with momentum:     b = momentum * b + (1 - dampening) * g   (b = g on the first step)
                           p -= lr * b,  or with nesterov  p -= lr * (g + momentum * b)
    """

    state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for name in ("momentum", "dampening", "weight_decay"):
            group[name] = check_range(f"SGD: {name}", group[name], 0.0)
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.state_names if group["momentum"] else ()

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, momentum, dampening = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
        weight_decay = float(group["weight_decay"])
        g = grad + weight_decay * param if weight_decay else grad
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g)  # an array even for a 0-d parameter
            else:
                buf *= momentum
                buf += (1.0 - dampening) * g
            g = g + momentum * buf if group["nesterov"] else buf
        param -= lr * g
