"""The import graph of `minigrad`, read from the source with `ast`: no cycles, and the layers
point one way (ops know arrays and autograd; autograd knows no Tensor)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minigrad"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The minigrad modules that `path` imports anywhere in its body (inside functions too):
    `from . import x` counts as importing the submodule x when x is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, set(known)) for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None. Iterative DFS."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_reader_sees_the_package() -> None:
    graph = import_graph()
    assert "minigrad.tensor" in graph and "minigrad.ops.elementwise" in graph
    assert "minigrad.autograd" in graph["minigrad.tensor"]
    assert "minigrad.autograd" in graph["minigrad.ops.elementwise"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_minigrad_has_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_autograd_imports_nothing_from_minigrad() -> None:
    assert import_graph()["minigrad.autograd"] == set()


@pytest.mark.parametrize("forbidden", ["minigrad.nn", "minigrad.viz", "minigrad.optim", "minigrad.tensor",
                                       "minigrad.functional"])
def test_ops_never_import_the_layers_above_them(forbidden: str) -> None:
    for name, imported in import_graph().items():
        if name.startswith("minigrad.ops"):
            above = {m for m in imported if m == forbidden or m.startswith(forbidden + ".")}
            assert not above, f"{name} imports {sorted(above)}"
