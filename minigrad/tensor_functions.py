"""`minigrad.clamp(x, ...)`, `minigrad.cumsum(x, dim)`...: PyTorch's function spellings of the
Tensor methods, so code written as `torch.f(x, ...)` reads the same here. Each one calls the
method; the method's docstring says what it does."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .tensor import Tensor, ValuesIndices

Dim = int | tuple[int, ...] | None


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return input.clamp(min, max)


def clip(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return input.clamp(min, max)


def maximum(input: Tensor, other: Any) -> Tensor:
    return input.maximum(other)


def minimum(input: Tensor, other: Any) -> Tensor:
    return input.minimum(other)


def square(input: Tensor) -> Tensor:
    return input.square()


def rsqrt(input: Tensor) -> Tensor:
    return input.rsqrt()


def log1p(input: Tensor) -> Tensor:
    return input.log1p()


def sin(input: Tensor) -> Tensor:
    return input.sin()


def cos(input: Tensor) -> Tensor:
    return input.cos()


def sign(input: Tensor) -> Tensor:
    return input.sign()


def isnan(input: Tensor) -> Tensor:
    return input.isnan()


def isinf(input: Tensor) -> Tensor:
    return input.isinf()


def isfinite(input: Tensor) -> Tensor:
    return input.isfinite()


def std(input: Tensor, dim: Dim = None, keepdim: bool = False, correction: int = 1) -> Tensor:
    return input.std(dim, keepdim, correction=correction)


def logsumexp(input: Tensor, dim: Dim, keepdim: bool = False) -> Tensor:
    return input.logsumexp(dim, keepdim)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return input.prod(dim, keepdim)


def norm(input: Tensor, p: float | str = "fro", dim: Dim = None, keepdim: bool = False) -> Tensor:
    return input.norm(p, dim, keepdim)


def cumsum(input: Tensor, dim: int) -> Tensor:
    return input.cumsum(dim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return input.flatten(start_dim, end_dim)


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    return input.unflatten(dim, sizes)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    return input.tril(diagonal)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    return input.triu(diagonal)


def repeat_interleave(input: Tensor, repeats: Any, dim: int | None = None) -> Tensor:
    return input.repeat_interleave(repeats, dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    return input.chunk(chunks, dim)


def flip(input: Tensor, dims: int | Sequence[int]) -> Tensor:
    return input.flip(dims)


def roll(input: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    return input.roll(shifts, dims)


def gather(input: Tensor, dim: int, index: Any) -> Tensor:
    return input.gather(dim, index)


def scatter_add(input: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    return input.scatter_add(dim, index, src)


def masked_select(input: Tensor, mask: Any) -> Tensor:
    return input.masked_select(mask)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
    return input.sort(dim, descending, stable)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return input.argsort(dim, descending, stable)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    return input.topk(k, dim, largest, sorted)
