"""Tensor constructors and the random seed they share.

Random constructors draw from one module-level numpy `Generator` that `manual_seed` resets,
or from a `generator` the caller passes for an independent stream.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .tensor import Tensor

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the generator behind randn, rand and dropout; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The state of the generator behind randn, rand, dropout and initial weights: a plain
    dict (numpy's `bit_generator.state`, JSON-serializable) for `set_rng_state`."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put the generator back in a state `get_rng_state` returned: what it draws next is what
    it drew next then (a checkpoint resumes its dropout masks exactly)."""
    if not isinstance(state, dict):
        raise TypeError("set_rng_state: expected the dict get_rng_state returned, "
                        f"got {type(state).__name__}")
    try:
        _generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"set_rng_state: not a state of minigrad's generator "
                         f"({type(_generator.bit_generator).__name__}): {error}") from None


def _shape(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if any(int(n) < 0 for n in size):
        raise ValueError(f"negative dimension in size {size}")
    return tuple(int(n) for n in size)


def _make(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape(size), dtype=dtypes.or_default(dtype, "tensor")), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape(size), dtype=dtypes.or_default(dtype, "tensor")), requires_grad)


def full(size: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Filled with `fill_value`, whose type gives the dtype unless `dtype` is given, as in
    `torch.full`: a bool is bool, an int int64, a float the default float dtype."""
    dtype = dtypes.result_type(fill_value) if dtype is None else dtypes.as_dtype(dtype, "full")
    return _make(np.full(_shape((size,)), fill_value, dtype=dtype), requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False,
          generator: np.random.Generator | None = None) -> Tensor:
    """Standard normal samples."""
    rng = generator or _generator
    dtype = dtypes.or_default(dtype, "randn")
    return _make(rng.standard_normal(_shape(size)).astype(dtype, copy=False), requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    rng = generator or _generator
    dtype = dtypes.or_default(dtype, "rand")
    return _make(rng.random(_shape(size)).astype(dtype, copy=False), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Like torch.arange: int64 when every argument is an int, else the default float dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = dtypes.result_type(start, end, step)
    return _make(np.arange(start, end, step, dtype=dtype), requires_grad)
