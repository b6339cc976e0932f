"""What the benchmarks share: child processes set up alike, and a header saying what was measured.

Run the scripts from the repository root (`python benchmarks/bench_ops.py`); this module puts
the root on `sys.path` so a checkout works without `pip install -e .`.
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

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


def numpy_blas_threads() -> int:
    """Threads numpy's BLAS uses, to give PyTorch the same number."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    import numpy  # noqa: F401

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return pools[0]["num_threads"] if pools else (os.cpu_count() or 1)


def torch_available() -> bool:
    """Whether PyTorch is installed, without importing it (that alone costs seconds and ~200 MB)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


MALLOC_CHOICE = "MINIGRAD_BENCH_MALLOC"  # how a parent tells its child "on" or "off"


def child_env(threads: int, mallopt: bool = True) -> dict[str, str]:
    """The environment of a child process: numpy's BLAS limited to `threads` (PyTorch gets the
    same number through torch.set_num_threads), minigrad's allocator tuning on or off (the
    child calls `tune_allocator_if_chosen`)."""
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env[MALLOC_CHOICE] = "on" if mallopt else "off"
    return env


def tune_allocator_if_chosen() -> bool:
    """In a minigrad child (or a single-process benchmark): `minigrad.tune_allocator()`,
    unless the parent chose "off". True when the allocator is tuned."""
    import minigrad

    return os.environ.get(MALLOC_CHOICE, "on") == "on" and minigrad.tune_allocator()


def header(title: str) -> str:
    import numpy

    overrides = ", ".join(f"{k}={os.environ[k]}" for k in OPENBLAS_OVERRIDES if k in os.environ)
    lines = [
        f"# {title}",
        f"# python {platform.python_version()}, numpy {numpy.__version__}, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}",
        f"# {blas_description()}",
        "# load average (1, 5, 15 min) at start: {:.1f} {:.1f} {:.1f} "
        "(above the core count: a busy, noisy machine)".format(*os.getloadavg()),
    ]
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
