"""minigrad: a small, readable reverse-mode autodiff engine over numpy arrays.

    import minigrad
    x = minigrad.tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([[2., 4.]])
"""
from . import (
    autograd,  # noqa: F401  (minigrad.autograd, the engine, for readers and tests)
    functional,
    nn,
    optim,
)
from .allocator import tune_allocator
from .autograd import Function, enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .combine import cat, split, stack, where
from .creation import arange, full, get_rng_state, manual_seed, ones, rand, randn, set_rng_state, zeros
from .dtypes import bool_ as bool
from .dtypes import (
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
)
from .gradcheck import GradcheckError, gradcheck
from .serialize import load, save
from .tensor import Tensor, tensor
from .threads import get_num_threads, set_num_threads

__all__ = [
    "Tensor", "tensor", "Function",
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "zeros", "ones", "full", "arange", "randn", "rand", "manual_seed", "get_rng_state", "set_rng_state",
    "cat", "stack", "split", "where",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
    "get_default_dtype", "set_default_dtype", "result_type", "promote_types",
    "gradcheck", "GradcheckError",
    "functional",
    "nn", "optim", "save", "load",
    "set_num_threads", "get_num_threads",
    "tune_allocator",
]
