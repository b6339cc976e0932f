"""minigrad: a small, readable reverse-mode autodiff engine over numpy arrays.

    import minigrad
    x = minigrad.tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([[2., 4.]])
"""
from . import (
    _malloc,  # noqa: F401  (tunes glibc malloc at import; MINIGRAD_NO_MALLOPT=1 opts out)
    autograd,  # noqa: F401  (minigrad.autograd, the engine, for readers and tests)
    functional,
    nn,
    optim,
)
from .autograd import Function, is_grad_enabled, no_grad
from .combine import cat, split, stack, where
from .creation import arange, full, manual_seed, ones, rand, randn, zeros
from .gradcheck import GradcheckError, gradcheck
from .serialize import load, save
from .tensor import Tensor, tensor
from .threads import get_num_threads, set_num_threads

__all__ = [
    "Tensor", "tensor", "Function", "no_grad", "is_grad_enabled",
    "zeros", "ones", "full", "arange", "randn", "rand", "manual_seed",
    "cat", "stack", "split", "where",
    "gradcheck", "GradcheckError",
    "functional",
    "nn", "optim", "save", "load",
    "set_num_threads", "get_num_threads",
]
