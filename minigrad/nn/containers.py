"""Containers: modules that hold other modules under the names "0", "1", ...

A plain Python list of modules is invisible to `parameters()` and `state_dict()`; these
containers register their items, so `blocks.0.attn.q_proj.weight` has a name.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .module import Module


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
