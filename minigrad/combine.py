"""Functions of several tensors: cat, stack, split, where, einsum."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .dims import normalize_dim
from .ops import einsum as einsum_ops
from .ops import elementwise, shape
from .tensor import Tensor, tensor, where_condition


def _as_tensors(tensors: Sequence[Any], op: str) -> list[Tensor]:
    if len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return [t if isinstance(t, Tensor) else tensor(t) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension; all other sizes must agree."""
    ts = _as_tensors(tensors, "cat")
    if ts[0].ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = normalize_dim(dim, ts[0].ndim, "cat")
    shapes = [t.shape for t in ts]
    if any(len(s) != len(shapes[0]) or s[:d] + s[d + 1:] != shapes[0][:d] + shapes[0][d + 1:]
           for s in shapes):
        raise ValueError(f"cat: shapes {shapes} differ outside dim {dim}")
    return shape.Cat.apply(*ts, dim=d)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dimension."""
    ts = _as_tensors(tensors, "stack")
    shapes = [t.shape for t in ts]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
    d = normalize_dim(dim, ts[0].ndim + 1, "stack")
    return shape.Stack.apply(*ts, dim=d)


def split(t: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Cut `t` along `dim` into pieces of `split_size` (the last may be smaller) or of the
    listed sizes, as `torch.split` (see `Tensor.split`)."""
    return t.split(split_size_or_sections, dim)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """`a` where `condition` is True, else `b`; differentiable in `a` and `b`."""
    return elementwise.Where.apply(a, b, condition=where_condition(condition, a, b))


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation with explicit subscripts, as `torch.einsum`: "bij,bjk->bik" is a
    batched matrix product, "ij->ji" a transpose, "i,i->" a dot product. "..." stands for
    broadcast dims. Letters left out of the output are summed. Differentiable in every operand
    (the gradient of each is an einsum of the output gradient and the others). Not supported:
    implicit output (no "->") and a letter twice in one operand (a diagonal)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = _as_tensors(operands, "einsum")
    text = equation.replace(" ", "")
    if "->" not in text:
        raise ValueError(f"einsum: only explicit subscripts such as 'ij,jk->ik' are supported, "
                         f"got {equation!r}")
    left, output = text.split("->")
    terms = left.split(",")
    if len(terms) != len(tensors):
        raise ValueError(f"einsum: {equation!r} names {len(terms)} operands, got {len(tensors)}")
    used = set(text) - set(".,->")
    if not all(c.isascii() and c.isalpha() for c in used):
        raise ValueError(f"einsum: subscripts must be letters a-z, A-Z (and '...'), got {equation!r}")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    broadcast_dims = max((t.ndim - len(s.replace("...", "")) for s, t in zip(terms, tensors) if "..." in s),
                         default=0)
    dots = "".join(spare[:broadcast_dims])  # the letters that "..." stands for, right-aligned
    inputs = []
    sizes: dict[str, int] = {}
    for s, t in zip(terms, tensors):
        if "..." in s:
            count = t.ndim - len(s.replace("...", ""))
            s = s.replace("...", dots[len(dots) - count:] if count > 0 else "")
        if len(s) != t.ndim or "." in s:
            raise ValueError(f"einsum: subscripts {s!r} do not fit an operand of shape {t.shape} "
                             f"in {equation!r}")
        if len(set(s)) != len(s):
            raise ValueError(f"einsum: a letter repeated in one operand ({s!r}, a diagonal) is not supported")
        for c, n in zip(s, t.shape):
            if sizes.get(c, n) != n and 1 not in (n, sizes[c]):
                raise ValueError(f"einsum: letter {c!r} has sizes {sizes[c]} and {n} in {equation!r} "
                                 f"with shapes {[x.shape for x in tensors]}")
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
        inputs.append(s)
    output = output.replace("...", dots)
    if len(set(output)) != len(output) or not set(output) <= set("".join(inputs)):
        raise ValueError(f"einsum: output subscripts {output!r} must be distinct letters of the inputs "
                         f"in {equation!r}")
    return einsum_ops.Einsum.apply(*tensors, inputs=tuple(inputs), output=output)
