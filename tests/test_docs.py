"""The documentation cannot rot: its code runs, its links resolve, and its API reference is complete.

1. Every ```python block of README.md and docs/*.md runs. A file's blocks run in order in one
   namespace (a fresh one per file), from the repository root, so a page reads like one session.
   A block preceded by the line `<!-- skip-test -->` is not run: only for what cannot run here
   (a long training run), never to hide a broken example. A page that renders pictures is
   skipped where Graphviz's `dot` program is missing, as the rendering tests are, and a page
   that needs an optional extra (`safetensors`, `tokenizers`) where it is not installed.
2. Every relative link and image in those files points at a file that exists.
3. Every public name of both packages appears in docs/api.md inside a code span, spelled with
   its owner (`F.softmax`, `Tensor.sum`, `nn.Linear`, `tasks.make_task`, ...), so adding a
   public function without documenting it fails here with the list of what is missing.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SKIP_MARK = "<!-- skip-test -->"
OPTIONAL_EXTRAS = ("safetensors", "tokenizers")  # the extra "hf" of pyproject.toml


def doc_files() -> list[Path]:
    return [ROOT / "README.md"] + sorted(DOCS.glob("*.md"))


# ----- 1. code blocks -----------------------------------------------------------------------------
def python_blocks(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line number of the block's first code line, code, skipped) for each ```python block."""
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            end = i + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise AssertionError(f"{path.name}:{i + 1}: a ```python block is never closed")
            yield i + 2, "\n".join(lines[i + 1: end]), previous == SKIP_MARK
            i = end
        i += 1


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.name)
def test_code_blocks_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from minigrad.viz import GraphvizNotFoundError

    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem}"}
    for line, code, skipped in python_blocks(path):
        if skipped:
            continue
        # Padding with blank lines makes a traceback point at the line of the .md file.
        compiled = compile("\n" * (line - 1) + code, str(path), "exec")
        try:
            exec(compiled, namespace)
        except GraphvizNotFoundError:  # like the rendering tests: skip where `dot` is missing
            pytest.skip(f"{path.name}:{line}: Graphviz's dot program is not installed")
        except ModuleNotFoundError as e:
            if e.name not in OPTIONAL_EXTRAS:
                raise
            pytest.skip(f"{path.name}:{line}: the optional package {e.name} is not installed")


