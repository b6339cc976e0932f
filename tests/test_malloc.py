"""minigrad._malloc: glibc's malloc thresholds are raised at import, unless the user opts out.

Each check imports minigrad in a fresh interpreter, since the tuning happens once per process.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ON_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def tuned_after_import(opt_out: str | None) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_NO_MALLOPT"}
    if opt_out is not None:
        env["MINIGRAD_NO_MALLOPT"] = opt_out
    code = "import minigrad, minigrad._malloc as m; print(m.tuned)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip() == "True"


def test_opt_out_leaves_the_allocator_alone() -> None:
    assert tuned_after_import("1") is False


@pytest.mark.skipif(not ON_GLIBC, reason="the tuning exists only on Linux with glibc")
def test_tuned_by_default_on_glibc() -> None:
    assert tuned_after_import(None) is True
    assert tuned_after_import("0") is True  # "0" means do not opt out
