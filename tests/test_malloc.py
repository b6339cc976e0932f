"""minigrad.tune_allocator: `import minigrad` leaves glibc's allocator alone; the explicit call
raises its thresholds once per process.

Each check runs in a fresh interpreter, since the tuning is per process.
"""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ON_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_import_leaves_the_allocator_alone() -> None:
    assert run("import minigrad, minigrad.allocator as a; print(a.tuned)") == "False"


@pytest.mark.skipif(not ON_GLIBC, reason="the tuning exists only on Linux with glibc")
def test_tune_allocator_raises_the_thresholds_once() -> None:
    code = ("import minigrad, minigrad.allocator as a\n"
            "print(minigrad.tune_allocator(), a.tuned, minigrad.tune_allocator())")
    assert run(code) == "True True True"


@pytest.mark.skipif(ON_GLIBC, reason="elsewhere than glibc the call does nothing")
def test_tune_allocator_is_harmless_elsewhere() -> None:
    assert run("import minigrad; print(minigrad.tune_allocator())") == "False"


@pytest.mark.skipif(not ON_GLIBC, reason="the tuning exists only on Linux with glibc")
def test_a_step_sized_swing_of_memory_is_reused_not_faulted_in_again() -> None:
    # 320 MiB of arrays made, freed and made again, as a training step's activations are: with the
    # heap top trimmed past 128 MiB (the earlier threshold) the second round took ~16,000 page
    # faults; kept, it takes none beyond a few of the interpreter's own.
    code = ("import resource, numpy as np, minigrad\n"
            "minigrad.tune_allocator()\n"
            "def swing():\n"
            "    arrays = [np.ones(1 << 21, dtype=np.float32) for _ in range(40)]\n"
            "    del arrays\n"
            "swing()\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "swing()\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")
    assert int(run(code)) < 200
