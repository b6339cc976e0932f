"""The graph machinery: Function nodes, grad mode, module scopes and the backward walk.

Every op is a `Function` subclass. `Function.apply` runs its `forward` on numpy arrays and, when
some input needs a gradient, records the Function instance itself as a node of the graph: it is
the `ctx` the forward saw, it remembers its parents and the module scope it ran in, and the
result Tensor points to it as `grad_fn`. `backward` walks these nodes in reverse topological
order with an explicit stack, so graph depth is limited by memory, not by Python's recursion.

A node keeps a *leaf* parent (a Tensor without `grad_fn`) directly, but a computed parent only
through that parent's own node, never through the Tensor: intermediate results whose arrays no
backward formula saved can be freed while the graph is still alive, as in PyTorch.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

_grad_enabled = True
_scope_stack: list[str] = []


def is_grad_enabled() -> bool:
    return _grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Record no graph inside the block (or the decorated function): for evaluation and
    for updating parameters in place."""

    def __init__(self) -> None:
        self._previous: list[bool] = []  # a stack: a decorated function may call itself

    def __enter__(self) -> "no_grad":
        global _grad_enabled
        self._previous.append(_grad_enabled)
        _grad_enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._previous.pop()


@contextlib.contextmanager
def module_scope(name: str) -> Iterator[None]:
    """Tag the ops recorded inside the block with a module's qualified name (used by
    `Module.__call__`), so the renderer can draw modules as clusters."""
    _scope_stack.append(name)
    try:
        yield
    finally:
        _scope_stack.pop()


def current_scope() -> str:
    return _scope_stack[-1] if _scope_stack else ""


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient that numpy broadcasting spread over `grad.shape` back to `shape`.

    Leading axes that broadcasting added are summed away, then every axis where the input
    had size 1 is summed with keepdims.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


class Function:
    """Base class of every op, built-in or user-defined.

    Subclasses write two static methods on numpy arrays::

        class Square(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return 2 * x * grad            # d(x^2)/dx = 2x

    and call `Square.apply(t)`. Positional arguments of `apply` are the differentiable inputs
    (Tensors or numbers); keyword arguments are passed to `forward` unchanged. `backward`
    returns one gradient per positional input (a bare array when there is one input), or
    None for an input that needs none. Gradients may have the broadcast shape: `apply`
    sums them back to each input's shape.
    """

    # How the inputs' dtypes meet before `forward` (minigrad.dtypes has the rule): None passes
    # the arrays as they are; "common" casts them to their result type (Add, MatMul, Cat...);
    # "float" to their floating result type (Div, Exp: int inputs give the default float dtype).
    promotion: str | None = None

    # Set on the node by `apply`; read by backward, the renderer and gradcheck.
    parents: tuple[Any, ...]  # per input: its grad_fn node, the leaf Tensor itself, or None
    input_shapes: tuple[tuple[int, ...], ...]
    needs_input_grad: tuple[bool, ...]  # set before `forward` runs, so it can save less
    scope: str
    out_shape: tuple[int, ...]
    out_dtype: np.dtype

    @staticmethod
    def forward(ctx: "Function", *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: "Function", grad: np.ndarray) -> Any:
        raise NotImplementedError

    def save_for_backward(self, *arrays: Any) -> None:
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        saved = self.__dict__.get("_saved", ())
        if saved is None:
            raise RuntimeError(
                f"{type(self).__name__}: trying to backward through the graph a second time, "
                "but its saved arrays were freed by the first backward. "
                "Call .backward(retain_graph=True) the first time if you need to do this."
            )
        return saved

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> "Tensor":
        Tensor = _tensor_module.Tensor
        tensors, arrays = _tensor_module.op_inputs(inputs, cls.promotion)
        # List comprehensions and the `_requires_grad` slot: this runs once per op, and a
        # generator or a property call here is a measurable share of a small op's cost.
        needs = tuple([t._requires_grad for t in tensors])
        record = _grad_enabled and True in needs
        ctx = cls()
        # Known before forward (as in PyTorch), so that an op saves only the arrays that the
        # gradients it will compute need; all False when no graph is recorded.
        ctx.needs_input_grad = needs if record else (False,) * len(needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is not np.ndarray:  # numpy turns 0-d results into scalars
            out = np.asarray(out)
        if not record:
            return Tensor._wrap(out)
        ctx.parents = tuple([t if t.grad_fn is None else t.grad_fn for t in tensors])
        ctx.input_shapes = tuple([t.data.shape for t in tensors])
        ctx.scope = _scope_stack[-1] if _scope_stack else ""
        ctx.out_shape = out.shape
        ctx.out_dtype = out.dtype
        return Tensor._wrap(out, grad_fn=ctx)

    def __repr__(self) -> str:
        where = f" in {self.scope}" if getattr(self, "scope", "") else ""
        return f"<{type(self).__name__}{where}>"


def topological_order(root: Function) -> list[Function]:
    """Nodes reachable from `root`, every node after all the nodes that consume its output
    (root first): the order in which backward can visit them. Iterative depth-first search."""
    order: list[Function] = []
    visited = {id(root)}
    stack: list[tuple[Function, int]] = [(root, 0)]
    while stack:
        node, i = stack.pop()
        parents = node.parents
        while i < len(parents):
            parent = parents[i]
            i += 1
            if isinstance(parent, Function) and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((node, i))
                stack.append((parent, 0))
                break
        else:
            order.append(node)
    order.reverse()
    return order


def run_backward(root: Function, grad: np.ndarray, retain_graph: bool) -> None:
    """Propagate `grad` (the gradient of the root node's output) to every leaf below it,
    summing into each leaf's `.grad` and into non-leaves that asked for `retain_grad()`."""
    Tensor = _tensor_module.Tensor
    pending: dict[int, np.ndarray] = {id(root): grad}
    for node in topological_order(root):
        g = pending.pop(id(node), None)
        if g is None:  # every consumer of this node returned None for it
            if not retain_graph:
                node._saved = None
            continue
        retained = node.__dict__.get("retained")
        if retained is not None and retained() is not None:
            retained()._accumulate(g)
        grads = type(node).backward(node, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(node.parents):
            raise RuntimeError(
                f"{type(node).__name__}.backward returned {len(grads)} gradients "
                f"for {len(node.parents)} inputs"
            )
        if not retain_graph:
            node._saved = None
        for parent, needs, shape, pg in zip(node.parents, node.needs_input_grad, node.input_shapes, grads):
            if not needs or pg is None:
                continue
            if type(pg) is not np.ndarray:  # a numpy scalar from a full reduction
                pg = np.asarray(pg)
            if pg.shape != shape:
                pg = unbroadcast(pg, shape)
            if isinstance(parent, Tensor):
                parent._accumulate(pg)
            else:
                if pg.dtype != parent.out_dtype:  # the op computed in a promoted dtype
                    pg = pg.astype(parent.out_dtype)
                key = id(parent)
                previous = pending.get(key)
                pending[key] = pg if previous is None else previous + pg


from . import tensor as _tensor_module  # noqa: E402  (tensor imports this module first)

__all__ = [
    "Function",
    "no_grad",
    "is_grad_enabled",
    "module_scope",
    "current_scope",
    "unbroadcast",
    "topological_order",
    "run_backward",
]
