"""Containers: modules that hold other modules (or parameters) under the names "0", "1", ...
or under keys of your choice.

A plain Python list or dict of modules is invisible to `parameters()` and `state_dict()`; these
containers register their items, so `blocks.0.attn.q_proj.weight` has a name.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .module import Module
from .parameter import Parameter


class _IndexedModules(Module):
    """Indexing, iteration and len over the children, shared by Sequential and ModuleList."""

    def _add(self, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: items must be Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(*items[index]) if isinstance(self, Sequential) else ModuleList(items[index])
        if not -len(items) <= index < len(items):
            raise IndexError(f"{type(self).__name__}: index {index} is out of range for {len(items)} modules")
        return items[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)


class Sequential(_IndexedModules):
    """Calls its modules in order, each on the previous one's output."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self._add(module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(_IndexedModules):
    """A list of modules with no forward of its own: the owner decides how to call them."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self._add(module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self._add(module)
        return self


class ModuleDict(Module):
    """A dict of modules registered under their keys (strings without '.'), in insertion
    order, with no forward of its own: `heads["cls"](x)`, `for name in heads: ...`."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _check_key(self, key: Any) -> str:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: keys must be non-empty strings without '.', got {key!r}")
        return key

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module named {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: values must be Modules, got {type(module).__name__}")
        if key in self._modules:
            self._modules[key] = module  # replaced in place: the order stays
        else:
            setattr(self, self._check_key(key), module)

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError that names the keys
        del self._modules[key]

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        self._modules.clear()


class ParameterList(Module):
    """A list of Parameters registered under "0", "1", ..., so that `parameters()` finds
    them (a plain list of Parameters would be invisible). Tensors and arrays appended are
    wrapped in a Parameter."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        super().__init__()
        self.extend(values)

    @staticmethod
    def _as_parameter(value: Any) -> Parameter:
        return value if isinstance(value, Parameter) else Parameter(value)

    def _index(self, index: int) -> str:
        if not -len(self) <= index < len(self):
            raise IndexError(f"ParameterList: index {index} is out of range for {len(self)} parameters")
        return str(index % len(self))

    def __getitem__(self, index: int) -> Parameter:
        return self._parameters[self._index(index)]

    def __setitem__(self, index: int, value: Any) -> None:
        self._parameters[self._index(index)] = self._as_parameter(value)  # in place: the order stays

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __len__(self) -> int:
        return len(self._parameters)

    def append(self, value: Any) -> ParameterList:
        setattr(self, str(len(self)), self._as_parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return ", ".join(f"{tuple(p.shape)} {p.dtype}" for p in self)
