"""Gradient clipping by the global norm, as torch.nn.utils.clip_grad_norm_."""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..tensor import Tensor


def clip_grad_norm_(params: Iterable[Tensor] | Tensor, max_norm: float) -> float:
    """Scale the gradients in place so that their global 2-norm (over all parameters at once)
    is at most max_norm, as torch.nn.utils.clip_grad_norm_: each grad is multiplied by
    max_norm / (total_norm + 1e-6) when that is below 1. Returns the norm before clipping."""
    if isinstance(params, Tensor):
        params = [params]
    grads = [p.grad.data for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total
