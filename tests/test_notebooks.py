"""The example notebooks are stored without outputs, and run from top to bottom without an
error (with nbclient and ipykernel, the `notebook` extra, and Graphviz's dot for their
pictures; skipped otherwise). The explorer cells show the explorer inline."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_and_they_are_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["autodiff_from_scratch.ipynb", "transformer_explorer.ipynb"]
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed (the notebooks draw graphs)")
    # The kernel is this interpreter (not whatever `python3` kernel a machine has installed),
    # importing minigrad and transformer from this checkout, with one BLAS thread.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.kernel_manager_class = _this_python_kernel_manager(nbclient)
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    html = [
        o["data"]["text/html"]
        for c in notebook.cells
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {})
    ]
    if path.stem == "transformer_explorer":
        assert len(html) == 2 and all(h.startswith("<iframe srcdoc=") for h in html)
    else:
        svg = [
            o for c in notebook.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})
        ]
        assert len(svg) == 4  # the four graphs drawn


def _this_python_kernel_manager(nbclient):
    """A KernelManager whose kernel command is `sys.executable -m ipykernel_launcher`, so a
    fresh virtual environment needs no installed kernel spec."""
    from jupyter_client.manager import KernelManager

    class ThisPython(KernelManager):
        @property
        def kernel_spec(self):
            spec = super().kernel_spec
            spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
            return spec

    return ThisPython
