"""What an FAQ experiment hands back: its tables, its figures and the few facts its claim rests on.

Tables print as Markdown pipe tables, so what the terminal shows is exactly what docs/faq.md
quotes; a `stats.Spread` in a cell prints as "mean ± sd". `facts` holds the numbers the tests
assert on (e.g. the largest asymmetry of a shared-QK score matrix), so a test checks the same
run a reader sees: a dataclass of the experiment's own (typed fields, Spreads over seeds), or a
dict of named numbers.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .stats import number
from .svg_chart import mark_quick

DEFAULT_OUT = Path("runs/faq")  # figures go here unless asked (docs/images/faq holds the documented ones)


@dataclass
class Table:
    title: str
    headers: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)

    def markdown(self) -> str:
        cells = [[str(h) for h in self.headers]] + [[_cell(v) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.headers))]
        lines = ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |" for row in cells]
        rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"  # right-aligned columns
        return "\n".join([f"**{self.title}**", "", lines[0], rule] + lines[1:])


@dataclass
class Result:
    question: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    facts: Any = field(default_factory=dict)  # an experiment's facts dataclass, or a dict
    seconds: float = 0.0

    def markdown(self) -> str:
        parts = [t.markdown() for t in self.tables]
        parts.append("Figures: " + ", ".join(str(p) for p in self.figures) if self.figures else "")
        parts.append(f"({self.question} took {self.seconds:.1f} s)")
        return "\n\n".join(p for p in parts if p)


def experiment(name: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Decorate an experiment's `run(quick, out_dir, seed)`: time it, print its tables, and
    say so if a quick run's numbers are being shown (quick runs are too short to quote)."""

    def wrap(run: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(run)
        def timed(quick: bool = False, out_dir: Path | str = DEFAULT_OUT, seed: int = 0) -> Result:
            started = time.perf_counter()
            result = run(quick=quick, out_dir=Path(out_dir), seed=seed)
            result.seconds = time.perf_counter() - started
            if quick:
                for figure in result.figures:
                    mark_quick(figure)
            print(f"## {name}{' (quick mode: a smoke test, not the documented numbers)' if quick else ''}\n")
            print(result.markdown(), flush=True)
            return result

        return timed

    return wrap


def per_seed(values: Iterable[float]) -> str:
    """One cell listing a measurement of every seed, e.g. "0.968 / 0.950"."""
    return " / ".join(_cell(float(v)) for v in values)


def _cell(v: Any) -> str:
    """Floats as `stats.number` writes them, a Spread as "mean ± sd", anything else as str()."""
    if isinstance(v, float):
        return number(v)
    return str(v)
