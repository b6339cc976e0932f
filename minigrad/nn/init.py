"""nn.init: fill a tensor in place with initial values, as torch.nn.init.

Each function overwrites `tensor.data` (keeping its dtype and shape), records nothing in the
graph, and returns the tensor, so `model.apply(fn)` can re-initialize a whole model. Random
values come from minigrad's generator (`minigrad.manual_seed`) unless a numpy Generator is
passed, and are drawn in float64 then cast, as the layers' own initializers do.

Fans, for a weight of shape (out, in, *k): fan_in = in * prod(k), fan_out = out * prod(k).
"""
from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..autograd import increment_version
from ..creation import default_generator
from ..tensor import Tensor

_SKIPPING = contextvars.ContextVar("skip_init", default=False)  # True while skip_init builds a module
ModuleType = TypeVar("ModuleType")


def skip_init(module_cls: Callable[..., ModuleType], *args: Any, **kwargs: Any) -> ModuleType:
    """`module_cls(*args, **kwargs)` without initializing the parameters of minigrad's layers,
    as `torch.nn.utils.skip_init`: for a model whose every weight is about to be overwritten
    (a checkpoint being loaded). Nothing is drawn and every parameter is zeros from
    `np.zeros`, whose pages the operating system provides on first write, so an array costs
    no memory until it is filled (PyTorch's are uninitialized; zeros are never garbage)."""
    token = _SKIPPING.set(True)
    try:
        return module_cls(*args, **kwargs)
    finally:
        _SKIPPING.reset(token)


def initial_values(shape: int | tuple[int, ...], dtype: np.dtype, draw: Callable[[], Any]) -> np.ndarray:
    """A layer's initial array: `draw()` (values, in float64 or a scalar) as `dtype`, or
    zeros when `skip_init` is building the layer."""
    if _SKIPPING.get():
        return np.zeros(shape, dtype=dtype)
    return np.broadcast_to(np.asarray(draw()), shape).astype(dtype)


_GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps activations' variance level through `nonlinearity`: 1 for linear
    and sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + a^2)) for leaky_relu (a = param,
    default 0.01), 3/4 for selu."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if nonlinearity not in _GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r} "
                         f"(expected one of {sorted([*_GAINS, 'leaky_relu'])})")
    return _GAINS[nonlinearity]


def _fans(tensor: Tensor, op: str) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"{op}: fan in and fan out need a tensor of 2 or more dimensions, got shape "
                         f"{tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:]))
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor: Tensor, values: np.ndarray | float, op: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")
    tensor.data[...] = values
    increment_version(tensor)
    return tensor


def _rng(generator: np.random.Generator | None) -> np.random.Generator:
    return generator if generator is not None else default_generator()


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Values drawn uniformly from [a, b)."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape), "uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Values drawn from N(mean, std^2)."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape), "normal_")


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0.0, "zeros_")


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1.0, "ones_")


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): uniform in [-b, b] with b = gain * sqrt(6 / (fan_in + fan_out)),
    which keeps the variance of activations and of gradients level through the layer."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """He et al. (2015): uniform in [-b, b] with b = gain * sqrt(3 / fan), gain =
    calculate_gain(nonlinearity, a) and fan = fan_in (keeps the forward variance) or fan_out
    (the backward). nn.Linear's default init is this with a = sqrt(5)."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, "kaiming_uniform_")
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator)
