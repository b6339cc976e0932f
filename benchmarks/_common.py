"""What the benchmarks share: child processes set up alike, the side-by-side runs against
PyTorch, and a header saying what was measured where. (Timing a call: `median_time`, in
`transformer.faq.stats`, shared with the experiments.)

Side by side: each side (minigrad, PyTorch, or a variant of either) runs in a fresh child
process that imports only its own framework, and the children alternate, A B A B ..., for
`--pairs` pairs. A ratio is taken within each pair, so that a slow stretch of a shared
machine slows both halves of the pair rather than one side's figures; the tables report the
median ratio and its spread (the lowest and highest pair). Each child also reports its peak
resident memory.

Run the scripts from the repository root (`python benchmarks/bench_ops.py`); this module puts
the root on `sys.path` so a checkout works without `pip install -e .`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Set on some machines so that old OpenBLAS builds pick a safe kernel; they slow a current
# numpy down, so the README's commands unset them for the benchmark only.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_description() -> str:
    """numpy's BLAS library, the kernel it chose and its thread count (threadpoolctl when
    installed, else only what numpy reports about itself)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (pip install threadpoolctl to see the kernel and threads)"
    import numpy  # noqa: F401  (threadpoolctl only sees libraries already loaded)

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "BLAS: none found"
    p = pools[0]
    return (
        f"BLAS: {p.get('internal_api')} {p.get('version')}, kernel {p.get('architecture')}, "
        f"{p.get('num_threads')} threads by default"
    )


def torch_available() -> bool:
    """Whether PyTorch is installed, without importing it (that alone costs seconds and ~200 MB)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


MALLOC_CHOICE = "MINIGRAD_BENCH_MALLOC"  # how a parent tells its child "on" or "off"
DEFAULT_THREADS = 2  # the speed targets compare the two frameworks at 2 threads each


def add_side_by_side_options(parser: argparse.ArgumentParser, pairs: int = 5) -> None:
    """The options every side-by-side script takes (and the hidden one its children get)."""
    parser.add_argument("--pairs", type=int, default=pairs,
                        help=f"alternating pairs of child processes, A B A B ... (default {pairs}); "
                             "ratios are taken within each pair")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="threads of each side: numpy's BLAS (and minigrad.set_num_threads), "
                             f"torch.set_num_threads (default {DEFAULT_THREADS})")
    parser.add_argument("--no-torch", action="store_true", help="run minigrad's side only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)


def child_env(threads: int, mallopt: bool = True) -> dict[str, str]:
    """The environment of a child process: numpy's BLAS limited to `threads` from its start
    (PyTorch gets the same number through torch.set_num_threads), minigrad's allocator tuning
    on or off (the child calls `setup_minigrad`)."""
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env[MALLOC_CHOICE] = "on" if mallopt else "off"
    return env


def tune_allocator_if_chosen() -> bool:
    """In a minigrad child (or a single-process benchmark): `minigrad.tune_allocator()`,
    unless the parent chose "off". True when the allocator is tuned."""
    import minigrad

    return os.environ.get(MALLOC_CHOICE, "on") == "on" and minigrad.tune_allocator()


def setup_minigrad(threads: int) -> None:
    """What a minigrad child does before it measures: the thread count it was given (through
    the public control, which covers every pool minigrad runs) and the allocator tuning."""
    import minigrad

    minigrad.set_num_threads(threads)
    tune_allocator_if_chosen()


def setup_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def maxrss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(script: str, arguments: list[str], threads: int, mallopt: bool = True) -> dict[str, Any]:
    """Run `script --worker ...` in a fresh process and return the JSON object it prints last."""
    command = [sys.executable, script, "--worker", *arguments, "--threads", str(threads)]
    done = subprocess.run(command, env=child_env(threads, mallopt), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{Path(script).name} --worker {' '.join(arguments)} failed:\n{done.stderr}")
    sys.stderr.write(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate(sides: dict[str, Callable[[], dict[str, Any]]], pairs: int) -> dict[str, list[dict[str, Any]]]:
    """Run every side once per pair, in the same order each time (A B A B ...): the results of
    pair i of every side, at index i of its list."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for _ in range(pairs):
        for name, run in sides.items():
            results[name].append(run())
    return results


@dataclass(frozen=True)
class Ratios:
    """Per-pair ratios of one side's figure to another's (below 1: the first side is lower)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> Ratios | None:
        """The ratio a[key] / b[key] within each pair where both sides have the figure."""
        values = tuple(x[key] / y[key] for x, y in zip(a, b) if x.get(key) and y.get(key))
        return cls(values) if values else None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> str:
        return f"{min(self.values):.2f}-{max(self.values):.2f}"

    def __str__(self) -> str:
        return f"{self.median:.2f} ({self.spread})"


def median_of(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_version() -> str:
    """PyTorch's version without importing it (that alone costs seconds and ~200 MB)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def header(title: str, threads: int | None = None) -> str:
    """What was measured, on what: the machine, the libraries, the thread settings of both
    sides and the load average (1, 5, 15 min) at the start."""
    import numpy

    overrides = ", ".join(f"{k}={os.environ[k]}" for k in OPENBLAS_OVERRIDES if k in os.environ)
    lines = [
        f"# {title}",
        f"# machine: {_cpu_model()}, {os.cpu_count()} cores; python {platform.python_version()}, "
        f"numpy {numpy.__version__}, torch {_torch_version()}",
        f"# {blas_description()}",
    ]
    if threads is not None:
        lines.append(f"# threads: {threads} each: minigrad.set_num_threads({threads}) (one pool for the "
                     f"kernels and the products, numpy's BLAS on one thread); "
                     f"torch.set_num_threads({threads})")
    busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    lines.append(f"# load average (1, 5, 15 min) at start: {load_average()}"
                 + (" (above the core count: a busy machine, noisy figures)" if busy else ""))
    if overrides:
        lines.append(f"# WARNING: {overrides} is set and slows numpy; unset both for this command")
    return "\n".join(lines)


def table(rows: list[list[str]], head: list[str]) -> str:
    """A plain text table, columns right-aligned except the first."""
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i,
                         (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
