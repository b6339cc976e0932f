"""Gradient-check cases for the core ops (elementwise, reduce, shape, linalg).

Each case is a dict:
    op        the Function class the case exercises (read by the registry test)
    fn        fn(*tensors) -> Tensor, the computation to check
    inputs    inputs() -> list of fresh float64 leaf tensors that require grad
    torch_fn  torch_fn(*torch_tensors) -> torch.Tensor, the same computation in PyTorch
    id        a readable test id
Inputs are small (gradcheck perturbs every element twice) and drawn from a seeded generator.
Non-differentiable arguments (masks, indices, conditions) live inside `fn`, not in `inputs`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
from minigrad.ops import elementwise as ew
from minigrad.ops import linalg, reduce, shape

CASES: list[dict[str, Any]] = []


def leaf(*dims: int, seed: int = 0, low: float | None = None, away: float | None = None) -> mg.Tensor:
    """A float64 leaf that requires grad. `low`: uniform in [low, low + 1] (e.g. positive for
    log); `away`: normal values pushed at least `away` from 0 (for relu, abs, division)."""
    rng = np.random.default_rng(seed)
    if low is not None:
        data = low + rng.random(dims)
    else:
        data = rng.standard_normal(dims)
        if away is not None:
            data = np.where(data >= 0, 1.0, -1.0) * (away + np.abs(data))
    return mg.tensor(np.asarray(data, dtype=np.float64), requires_grad=True)


def case(op: type, id: str, fn: Callable[..., Any], inputs: Callable[[], list[mg.Tensor]],
         torch_fn: Callable[..., Any] | None = None) -> None:
    CASES.append({"op": op, "fn": fn, "inputs": inputs, "torch_fn": torch_fn, "id": f"{op.__name__}-{id}"})


def _torch() -> Any:
    import torch  # only called from torch_fn, which only the PyTorch tests run

    return torch


# ----- elementwise: binary, with broadcasting ---------------------------------------------------
BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4,), (2, 3, 1)), ((), (2, 3)),
                 ((2, 3), ())]

for a_shape, b_shape in BINARY_SHAPES:
    tag = f"{a_shape}&{b_shape}"
    a_in = lambda a_shape=a_shape, b_shape=b_shape: [leaf(*a_shape, seed=1), leaf(*b_shape, seed=2)]
    div_in = lambda a_shape=a_shape, b_shape=b_shape: [leaf(*a_shape, seed=1),
                                                       leaf(*b_shape, seed=2, away=0.5)]
    pow_in = lambda a_shape=a_shape, b_shape=b_shape: [leaf(*a_shape, seed=1, low=0.5),
                                                       leaf(*b_shape, seed=2)]
    case(ew.Add, tag, lambda a, b: a + b, a_in, lambda a, b: a + b)
    case(ew.Sub, tag, lambda a, b: a - b, a_in, lambda a, b: a - b)
    case(ew.Mul, tag, lambda a, b: a * b, a_in, lambda a, b: a * b)
    case(ew.Div, tag, lambda a, b: a / b, div_in, lambda a, b: a / b)
    case(ew.Pow, tag, lambda a, b: a ** b, pow_in, lambda a, b: a ** b)

# the same tensor on both sides, and Python numbers on either side (reflected operators)
case(ew.Mul, "x*x", lambda x: x * x, lambda: [leaf(3, 4)], lambda x: x * x)
case(ew.Add, "x+2.5", lambda x: x + 2.5, lambda: [leaf(3, 4)], lambda x: x + 2.5)
case(ew.Add, "2.5+x", lambda x: 2.5 + x, lambda: [leaf(3, 4)], lambda x: 2.5 + x)
case(ew.Sub, "2-x", lambda x: 2.0 - x, lambda: [leaf(3, 4)], lambda x: 2.0 - x)
case(ew.Sub, "x-2", lambda x: x - 2, lambda: [leaf(3, 4)], lambda x: x - 2)
case(ew.Mul, "3*x", lambda x: 3 * x, lambda: [leaf(2, 3)], lambda x: 3 * x)
case(ew.Div, "1/x", lambda x: 1 / x, lambda: [leaf(3, 4, away=0.5)], lambda x: 1 / x)
case(ew.Div, "x/4", lambda x: x / 4.0, lambda: [leaf(3, 4)], lambda x: x / 4.0)
case(ew.Pow, "2**x", lambda x: 2 ** x, lambda: [leaf(3, 4)], lambda x: 2 ** x)
case(ew.Pow, "x**t,t-constant", lambda x: x ** mg.tensor([0.5, 1.5, 2.5]),
     lambda: [leaf(2, 3, low=0.5)], lambda x: x ** _torch().tensor([0.5, 1.5, 2.5]))

# ----- elementwise: unary -------------------------------------------------------------------------
UNARY_SHAPES = [(3, 4), (), (2, 3, 2)]
for dims in UNARY_SHAPES:
    tag = str(dims)
    case(ew.Neg, tag, lambda x: -x, lambda dims=dims: [leaf(*dims)], lambda x: -x)
    case(ew.Exp, tag, lambda x: x.exp(), lambda dims=dims: [leaf(*dims)], lambda x: x.exp())
    case(ew.Log, tag, lambda x: x.log(), lambda dims=dims: [leaf(*dims, low=0.2)], lambda x: x.log())
    case(ew.PowScalar, f"sqrt:{tag}", lambda x: x.sqrt(), lambda dims=dims: [leaf(*dims, low=0.2)],
         lambda x: x.sqrt())
    case(ew.Tanh, tag, lambda x: x.tanh(), lambda dims=dims: [leaf(*dims)], lambda x: x.tanh())
    case(ew.Sigmoid, tag, lambda x: x.sigmoid(), lambda dims=dims: [leaf(*dims)], lambda x: x.sigmoid())
    case(ew.Relu, tag, lambda x: x.relu(), lambda dims=dims: [leaf(*dims, away=0.1)], lambda x: x.relu())
    case(ew.Abs, tag, lambda x: x.abs(), lambda dims=dims: [leaf(*dims, away=0.1)], lambda x: x.abs())

# sigmoid far out in both tails, where a naive 1 / (1 + e^-x) overflows
TAILS = np.array([-40.0, -12.0, -3.0, 3.0, 12.0, 40.0])
case(ew.Sigmoid, "tails", lambda x: x.sigmoid(), lambda: [mg.tensor(TAILS.copy(), requires_grad=True)],
     lambda x: x.sigmoid())

for p in [2, 3, 0.5, -1, 1.7, 0, 1, -2.5]:
    positive = not float(p).is_integer()  # fractional powers need x > 0
    make = (lambda: [leaf(3, 4, low=0.3)]) if positive else (lambda: [leaf(3, 4, away=0.3)])
    case(ew.PowScalar, f"p={p}", lambda x, p=p: x ** p, make, lambda x, p=p: x ** p)
case(ew.PowScalar, "p=2,0-d", lambda x: x ** 2, lambda: [leaf()], lambda x: x ** 2)
# through a wider float and back, so that a float64 gradcheck loses no precision in the casts
case(ew.Cast, "to(longdouble)-and-back", lambda x: (x.to(np.longdouble) * 3.0).to(x.dtype),
     lambda: [leaf(2, 3)], lambda x: x * 3.0)

MASK = np.array([[True, False, False, True]])  # (1, 4): broadcasts over rows
case(ew.MaskedFill, "(3,4)mask(1,4)", lambda x: x.masked_fill(MASK, -1.5), lambda: [leaf(3, 4)],
     lambda x: x.masked_fill(_torch().from_numpy(MASK), -1.5))
case(ew.MaskedFill, "(2,3,4)mask(3,4)-inf-then-exp",
     lambda x: x.masked_fill(np.triu(np.ones((3, 4), dtype=bool), 1), float("-inf")).exp(),
     lambda: [leaf(2, 3, 4)],
     lambda x: x.masked_fill(_torch().from_numpy(np.triu(np.ones((3, 4), dtype=bool), 1)),
                             float("-inf")).exp())

COND = np.array([[True], [False], [True]])  # (3, 1)
case(ew.Where, "(3,1)?(3,4):(4,)", lambda a, b: mg.where(COND, a, b),
     lambda: [leaf(3, 4, seed=1), leaf(4, seed=2)],
     lambda a, b: _torch().where(_torch().from_numpy(COND), a, b))
case(ew.Where, "a-or-0", lambda a: mg.where(a > 0, a, 0.0), lambda: [leaf(3, 4, away=0.1)],
     lambda a: _torch().where(a > 0, a, _torch().zeros((), dtype=a.dtype)))
case(ew.Where, "same-shapes", lambda a, b: mg.where(a < b, a, b),
     lambda: [leaf(2, 5, seed=1), leaf(2, 5, seed=2)],
     lambda a, b: _torch().where(a < b, a, b))

# ----- reductions ---------------------------------------------------------------------------------
REDUCE_ARGS = [(None, False), (None, True), (0, False), (1, True), (-1, False), ((0, 2), False),
               ((-1, 0), True)]
for dim, keepdim in REDUCE_ARGS:
    tag = f"dim={dim},keepdim={keepdim}"
    all_dims = () if dim is None else dim  # torch's amax reduces everything over dim=()
    case(reduce.Sum, tag, lambda x, d=dim, k=keepdim: x.sum(d, k), lambda: [leaf(2, 3, 4)],
         lambda x, d=dim, k=keepdim: x.sum(dim=d, keepdim=k))
    case(reduce.Sum, f"mean:{tag}", lambda x, d=dim, k=keepdim: x.mean(d, k), lambda: [leaf(2, 3, 4)],
         lambda x, d=dim, k=keepdim: x.mean(dim=d, keepdim=k))
    case(reduce.Max, tag, lambda x, d=dim, k=keepdim: x.amax(d, k), lambda: [leaf(2, 3, 4)],
         lambda x, d=all_dims, k=keepdim: x.amax(dim=d, keepdim=k))
    case(reduce.Min, tag, lambda x, d=dim, k=keepdim: x.amin(d, k), lambda: [leaf(2, 3, 4)],
         lambda x, d=all_dims, k=keepdim: x.amin(dim=d, keepdim=k))
    for correction in (0, 1):
        case(reduce.Var, f"{tag},correction={correction}",
             lambda x, d=dim, k=keepdim, c=correction: x.var(d, k, correction=c), lambda: [leaf(2, 3, 4)],
             lambda x, d=dim, k=keepdim, c=correction: x.var(dim=d, keepdim=k, correction=c))

case(reduce.Sum, "0-d", lambda x: x.sum(), lambda: [leaf()], lambda x: x.sum())
case(reduce.Sum, "mean:1-d", lambda x: x.mean(0), lambda: [leaf(5)], lambda x: x.mean(0))
TIES2 = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 0.5, 0.5, 2.0], [0.0, 4.0, -2.0, 1.0]])  # two-way ties
case(reduce.Max, "ties,dim=1", lambda x: x.amax(dim=1), lambda: [mg.tensor(TIES2.copy(), requires_grad=True)],
     lambda x: x.amax(dim=1))
case(reduce.Max, "ties,dim=None", lambda x: x.max(),
     lambda: [mg.tensor(np.array([1.0, 5.0, -2.0, 5.0]), requires_grad=True)],
     lambda x: x.amax())
case(reduce.Min, "ties,dim=0", lambda x: x.amin(dim=0),
     lambda: [mg.tensor(-TIES2.copy(), requires_grad=True)], lambda x: x.amin(dim=0))
for dim, keepdim in [(0, False), (1, True), (-1, False)]:
    for name in ("max", "min"):
        values = lambda x, d=dim, k=keepdim, name=name: getattr(x, name)(d, k).values  # noqa: E731
        case(reduce.TakeAlongDim, f"{name}(dim={dim},keepdim={keepdim})", values,
             lambda: [leaf(2, 3, 4)], values)
case(reduce.TakeAlongDim, "max(0)-of-0-d", lambda x: x.max(0).values, lambda: [leaf()],
     lambda x: x.max(0).values)
case(reduce.Var, "1-d", lambda x: x.var(), lambda: [leaf(6)], lambda x: x.var())

# ----- shapes -------------------------------------------------------------------------------------
case(shape.Reshape, "reshape(-1,2)", lambda x: x.reshape(-1, 2), lambda: [leaf(2, 3, 4)],
     lambda x: x.reshape(-1, 2))
case(shape.Reshape, "view((4,6))", lambda x: x.view((4, 6)), lambda: [leaf(2, 3, 4)], lambda x: x.view(4, 6))
case(shape.Reshape, "reshape(())", lambda x: x.reshape(()), lambda: [leaf(1, 1)], lambda x: x.reshape(()))
case(shape.Reshape, "unsqueeze(1)", lambda x: x.unsqueeze(1), lambda: [leaf(3, 4)], lambda x: x.unsqueeze(1))
case(shape.Reshape, "unsqueeze(-1)", lambda x: x.unsqueeze(-1), lambda: [leaf(3, 4)],
     lambda x: x.unsqueeze(-1))
case(shape.Reshape, "squeeze()", lambda x: x.squeeze(), lambda: [leaf(3, 1, 4, 1)], lambda x: x.squeeze())
case(shape.Reshape, "squeeze(-1)", lambda x: x.squeeze(-1), lambda: [leaf(3, 1, 4, 1)],
     lambda x: x.squeeze(-1))
case(shape.Reshape, "squeeze((1,3))", lambda x: x.squeeze((1, 3)), lambda: [leaf(3, 1, 4, 1)],
     lambda x: x.squeeze((1, 3)))
case(shape.Reshape, "non-contiguous", lambda x: x.T.reshape(12), lambda: [leaf(3, 4)],
     lambda x: x.T.reshape(12))

case(shape.Permute, "transpose(0,2)", lambda x: x.transpose(0, 2), lambda: [leaf(2, 3, 4)],
     lambda x: x.transpose(0, 2))
case(shape.Permute, "transpose(-1,-2)", lambda x: x.transpose(-1, -2), lambda: [leaf(2, 3, 4)],
     lambda x: x.transpose(-1, -2))
case(shape.Permute, "permute(2,0,1)", lambda x: x.permute(2, 0, 1), lambda: [leaf(2, 3, 4)],
     lambda x: x.permute(2, 0, 1))
case(shape.Permute, "permute((-1,0,1))", lambda x: x.permute((-1, 0, 1)), lambda: [leaf(2, 3, 4)],
     lambda x: x.permute(-1, 0, 1))
case(shape.Permute, "T", lambda x: x.T * mg.tensor([0.0, 1.0, 2.0]), lambda: [leaf(3, 4)],
     lambda x: x.T * _torch().tensor([0.0, 1.0, 2.0]))

case(shape.Expand, "(3,1)->(3,4)", lambda x: x.expand(3, 4), lambda: [leaf(3, 1)], lambda x: x.expand(3, 4))
case(shape.Expand, "(3,1)->(2,-1,4)", lambda x: x.expand((2, -1, 4)), lambda: [leaf(3, 1)],
     lambda x: x.expand(2, -1, 4))
case(shape.Expand, "()->(2,3)", lambda x: x.expand(2, 3), lambda: [leaf()], lambda x: x.expand(2, 3))

REPEATS = np.array([0, 2, 0, 0, 3])
ROWS, COLS = np.array([[0, 1], [2, 0]]), np.array([[1, 1], [3, 1]])
GETITEMS: list[tuple[str, Any, Any]] = [
    ("[1]", lambda x: x[1], lambda x: x[1]),
    ("[-1,2]", lambda x: x[-1, 2], lambda x: x[-1, 2]),
    ("[1:3]", lambda x: x[1:3], lambda x: x[1:3]),
    ("[::-1,-2]", lambda x: x[::-1, -2], None),  # PyTorch has no negative steps
    ("[:,::2]", lambda x: x[:, ::2], lambda x: x[:, ::2]),
    ("[...,1]", lambda x: x[..., 1], lambda x: x[..., 1]),
    ("[None,:,None]", lambda x: x[None, :, None], lambda x: x[None, :, None]),
    ("[1,...,None]", lambda x: x[1, ..., None], lambda x: x[1, ..., None]),
    ("[repeats]", lambda x: x[REPEATS], lambda x: x[_torch().from_numpy(REPEATS)]),
    ("[list]", lambda x: x[[2, 2, 1]], lambda x: x[[2, 2, 1]]),
    ("[:,repeats[:4]]", lambda x: x[:, REPEATS[:4]], lambda x: x[:, _torch().from_numpy(REPEATS[:4])]),
    ("[rows,cols]", lambda x: x[ROWS, COLS],
     lambda x: x[_torch().from_numpy(ROWS), _torch().from_numpy(COLS)]),
    ("[tensor-ids]", lambda x: x[mg.tensor(np.array([3, 3, 0]))], lambda x: x[_torch().tensor([3, 3, 0])]),
    ("[bool-mask]", lambda x: x[x.data > 0], lambda x: x[x > 0]),
]
for tag, fn, torch_fn in GETITEMS:
    case(shape.GetItem, tag, fn, lambda: [leaf(4, 5)], torch_fn)
case(shape.GetItem, "3-d[...,None,1:,REPEATS[:2]]", lambda x: x[..., None, 1:, REPEATS[:2]],
     lambda: [leaf(2, 3, 4)],
     lambda x: x[..., None, 1:, _torch().from_numpy(REPEATS[:2])])
case(shape.GetItem, "split(2,dim=1)",
     lambda x: mg.cat([p * (i + 1.0) for i, p in enumerate(mg.split(x, 2, dim=1))],
                      dim=1), lambda: [leaf(3, 5)],
     lambda x: _torch().cat([p * (i + 1.0) for i, p in enumerate(_torch().split(x, 2, dim=1))], dim=1))
case(shape.GetItem, "split([1,3],dim=-1)",
     lambda x: mg.split(x, [1, 3], dim=-1)[0] * mg.split(x, [1, 3], dim=-1)[1], lambda: [leaf(2, 4)],
     lambda x: _torch().split(x, [1, 3], dim=-1)[0] * _torch().split(x, [1, 3], dim=-1)[1])


def _assigned(x: Any, value: Any, index: Any) -> Any:
    """x * 2 with x[index] = value written into it (SetItem, minigrad and torch alike)."""
    y = x * 2.0
    y[index] = value
    return y


case(shape.SetItem, "[1:3]=v", lambda x, v: _assigned(x, v, slice(1, 3)),
     lambda: [leaf(4, 3), leaf(2, 3, seed=1)], lambda x, v: _assigned(x, v, slice(1, 3)))
case(shape.SetItem, "[rows]=broadcast-v", lambda x, v: _assigned(x, v, np.array([0, 2])),
     lambda: [leaf(4, 3), leaf(3, seed=1)], lambda x, v: _assigned(x, v, _torch().tensor([0, 2])))
case(shape.SetItem, "[mask]=number", lambda x: _assigned(x, 5.0, x.detach() > 0),
     lambda: [leaf(3, 4)], lambda x: _assigned(x, 5.0, x.detach() > 0))
case(ew.Clone, "clone", lambda x: x.clone() * x, lambda: [leaf(3, 4)], lambda x: x.clone() * x)

case(shape.Cat, "dim=0", lambda a, b: mg.cat([a, b]), lambda: [leaf(2, 3, seed=1), leaf(1, 3, seed=2)],
     lambda a, b: _torch().cat([a, b]))
case(shape.Cat, "dim=-1,three", lambda a, b, c: mg.cat([a, b, c], dim=-1),
     lambda: [leaf(2, 1, seed=1), leaf(2, 3, seed=2),
              leaf(2, 2, seed=3)], lambda a, b, c: _torch().cat([a, b, c], dim=-1))
case(shape.Cat, "same-tensor-twice", lambda a: mg.cat([a, a * 2.0], dim=1), lambda: [leaf(2, 2, 3)],
     lambda a: _torch().cat([a, a * 2.0], dim=1))
case(shape.Stack, "dim=0", lambda a, b: mg.stack([a, b]), lambda: [leaf(2, 3, seed=1), leaf(2, 3, seed=2)],
     lambda a, b: _torch().stack([a, b]))
case(shape.Stack, "dim=-1,three", lambda a, b, c: mg.stack([a, b, c], dim=-1),
     lambda: [leaf(4, seed=1), leaf(4, seed=2),
              leaf(4, seed=3)], lambda a, b, c: _torch().stack([a, b, c], dim=-1))
case(shape.Stack, "dim=1", lambda a, b: mg.stack([a, b], dim=1),
     lambda: [leaf(2, 3, seed=1), leaf(2, 3, seed=2)],
     lambda a, b: _torch().stack([a, b], dim=1))

# ----- linear algebra -----------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),  # b shared by the batch: the flattened 2-D path
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dims broadcast (2, 1) with (5,)
    ((3, 4), (2, 4, 5)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
]
for a_shape, b_shape in MATMUL_SHAPES:
    case(linalg.MatMul, f"{a_shape}@{b_shape}", lambda a, b: a @ b,
         lambda a_shape=a_shape, b_shape=b_shape: [leaf(*a_shape, seed=1), leaf(*b_shape, seed=2)],
         lambda a, b: a @ b)
case(linalg.MatMul, "x@x.T", lambda x: x @ x.T, lambda: [leaf(3, 4)], lambda x: x @ x.T)


def _torch_linear(*args: Any) -> Any:
    return _torch().nn.functional.linear(*args)


case(linalg.Linear, "(5,3),(4,3),(4,)", lambda x, w, b: linalg.Linear.apply(x, w, b),
     lambda: [leaf(5, 3, seed=1), leaf(4, 3, seed=2), leaf(4, seed=3)], _torch_linear)
case(linalg.Linear, "(2,5,3),(4,3),no-bias", lambda x, w: linalg.Linear.apply(x, w),
     lambda: [leaf(2, 5, 3, seed=1), leaf(4, 3, seed=2)], _torch_linear)
case(linalg.Linear, "(3,),(4,3),(4,)", lambda x, w, b: linalg.Linear.apply(x, w, b),
     lambda: [leaf(3, seed=1), leaf(4, 3, seed=2), leaf(4, seed=3)], _torch_linear)
