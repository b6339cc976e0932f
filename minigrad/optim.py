"""Optimizers (SGD, Adam, AdamW) and gradient clipping, with PyTorch's update rules.

Each `step()` updates `p.data` in place, one whole array per parameter, in the parameter's
dtype: hyperparameters are turned into Python floats first (a numpy float64 `lr` from a
schedule would otherwise promote float32 work to float64), and temporaries go into scratch
arrays the optimizer reuses across parameters and steps. Parameters whose `.grad` is None are
skipped, as in PyTorch.

`lr` is a plain attribute: a learning-rate schedule sets `optimizer.lr` before each `step()`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .autograd import increment_version
from .tensor import Tensor


def _check(name: str, value: float, low: float, high: float = math.inf, high_open: bool = False) -> float:
    value = float(value)
    if not (low <= value and (value < high if high_open else value <= high)):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value}")
    return value


class Optimizer:
    """Holds the parameters, their per-parameter state and the scratch arrays.

    `state[i]` is a dict of the i-th parameter's buffers (numpy arrays and a step count);
    `state_dict()` flattens it to "state.{i}.{name}" -> array so it can go into an .npz.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a leaf Tensor that requires "
                                "grad")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: parameter {i} appears more than once")
            seen.add(id(p))
        self.lr = _check(f"{type(self).__name__}: lr", lr, 0.0)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        self._scratch_arrays: dict[tuple[int, np.dtype], np.ndarray] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def step(self) -> None:
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p.data, p.grad.data, state)
                increment_version(p)  # a graph that saved the old values must not backward now

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _scratch(self, slot: int, like: np.ndarray) -> np.ndarray:
        """A reusable array shaped like `like`: a view into one flat buffer per (slot, dtype)
        that grows to the largest parameter, so a step allocates nothing once warm."""
        key = (slot, like.dtype)
        buffer = self._scratch_arrays.get(key)
        if buffer is None or buffer.size < like.size:
            buffer = self._scratch_arrays[key] = np.empty(like.size, dtype=like.dtype)
        return buffer[: like.size].reshape(like.shape)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every buffer and step count, plus the current lr: numpy arrays only."""
        out = {"lr": np.array(self.lr)}
        for i, state in enumerate(self.state):
            for name, value in state.items():
                out[f"state.{i}.{name}"] = np.array(value)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (for this optimizer type and these parameters),
        so that training resumes bit for bit."""
        op = f"{type(self).__name__}.load_state_dict"
        if "lr" not in state:
            raise ValueError(f"{op}: the state has no 'lr' entry")
        restored: list[dict[str, Any]] = [{} for _ in self.params]
        for key, value in state.items():
            if key == "lr":
                continue
            parts = key.split(".")
            if (len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit()
                    or parts[2] not in self.state_names):
                raise ValueError(f"{op}: unexpected key {key!r} "
                                 f"(expected 'lr' and 'state.<i>.<name>' with name in {self.state_names})")
            i, name, value = int(parts[1]), parts[2], np.asarray(value)
            if i >= len(self.params):
                raise ValueError(f"{op}: {key!r} is for parameter {i}, but there are {len(self.params)}")
            if name == "step":
                restored[i][name] = int(value)
            elif value.shape != self.params[i].shape:
                raise ValueError(f"{op}: {key!r} has shape {value.shape}, parameter {i} has "
                                 f"{self.params[i].shape}")
            else:
                restored[i][name] = np.array(value, dtype=self.params[i].dtype)
        for i, entries in enumerate(restored):
            missing = [name for name in self.state_names if name not in entries]
            if entries and missing:
                raise ValueError(f"{op}: the state of parameter {i} is incomplete: missing "
                                 f"{', '.join(missing)}")
        self.lr = float(state["lr"])
        self.state = restored


class SGD(Optimizer):
    """p -= lr * d, where g = grad + weight_decay * p and d = g without momentum, or with it
    the buffer b = momentum * b + g (b = g on the first step), as torch.optim.SGD without
    dampening or Nesterov."""

    state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = _check("SGD: momentum", momentum, 0.0)
        self.weight_decay = _check("SGD: weight_decay", weight_decay, 0.0)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        lr, momentum, weight_decay = float(self.lr), self.momentum, self.weight_decay
        d = grad
        if weight_decay:
            d = np.multiply(param, weight_decay, out=self._scratch(0, param))
            d += grad
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= momentum
                buf += d
            d = buf
        step = np.multiply(d, lr, out=self._scratch(1, param))
        param -= step


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, as torch.optim.Adam:
        g = grad + weight_decay * p            (L2 penalty folded into the gradient)
        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    state_names = ("step", "exp_avg", "exp_avg_sq")
    decoupled = False  # AdamW: decay p directly instead of adding to g

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        kind = type(self).__name__
        self.betas = (_check(f"{kind}: betas[0]", betas[0], 0.0, 1.0, high_open=True),
                      _check(f"{kind}: betas[1]", betas[1], 0.0, 1.0, high_open=True))
        self.eps = _check(f"{kind}: eps", eps, 0.0)
        self.weight_decay = _check(f"{kind}: weight_decay", weight_decay, 0.0)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, weight_decay = float(self.lr), self.betas, self.eps, self.weight_decay
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        if weight_decay and self.decoupled:
            param *= 1.0 - lr * weight_decay
        elif weight_decay:
            decayed = np.multiply(param, weight_decay, out=self._scratch(0, param))
            decayed += grad
            grad = decayed
        tmp = self._scratch(1, param)
        m *= beta1
        m += np.multiply(grad, 1.0 - beta1, out=tmp)
        v *= beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - beta2
        v += tmp
        step_size = lr / (1.0 - beta1**t)
        denom = np.sqrt(v, out=tmp)
        denom /= math.sqrt(1.0 - beta2**t)
        denom += eps
        np.divide(m, denom, out=tmp)
        tmp *= step_size
        param -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
    p *= 1 - lr * weight_decay, then the Adam step on the raw gradient."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


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
