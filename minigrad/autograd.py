"""The graph machinery: Function nodes, grad mode, module scopes and the backward walk.

Every op is a `Function` subclass whose `forward` and `backward` work on numpy arrays. When an op
runs on Tensors and some input needs a gradient, the Function instance itself becomes a node of
the graph: it is the `ctx` the forward saw, it remembers its parents and the module scope it ran
in, and the result Tensor points to it as `grad_fn`. `run_backward` walks these nodes in reverse
topological order with an explicit stack, so graph depth is limited by memory, not by Python's
recursion.

This module knows nodes and arrays, never the Tensor class: turning Tensors into arrays and back
is the Tensor's job (`minigrad.tensor.apply_function`), which `Function.apply` hands its inputs
to. Imports therefore point one way: `tensor` -> `ops` -> `autograd`.

A node keeps a *leaf* parent (a Tensor without `grad_fn`) directly, but a computed parent only
through that parent's own node, never through the Tensor: intermediate results whose arrays no
backward formula saved can be freed while the graph is still alive, as in PyTorch.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import operator
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


class _ThreadState(threading.local):
    """Grad mode and the module-scope stack, one of each per thread (as in PyTorch): a thread
    evaluating under `no_grad()` must not switch off recording in a thread that trains."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.scopes: list[str] = []


_state = _ThreadState()


def is_grad_enabled() -> bool:
    """Whether ops run now (in this thread) record a graph."""
    return _state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """A context manager and decorator that sets this thread's grad mode to `self.mode`
    inside and restores the previous mode on the way out. Decorating a generator function
    covers its body: the mode is set around every step of the generator, not only around
    the call that creates it."""

    mode: bool

    def __init__(self) -> None:
        self._previous: list[bool] = []  # a stack: the same object may be entered again inside

    def __enter__(self) -> _GradMode:
        self._previous.append(_state.grad_enabled)
        _state.grad_enabled = self.mode
        return self

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._previous.pop()

    def _recreate_cm(self) -> _GradMode:
        return type(self)()  # one object per call: calls in two threads share no stack

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.isgeneratorfunction(func):
            return super().__call__(func)

        @functools.wraps(func)
        def generator(*args: Any, **kwargs: Any) -> Any:
            try:
                with self._recreate_cm():
                    steps = func(*args, **kwargs)
                    value = steps.send(None)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with self._recreate_cm():
                            steps.close()
                        raise
                    except BaseException as error:  # thrown into us: pass it on to the body
                        with self._recreate_cm():
                            value = steps.throw(error)
                    else:
                        with self._recreate_cm():
                            value = steps.send(sent)
            except StopIteration as finished:
                return finished.value

        return generator


class no_grad(_GradMode):
    """Record no graph inside the block (or the decorated function, generator functions
    included): for evaluation and for updating parameters in place."""

    mode = False


class enable_grad(_GradMode):
    """Record the graph again inside a `no_grad` block (or the decorated function)."""

    mode = True


class inference_mode(_GradMode):
    """PyTorch's name for evaluation-only code; here `inference_mode()` is `no_grad()` (there
    is no separate kind of inference tensor). As in PyTorch, `inference_mode(False)` turns
    recording on inside the block."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self.mode = not mode

    def _recreate_cm(self) -> inference_mode:
        return inference_mode(not self.mode)


class set_grad_enabled(_GradMode):
    """Set this thread's grad mode to `mode`: at once when called as a function
    (`minigrad.set_grad_enabled(False)`), or for a block (`with set_grad_enabled(False):`)
    or a decorated function, restoring the previous mode after it."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous = [_state.grad_enabled]
        _state.grad_enabled = self.mode  # the function form takes effect here

    def __enter__(self) -> set_grad_enabled:
        return self  # already set by __init__; __exit__ restores

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        _state.grad_enabled = self._previous.pop()  # as a decorator it acts per call, not now
        return super().__call__(func)

    def _recreate_cm(self) -> set_grad_enabled:
        return set_grad_enabled(self.mode)


@contextlib.contextmanager
def module_scope(name: str) -> Iterator[None]:
    """Tag the ops recorded inside the block (in this thread) with a module's qualified name
    (used by `Module.__call__`), so the renderer can draw modules as clusters."""
    scopes = _state.scopes
    scopes.append(name)
    try:
        yield
    finally:
        scopes.pop()


def current_scope() -> str:
    """The innermost module scope of this thread, "" outside every module."""
    scopes = _state.scopes
    return scopes[-1] if scopes else ""


def in_module_call() -> bool:
    """Whether a Module's forward is running (some `module_scope` is open): `Module.__call__`
    names the modules below it only when it is the outermost call."""
    return bool(_state.scopes)


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


class VersionCounter:
    """How many times a tensor's data has been changed in place (shared by the tensors that
    share the memory: views and `detach()`). A node remembers the version of each input whose
    array it saved, and refuses to run backward once that version has moved on.

    Every op's result gets one, so it is made as cheaply as Python allows: no `__init__`, the
    starting version a class attribute that the first in-place change shadows."""

    value = 0


