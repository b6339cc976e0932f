"""The layers: thin Modules that own parameters and call `minigrad.functional`.

Initial values are drawn from `minigrad.creation.default_generator()` (in float64, then cast),
so `minigrad.manual_seed(n)` makes a model reproducible, and the same seed gives the same
weights up to rounding in float32 and float64. Under `nn.init.skip_init` they are left
uninitialized (and nothing is drawn), for a model a checkpoint is about to fill.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes
from .. import functional as F
from ..creation import default_generator
from ..dims import normalize_dim
from ..functional import _padding_index
from ..tensor import Tensor
from .init import initial_values
from .module import Module
from .parameter import Parameter


def _check_size(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Linear(Module):
    """y = x @ weight.T + bias, for x of shape (..., in_features).

    weight (out_features, in_features) and bias (out_features,) start uniform in
    [-1/sqrt(in_features), 1/sqrt(in_features)], PyTorch's default (kaiming-uniform with a=sqrt(5)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        self.in_features = _check_size("Linear", "in_features", in_features)
        self.out_features = _check_size("Linear", "out_features", out_features)
        bound = 1.0 / math.sqrt(self.in_features)
        rng = default_generator()
        dtype = dtypes.or_default(dtype, "Linear")
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(initial_values(shape, dtype, lambda: rng.uniform(-bound, bound, shape)))
        self.bias = (Parameter(initial_values(self.out_features, dtype,
                                              lambda: rng.uniform(-bound, bound, self.out_features)))
                     if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: ids of any shape (...) -> rows of weight, shape (..., embedding_dim).
    weight (num_embeddings, embedding_dim) starts N(0, 1), as in PyTorch. With `padding_idx`,
    that row starts at zeros and never receives a gradient (the vector of a padding token)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = _check_size("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _check_size("Embedding", "embedding_dim", embedding_dim)
        self.padding_idx = (None if padding_idx is None
                            else _padding_index(padding_idx, self.num_embeddings, "Embedding"))
        shape = (self.num_embeddings, self.embedding_dim)
        dtype = dtypes.or_default(dtype, "Embedding")
        draw = default_generator().standard_normal
        self.weight = Parameter(initial_values(shape, dtype, lambda: draw(shape)))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, ids: Any) -> Tensor:
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


class LayerNorm(Module):
    """Normalize over the last len(normalized_shape) dimensions to mean 0 and variance 1
    (biased variance, eps inside the square root), then scale by weight (ones) and shift by
    bias (zeros), both of shape normalized_shape."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(_check_size("LayerNorm", "normalized_shape", n)
                                      for n in normalized_shape)
        self.eps = float(eps)
        dtype = dtypes.or_default(dtype, "LayerNorm")
        self.weight = Parameter(initial_values(self.normalized_shape, dtype, lambda: 1.0))
        self.bias = Parameter(initial_values(self.normalized_shape, dtype, lambda: 0.0))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class RMSNorm(Module):
    """Divide by the root mean square over the last len(normalized_shape) dimensions (`eps`
    inside the root; None: the dtype's machine epsilon, as PyTorch), then scale by weight
    (ones, shape normalized_shape). LayerNorm without the centring and the bias (Zhang &
    Sennrich, 2019): the norm of Llama's blocks."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float | None = None,
                 elementwise_affine: bool = True, dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(_check_size("RMSNorm", "normalized_shape", n) for n in normalized_shape)
        self.eps = None if eps is None else float(eps)
        dtype = dtypes.or_default(dtype, "RMSNorm")
        self.weight = (Parameter(initial_values(self.normalized_shape, dtype, lambda: 1.0))
                       if elementwise_affine else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


class Dropout(Module):
    """Zero each element with probability p and scale the rest by 1/(1-p) while training;
    the identity in eval mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GELU(Module):
    """x * Phi(x) with Phi the standard normal CDF ("none"), or its tanh approximation ("tanh")."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class SiLU(Module):
    """x * sigmoid(x), the gate of SwiGLU."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Softmax(Module):
    """softmax along `dim`. The dim is required (PyTorch guesses one when it is left out and
    warns; a guess is the kind of silent choice this module does not make)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Identity(Module):
    """Returns its input: a placeholder where a model's option turns a layer off."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (B, C, H, W) -> (B, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        start = normalize_dim(self.start_dim, x.ndim, "Flatten")
        end = normalize_dim(self.end_dim, x.ndim, "Flatten")
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} "
                             f"for an input of shape {x.shape}")
        merged = int(np.prod(x.shape[start: end + 1]))
        return x.reshape(*x.shape[:start], merged, *x.shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
