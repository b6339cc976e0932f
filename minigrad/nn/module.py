"""Module: the base class of layers and models, holding parameters and child modules.

Assigning a `Parameter` or a `Module` to an attribute registers it (in `_parameters` or
`_modules`, in assignment order); `register_buffer` registers a Tensor that is state but not a
parameter (saved in `state_dict`, cast by `to`, never trained); everything else is a plain
attribute. Names are the attribute paths joined by dots, as in PyTorch:
"blocks.0.attn.q_proj.weight".

Calling a module runs its `forward` inside `autograd.module_scope(qualified name)`, so every op it
records carries the name of the module that ran it (the graph renderer draws these as nested
clusters). Names are relative to the outermost module called: when no module is running, the
called module names itself "" and every submodule and parameter below it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .. import autograd
from ..tensor import Tensor
from .parameter import Parameter


@contextlib.contextmanager
def evaluating(module: Module) -> Iterator[Module]:
    """Within the block, `module` and every module below it are in eval mode (no dropout);
    afterwards each one is back in the mode it had, also after an error. Yields `module`.

        with minigrad.no_grad(), nn.evaluating(model):
            logits = model(ids)
    """
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            m.training = mode


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Subclasses call `super().__init__()` first, assign their parameters and submodules as
    attributes, and write `forward`; call the module itself (`model(x)`), not `forward`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        self.training = True
        # Set by the outermost call; None means "never named": run in the caller's scope.
        self._qualname: str | None = None

    # ----- registration ------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attribute {name!r}"
            )
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if name in buffers and not isinstance(value, (Parameter, Module)):
            buffers[name] = _as_buffer(type(self).__name__, name, value)
        elif isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if isinstance(value, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: cannot assign a plain Tensor to parameter {name!r}; "
                    "wrap it in nn.Parameter (or assign None)"
                )
            params.pop(name)
            object.__setattr__(self, name, value)
        else:
            modules.pop(name, None)
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        self.__dict__.pop(name, None)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent.discard(name)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Keep `tensor` (a Tensor, an array, or None) as state that is not a parameter: it is
        reached as `self.<name>`, listed by `buffers()`, cast by `to()`, and saved in
        `state_dict()` unless `persistent=False` (for tables rebuilt from the config, such as
        rotary angles). Assigning to the name later replaces the buffer."""
        owner = type(self).__name__
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{owner}.register_buffer: name must be a non-empty string without '.', "
                           f"got {name!r}")
        if (name in self._parameters or name in self._modules
                or (name in self.__dict__ and name not in self._buffers)):
            raise KeyError(f"{owner}.register_buffer: attribute {name!r} already exists")
        self._forget(name)
        self._buffers[name] = _as_buffer(owner, name, tensor)
        if not persistent:
            self._non_persistent.add(name)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails, i.e. for registered parameters and modules.
        d = self.__dict__
        if "_parameters" in d and name in d["_parameters"]:
            return d["_parameters"][name]
        if "_modules" in d and name in d["_modules"]:
            return d["_modules"][name]
        if "_buffers" in d and name in d["_buffers"]:
            return d["_buffers"][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent.discard(name)
        else:
            object.__delattr__(self, name)

    # ----- traversal ---------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, depth first, each once (a module shared
        by two parents keeps its first name)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, m) for child, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter once, in registration order (a tied parameter keeps its first name)."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """Every buffer that is not None, once, with its qualified name."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None and id(b) not in seen:
                    seen.add(id(b))
                    yield (f"{prefix}.{name}" if prefix else name), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def _state_tensors(self) -> Iterator[tuple[str, Tensor]]:
        """What `state_dict` holds: every parameter under each of its names (a tied parameter
        appears twice), then every persistent buffer that is not None."""
        yield from self._all_named_parameters()
        for prefix, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    yield (f"{prefix}.{name}" if prefix else name), b

    def _all_named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Like named_parameters, but a tied parameter appears under each of its names."""
        for prefix, module in self.named_modules():
            for name, p in module._parameters.items():
                yield (f"{prefix}.{name}" if prefix else name), p

    # ----- calling -----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not autograd.in_module_call():
            self._name_submodules()
        scope = self._qualname if self._qualname is not None else autograd.current_scope()
        with autograd.module_scope(scope):
            return self.forward(*args, **kwargs)

    def _name_submodules(self) -> None:
        """Give every module below (and including) this one its qualified name relative to
        this one: the scope its ops are recorded in. Parameters are not renamed; the graph
        renderer asks `named_parameters()` when it draws."""
        for prefix, module in self.named_modules():
            object.__setattr__(module, "_qualname", prefix)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every submodule, children before their parent, and last on this module
        (as torch.nn.Module.apply, the usual way to run an initializer over a model)."""
        for child in self._modules.values():
            child.apply(fn)
        fn(self)
        return self

    # ----- modes and dtypes --------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set `.training` on this module and every module below it (Dropout reads it)."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (set it to None, PyTorch's default)."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Turn gradients on or off for every parameter (to freeze a part of a model)."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype: Any) -> Module:
        """Cast every parameter (and its gradient) and every floating-point buffer to a
        floating dtype, in place: the Parameter and buffer objects stay the same, so
        optimizers built before keep working. Integer and bool buffers keep their dtype."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"Module.to: dtype must be floating point, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            if p.grad is not None:
                p.grad.data = p.grad.data.astype(dtype, copy=False)
        for b in self.buffers():
            if np.issubdtype(b.dtype, np.floating):
                b.data = b.data.astype(dtype, copy=False)
        return self

    # ----- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Qualified name -> a copy of the array of each parameter (a tied parameter under each
        name) and of each persistent buffer."""
        return {name: t.data.copy() for name, t in self._state_tensors()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) into the parameters and persistent buffers, cast to each
        one's dtype.

        A shape mismatch is always an error; missing and unexpected keys are errors when
        `strict`, and are returned otherwise. The error lists every problem at once.
        """
        own = dict(self._state_tensors())
        arrays = {k: (v.data if isinstance(v, Tensor) else np.asarray(v)) for k, v in state.items()}
        missing = [k for k in own if k not in arrays]
        unexpected = [k for k in arrays if k not in own]
        misshaped = [
            f"{k}: expected shape {own[k].shape}, got {arrays[k].shape}"
            for k in own if k in arrays and arrays[k].shape != own[k].shape
        ]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if misshaped:
            problems.append("shape mismatches: " + "; ".join(misshaped))
        if problems:
            raise RuntimeError(
                f"load_state_dict: the state does not fit {type(self).__name__}:\n  " + "\n  ".join(problems)
            )
        for name, p in own.items():
            if name in arrays:
                p.data[...] = arrays[name]
                autograd.increment_version(p)
        return IncompatibleKeys(missing, unexpected)

    # ----- printing ----------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The sizes and options shown between the parentheses, e.g. "in_features=2, ..."."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _as_buffer(owner: str, name: str, value: Any) -> Tensor | None:
    """A buffer is a Tensor outside the graph (or None); arrays are wrapped, sharing memory."""
    if value is None:
        return None
    if isinstance(value, Parameter):
        raise TypeError(f"{owner}: buffer {name!r} cannot be a Parameter; assign it as an attribute instead")
    if isinstance(value, Tensor):
        return value.detach() if value.requires_grad else value
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor(value)
    raise TypeError(f"{owner}: buffer {name!r} must be a Tensor, a numpy array or None, got "
                    f"{type(value).__name__}")