def increment_version(tensor: Any) -> None:
    """Count an in-place change made to `tensor`'s array outside minigrad's in-place methods
    (as an optimizer step or `load_state_dict` does), so that graphs which saved the old
    values refuse to backward through them. Like `torch.autograd.graph.increment_version`."""
    tensor._version_counter.value += 1


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
    sequence: int  # when the node was made: after the nodes of its inputs, before its consumers
    # saved_versions: per saved array of an input (or the output), (index in the saved arrays,
    # that tensor's version counter, its version then, the input's index or None for the output)

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> Any:
        raise NotImplementedError

    def save_for_backward(self, *arrays: Any) -> None:
        self._saved = arrays

    def described_inputs(self) -> tuple[tuple[str, np.ndarray], ...]:
        """The arrays this node's `forward` took as keywords rather than as Tensors that a
        picture of the graph should still show (token ids, targets, an attention mask), as
        (label, array) pairs; none by default. An op that takes such an array keeps it on the
        node and overrides this; `minigrad.graph_layout` draws each one as an input."""
        return ()

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        saved = self.__dict__.get("_saved", ())
        if saved is None:
            raise RuntimeError(
                f"{type(self).__name__}: trying to backward through the graph a second time, "
                "but its saved arrays were freed by the first backward. "
                "Call .backward(retain_graph=True) the first time if you need to do this."
            )
        for i, counter, version, source in self.__dict__.get("saved_versions", ()):
            if counter.value != version:
                what = "output 0" if source is None else f"input {source}"
                raise RuntimeError(
                    f"{type(self).__name__}: one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: the {what} of shape {saved[i].shape} it saved is at "
                    f"version {counter.value}; expected version {version} instead. Change it after "
                    "backward(), or use .clone()."
                )
        return saved

    def keep_own_copy(self, array: np.ndarray) -> None:
        """If this node saved `array` itself, keep a private copy instead: `array` is about to
        be overwritten by the in-place op that this node records (as in `a.mul_(b)`)."""
        saved = self.__dict__.get("_saved")
        if not saved or not any(a is array for a in saved):
            return
        self._saved = tuple(a.copy() if a is array else a for a in saved)
        watched = self.__dict__.get("saved_versions")
        if watched:
            self.saved_versions = [w for w in watched if saved[w[0]] is not array]

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Any:
        """Run the op on its inputs and return a Tensor (recording a node when some input
        needs a gradient). The Tensor class of the inputs does the work, in
        `minigrad.tensor.apply_function`: this module never touches Tensors."""
        for x in inputs:
            run = getattr(type(x), "_apply_function", None)
            if run is not None:
                return run(cls, inputs, kwargs)
        raise TypeError(f"{cls.__name__}.apply: expected at least one Tensor among the inputs")

    def connect(self, parents: tuple[Any, ...], input_shapes: tuple[tuple[int, ...], ...],
                out: np.ndarray) -> None:
        """Make this ctx a node of the graph: called once its forward has produced `out`."""
        self.parents = parents
        self.input_shapes = input_shapes
        scopes = _state.scopes
        self.scope = scopes[-1] if scopes else ""
        self.out_shape = out.shape
        self.out_dtype = out.dtype
        self.sequence = next(_sequence)

    def __repr__(self) -> str:
        where = f" in {self.scope}" if getattr(self, "scope", "") else ""
        return f"<{type(self).__name__}{where}>"


_sequence = itertools.count()  # numbers the nodes as they are made (next() is atomic under the GIL)
_newest_first = operator.attrgetter("sequence")


def topological_order(root: Function) -> list[Function]:
    """Nodes reachable from `root`, every node after all the nodes that consume its output
    (root first): the order in which backward can visit them. A node is always made after the
    nodes of its inputs, so the reachable nodes, newest first, are in that order; finding them
    is a walk with an explicit stack, and the sort by creation number runs in C."""
    found = {id(root): root}
    stack = [root]
    while stack:
        for parent in stack.pop().parents:
            if isinstance(parent, Function) and id(parent) not in found:
                found[id(parent)] = parent
                stack.append(parent)
    return sorted(found.values(), key=_newest_first, reverse=True)


def run_backward(root: Function, grad: np.ndarray, retain_graph: bool) -> None:
    """Propagate `grad` (the gradient of the root node's output) to every leaf below it,
    summing into each leaf's `.grad` and into non-leaves that asked for `retain_grad()`.

    A leaf's gradients are summed here as they arrive and added to its `.grad` once at the
    end, as PyTorch's engine does: a weight used in 100 ops costs one accumulation, not 100."""
    pending: dict[int, np.ndarray] = {id(root): grad}
    leaves: dict[int, list[Any]] = {}  # id -> [leaf Tensor, its summed gradient, whether ours alone]
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
            key = id(parent)
            if isinstance(parent, Function):
                dtype = pg.dtype
                if dtype is not parent.out_dtype and dtype != parent.out_dtype:  # the op promoted
                    pg = pg.astype(parent.out_dtype)
                previous = pending.get(key)
                pending[key] = pg if previous is None else previous + pg
            else:  # a leaf Tensor
                entry = leaves.get(key)
                if entry is None:
                    leaves[key] = [parent, pg, False]  # pg may be shared (Add returns one array twice)
                else:
                    entry[1] = entry[1] + pg
                    entry[2] = True
    for leaf, g, own in leaves.values():
        leaf._accumulate(g, copy=not own)

__all__ = [
    "Function",
    "VersionCounter",
    "increment_version",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "is_grad_enabled",
    "module_scope",
    "current_scope",
    "in_module_call",
    "unbroadcast",
    "topological_order",
    "run_backward",
]