def test_skip_marks_are_rare() -> None:
    blocks = [(p, b) for p in doc_files() for b in python_blocks(p)]
    skipped = [f"{p.name}:{line}" for p, (line, _, skip) in blocks if skip]
    assert len(skipped) <= max(3, len(blocks) // 10), f"too many blocks are not run: {skipped}"


# ----- 2. links ----------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_relative_links_resolve() -> None:
    broken = []
    for path in doc_files():
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # not inside code
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a URL or an anchor on the same page
            file = (path.parent / target.split("#")[0]).resolve()
            if not file.exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, "links to missing files:\n  " + "\n  ".join(broken)


# ----- 3. the API reference is complete -----------------------------------------------------------
def _own_public(cls: type, skip: tuple[str, ...] = ()) -> list[str]:
    """Public attributes a class defines itself (methods, properties, class attributes)."""
    return [n for n in vars(cls) if not n.startswith("_") and n not in skip]


def _module_public(module: Any) -> list[str]:
    """`__all__`, else the functions and classes the module defines itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, obj in vars(module).items()
            if not n.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__]


def required_names() -> dict[str, tuple[tuple[str, ...], Any]]:
    """Each public name -> (the spellings that count as documenting it, the object)."""
    import minigrad
    import minigrad.autograd
    import minigrad.functional as F
    import minigrad.nn as nn
    import minigrad.optim as optim
    import transformer

    need: dict[str, tuple[tuple[str, ...], Any]] = {}
    for name in minigrad.__all__:
        need[f"minigrad.{name}"] = ((f"minigrad.{name}",), getattr(minigrad, name))
    for name in minigrad.autograd.__all__:
        need[f"minigrad.autograd.{name}"] = ((f"autograd.{name}",), getattr(minigrad.autograd, name))
    for name in _module_public(F):
        need[f"minigrad.functional.{name}"] = ((f"F.{name}", f"functional.{name}"), getattr(F, name))
    for name in nn.__all__:
        need[f"minigrad.nn.{name}"] = ((f"nn.{name}",), getattr(nn, name))
    for name in _module_public(optim):
        need[f"minigrad.optim.{name}"] = ((f"optim.{name}",), getattr(optim, name))
    for name in dir(minigrad.Tensor):
        if not name.startswith("_"):
            need[f"Tensor.{name}"] = ((f"Tensor.{name}",), getattr(minigrad.Tensor, name))
    for cls in (minigrad.Function, nn.Module, optim.Optimizer):
        for name in _own_public(cls):
            need[f"{cls.__name__}.{name}"] = ((f"{cls.__name__}.{name}",), getattr(cls, name))

    for name in transformer.__all__:
        cls = getattr(transformer, name)
        need[f"transformer.{name}"] = ((f"transformer.{name}",), cls)
        fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        for member in _own_public(cls, skip=("extra_repr",)):
            spellings = (f"{name}.{member}",) + ((member,) if member in fields else ())
            need[f"{name}.{member}"] = (spellings, None if member in fields else getattr(cls, member))
        for member in fields - set(vars(cls)):  # fields without a default
            need[f"{name}.{member}"] = ((f"{name}.{member}", member), None)

    for full in ("transformer.interop", "transformer.viz", "minigrad.viz", "transformer.tasks",
                 "transformer.train", "transformer.rope"):
        try:
            module = importlib.import_module(full)
        except ImportError:  # not written yet
            continue
        short = full.split(".")[-1]
        for name in _module_public(module):
            need[f"{full}.{name}"] = ((f"{full}.{name}", f"{short}.{name}"), getattr(module, name))
    return need


def code_spans(markdown: str) -> list[str]:
    """The text of every `inline code span` (fenced blocks removed first)."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return re.findall(r"`([^`]+)`", text)


def _mentions(spelling: str) -> str:
    return r"(?<![\w])" + re.escape(spelling) + r"(?![\w])"


def test_every_public_name_is_in_the_api_reference() -> None:
    spans = "\n".join(code_spans((DOCS / "api.md").read_text(encoding="utf-8")))
    missing = [
        name for name, (spellings, _) in required_names().items()
        if not any(re.search(_mentions(s), spans) for s in spellings)
    ]
    assert not missing, (
        f"{len(missing)} public names are not documented in docs/api.md (write each one in a code "
        "span with its owner, e.g. `F.softmax(x, dim)` or `Tensor.sum`):\n  " + "\n  ".join(missing)
    )


def _documented_defaults(span: str) -> dict[str, Any]:
    """`name=value` pairs of a documented call, for the values that are Python literals."""
    found = {}
    for key, value in re.findall(r"(\w+)=((?:\([^()]*\))|[^,()]+)", span):
        try:
            found[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            pass  # np.float32, sys.stderr, ...: not checked
    return found


def test_documented_defaults_match_the_code() -> None:
    """A signature written in api.md, such as `optim.SGD(params, lr, momentum=0, ...)`, shows the
    defaults the code really has."""
    spans = code_spans((DOCS / "api.md").read_text(encoding="utf-8"))
    wrong = []
    for name, (spellings, obj) in required_names().items():
        if obj is None or not callable(obj):
            continue
        try:
            parameters = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            continue
        for span in spans:
            if not any(re.match(r"\s*" + re.escape(s) + r"\(", span) for s in spellings):
                continue
            for key, value in _documented_defaults(span).items():
                if key not in parameters:
                    wrong.append(f"{span!r}: {name} has no parameter {key!r}")
                elif parameters[key].default is inspect.Parameter.empty:
                    wrong.append(f"{span!r}: {key} has no default in {name}")
                elif parameters[key].default != value:
                    wrong.append(f"{span!r}: {key} defaults to {parameters[key].default!r} in {name}")
    assert not wrong, "docs/api.md disagrees with the code:\n  " + "\n  ".join(wrong)
