"""Shared test plumbing: every op case (core and nn) as the parameter `op_case`, and the cases
with a PyTorch twin as `torch_case`, so each test file states only what it checks."""
from __future__ import annotations

import os
from typing import Any

# The tests multiply small matrices, where a second BLAS thread brings no speed, and on a busy
# 2-core machine two OpenBLAS threads stall each other (a 10x slowdown was measured). Set before
# numpy is first imported; a value the caller exported wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402


def op_cases() -> list[dict[str, Any]]:
    """The core cases, plus the nn cases when tests/cases_nn.py imports (the registry test
    reports it when it does not). Imported here, not at the top, so that a broken case file
    fails only the tests that use it."""
    import cases_core

    try:
        import cases_nn
    except Exception:  # noqa: BLE001  a broken or missing cases_nn must not hide the core cases
        return list(cases_core.CASES)
    return list(cases_core.CASES) + list(cases_nn.CASES)


def case_id(case: dict[str, Any]) -> str:
    return case.get("id") or case["op"].__name__


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, keep in (("op_case", lambda c: True), ("torch_case", lambda c: c.get("torch_fn") is not None)):
        if name in metafunc.fixturenames:
            cases = [c for c in op_cases() if keep(c)]
            metafunc.parametrize(name, cases, ids=[case_id(c) for c in cases])
