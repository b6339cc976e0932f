"""viz.graph_explorer: one page per module it can open, a tooltip for every node drawn (op,
shapes, dtype, values, gradient norm) that agrees with the model, the parameters' gradients put
back, and render-graph writing it for an .html output. Needs Graphviz's dot."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import minigrad
from minigrad.graph_layout import grad_norm
from transformer import TransformerConfig, TransformerLM
from transformer.explorer import embedded_data
from transformer.viz import graph_explorer, value_summary

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")


@pytest.fixture(scope="module")
def lm():
    minigrad.manual_seed(0)
    return TransformerLM(TransformerConfig(vocab_size=10, max_len=16, d_model=16, n_heads=2, n_layers=2))


@pytest.fixture(scope="module")
def explorer(lm):
    return graph_explorer(lm)


def svg_node_ids(svg: str) -> list[str]:
    return re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]*)</title>', svg)


def test_pages_open_each_collapsed_module_two_depths_down(explorer):
    names = [page.name for page in explorer.pages]
    assert names[0] == "" and explorer.pages[0].title == "TransformerLM, depth 1"
    assert set(explorer.pages[0].opens.values()) == {"tok_emb", "pos_emb", "blocks", "head"}
    blocks = next(p for p in explorer.pages if p.name == "blocks")
    assert set(blocks.opens.values()) == {"blocks.0", "blocks.1"}
    assert "blocks.0" in names and "blocks.0.attn" not in names  # levels=2: two depths below the first
    assert next(p for p in explorer.pages if p.name == "blocks.0").opens == {}


def test_every_drawn_node_has_a_tooltip(explorer):
    for page in explorer.pages:
        drawn = svg_node_ids(page.svg)
        assert drawn and set(drawn) == set(page.tooltips), page.name
        assert set(page.opens) <= set(drawn)


def test_tooltips_give_op_shapes_dtype_values_and_gradient_norms(lm, explorer):
    root = explorer.pages[0].tooltips
    loss_line = root["t0"]
    assert loss_line[0] == "output" and loss_line[1] == "shape (), dtype float32"
    ids = np.random.default_rng(0).integers(0, 10, size=(1, 8))  # graph_explorer's default input
    _, loss = lm(ids, ids)
    assert loss_line[2] == f"value {loss.item():.6g}" and loss_line[3] == "|grad| 1"
    assert root["op0"][:3] == ["op CrossEntropy", "inputs: (8, 10)", "output: () float32"]
    head = next(lines for lines in root.values() if lines[0] == "module head (Linear)")
    lm.zero_grad()
    loss.backward()
    norm = np.sqrt(grad_norm(lm.head.weight.grad) ** 2 + grad_norm(lm.head.bias.grad) ** 2)
    assert head[1] == "170 parameters" and head[-2] == f"|grad| of its parameters {norm:.4g}"
    assert head[-1] == "click to open its graph"
    last = next(p for p in explorer.pages if p.name == "blocks.0").tooltips
    attn = next(lines for lines in last.values() if lines[0] == "module blocks.0.attn (MultiHeadAttention)")
    assert attn[-1] == "(its graph is not in this file: pages go 2 levels deep)"
    tensors = [lines for page in explorer.pages for lines in page.tooltips.values() if lines[0] == "tensor"]
    assert tensors and all(len(lines) == 4 and lines[3].startswith("|grad| ") for lines in tensors)
    head_page = next(p for p in explorer.pages if p.name == "head")
    weight = next(lines for lines in head_page.tooltips.values() if lines[0] == "parameter head.weight")
    assert weight == [
        "parameter head.weight",
        "shape (10, 16), dtype float32",
        value_summary(lm.head.weight.data),
        f"|grad| {grad_norm(lm.head.weight.grad):.4g}",
    ]


def test_module_pages_hold_the_module_and_what_goes_in_and_out(explorer):
    page = next(p for p in explorer.pages if p.name == "blocks.0")
    assert "blocks.0.attn" in page.svg and "blocks.0.ffn" in page.svg
    assert "blocks.1.ffn" not in page.svg and "tok_emb" not in page.svg
    assert "blocks.1.attn" in page.svg  # where its output goes: a neighbour, drawn but not opened
    assert set(page.opens.values()) <= {
        n for n in (p.name for p in explorer.pages) if n.startswith("blocks.0.")
    }
    names = [p.name for p in explorer.pages]
    assert len(names) == len(set(names))
    assert any(lines[0] == "op Add in blocks.0" for lines in page.tooltips.values())  # the residual additions


def test_the_parameters_gradients_are_put_back_and_nothing_stays_patched(lm):
    lm.zero_grad()
    marker = np.ones_like(lm.head.bias.data)
    lm.head.bias.grad = minigrad.tensor(marker)
    apply_function = minigrad.Tensor._apply_function
    graph_explorer(lm, levels=0)
    assert np.array_equal(lm.head.bias.grad.numpy(), marker) and lm.blocks[0].attn.q_proj.weight.grad is None
    assert minigrad.Tensor._apply_function is apply_function


def test_value_summary():
    assert value_summary(np.array(2.5)) == "value 2.5"
    assert value_summary(np.array([1.0, 3.0])) == "mean 2, std 1, min 1, max 3"
    assert value_summary(np.zeros((0, 3))) == "no values (empty)"


def test_bad_levels_and_a_self_contained_page(lm):
    with pytest.raises(ValueError, match="levels must be an int >= 0"):
        graph_explorer(lm, levels=-1)
    page = graph_explorer(lm, depth=None, levels=3).to_html()  # full depth: one page, nothing to open
    data = embedded_data(page)
    assert len(data["pages"]) == 1 and data["pages"][0]["opens"] == {}
    assert "default-src 'none'" in page and not re.search(r"\b(src|href)\s*=", page)


def test_render_graph_writes_the_explorer_for_html(tmp_path, capsys):
    from transformer.cli import main

    out = tmp_path / "graph.html"
    assert main(["render-graph", "--untrained", "--depth", "2", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    data = embedded_data(out.read_text(encoding="utf-8"))
    assert data["pages"][0]["title"] == "TransformerLM, depth 2"
    assert {"blocks.0", "blocks.0.attn"} <= {p["name"] for p in data["pages"]}
