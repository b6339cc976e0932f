"""Every Function subclass in minigrad.ops has a gradient-check case, and every case passes."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import cases_core

import minigrad
import minigrad.ops
from minigrad import Function


def registered_ops() -> list[type[Function]]:
    """The Function subclasses defined (not merely imported) in each module of minigrad.ops."""
    ops = []
    for module_info in pkgutil.iter_modules(minigrad.ops.__path__):
        module = importlib.import_module(f"minigrad.ops.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Function) and cls is not Function and cls.__module__ == module.__name__:
                ops.append(cls)
    return ops


def test_registry_finds_the_core_ops() -> None:
    names = {cls.__name__ for cls in registered_ops()}
    assert {"Add", "MatMul", "Linear", "Sum", "GetItem", "Cat"} <= names


def test_every_op_has_a_gradcheck_case() -> None:
    cases: list[dict[str, Any]] = list(cases_core.CASES)
    note = ""
    try:
        import cases_nn

        cases += cases_nn.CASES
    except ModuleNotFoundError as e:
        if e.name != "cases_nn":
            raise
        note = " (tests/cases_nn.py does not exist yet)"
    covered = {case["op"] for case in cases}
    missing = [f"{cls.__module__}.{cls.__name__}" for cls in registered_ops() if cls not in covered]
    assert not missing, f"ops without a gradcheck case{note}: {', '.join(missing)}"


def test_gradcheck(op_case: dict[str, Any]) -> None:
    inputs = op_case["inputs"]()
    tensors = [x for x in inputs if isinstance(x, minigrad.Tensor)]
    assert all(x.dtype == "float64" for x in tensors), "cases use float64 inputs"
    assert minigrad.gradcheck(op_case["fn"], inputs)
