"""transformer.viz: attention graphs and heatmaps show the weights they are given (checked on
the DOT source), reject matrices that are not attention weights, and draw a model's heads."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.viz import attention_heatmap, draw_attention, draw_model_attention, draw_model_graph

EDGE = re.compile(r"^\s*(\w*?)q(\d+):e -> \1k(\d+):w \[(.*)\]$")
POS = re.compile(r'^\s*(\w+) \[.*pos="(-?[\d.]+),(-?[\d.]+)!"')

SVG_TEXT = "{http://www.w3.org/2000/svg}text"
WEIGHTS = np.array([[1.0, 0.0, 0.0],
                    [0.3, 0.7, 0.0],
                    [0.04, 0.5, 0.46]])


def attention_edges(source: str) -> dict[tuple[str, int, int], dict[str, str]]:
    """(prefix, query, key) -> the edge's attributes, for every drawn (visible) edge."""
    edges = {}
    for line in source.splitlines():
        match = EDGE.match(line)
        if match and "invis" not in line:
            prefix, i, j, attrs = match.groups()
            edges[(prefix, int(i), int(j))] = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', attrs))
    return edges


def darkness(colour: str) -> int:
    rgb = colour.strip('"').lstrip("#")
    return -sum(int(rgb[k:k + 2], 16) for k in (0, 2, 4))


def test_one_edge_per_weight_above_the_threshold():
    edges = attention_edges(draw_attention(WEIGHTS, ["a", "b", "c"], threshold=0.05).source)
    assert set(edges) == {("", 0, 0), ("", 1, 0), ("", 1, 1), ("", 2, 1), ("", 2, 2)}
    assert len(attention_edges(draw_attention(WEIGHTS, ["a", "b", "c"], threshold=0.0).source)) == 6
    edges = attention_edges(draw_attention(WEIGHTS, ["a", "b", "c"], threshold=0.6).source)
    assert set(edges) == {("", 0, 0), ("", 1, 1)}


def test_width_and_colour_grow_with_the_weight_and_the_tooltip_gives_it():
    edges = attention_edges(draw_attention(WEIGHTS, ["a", "b", "c"], threshold=0.0).source)
    by_weight = sorted(edges, key=lambda e: WEIGHTS[e[1], e[2]])
    widths = [float(edges[e]["penwidth"].strip('"')) for e in by_weight]
    shades = [darkness(edges[e]["color"]) for e in by_weight]
    assert widths == sorted(widths) and len(set(widths)) == len(widths)
    assert shades == sorted(shades) and len(set(shades)) == len(shades)
    assert "0.700" in edges[("", 1, 1)]["tooltip"] and "b (1) -> b (1)" in edges[("", 1, 1)]["tooltip"]


def test_tokens_label_both_columns_in_order_and_are_escaped():
    tokens = ["<s>", "a&b", '"q"']
    graph = draw_attention(WEIGHTS, tokens)
    source = graph.source
    assert "&lt;s&gt;" in source and "a&amp;b" in source and "&quot;q&quot;" in source
    assert "label=<<s>" not in source
    pos = {m.group(1): (float(m.group(2)), float(m.group(3)))
           for m in map(POS.match, source.splitlines()) if m}
    for side in "qk":  # a column each, tokens top to bottom in order
        column = [pos[f"{side}{i}"] for i in range(3)]
        assert len({x for x, _ in column}) == 1
        assert [y for _, y in column] == sorted((y for _, y in column), reverse=True)
    assert pos["q0"][0] < pos["k0"][0]
    if shutil.which("dot"):
        texts = {(t.text or "").strip() for t in ET.fromstring(graph.pipe(format="svg")).iter(SVG_TEXT)}
        assert set(tokens) <= texts


def test_query_tokens_label_the_rows_of_a_non_square_matrix():
    w = np.array([[0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    source = draw_attention(w, ["x", "y", "z"], query_tokens=["P", "Q"]).source
    assert set(attention_edges(source)) == {("", 0, 0), ("", 0, 1), ("", 1, 0), ("", 1, 1), ("", 1, 2)}
    assert "label=<P " in source and "label=<z " in source


@pytest.mark.parametrize("weights, tokens, kwargs, error", [
    (np.ones((2, 3)) / 3, ["a", "b", "c"], {}, "must be square"),
    (np.ones((2, 2, 2)), ["a", "b"], {}, "2-D"),
    (np.array([[1.2, -0.2], [0.5, 0.5]]), ["a", "b"], {}, r"non-negative, got -0.2 at \[0, 1\]"),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), ["a", "b"], {}, r"finite, got nan at \[0, 0\]"),
    (np.array([[1.0, 0.0], [np.inf, 0.5]]), ["a", "b"], {}, r"finite, got inf at \[1, 0\]"),
    (WEIGHTS, ["a", "b"], {}, r"2 tokens for weights of shape \(3, 3\)"),
    (WEIGHTS, ["a", "b", "c"], {"query_tokens": ["q"]}, r"1 query_tokens for weights of shape \(3, 3\)"),
    (WEIGHTS, ["a", "b", "c"], {"threshold": -0.1}, "threshold must be a number >= 0"),
])
def test_bad_weights_get_a_clear_error(weights, tokens, kwargs, error):
    with pytest.raises(ValueError, match=error):
        draw_attention(weights, tokens, **kwargs)
    kwargs.pop("threshold", None)
    if "threshold" not in error:
        with pytest.raises(ValueError, match=error.replace("draw_attention", "attention_heatmap")):
            attention_heatmap(weights, tokens, **kwargs)


def test_heatmap_is_a_table_shaded_by_weight():
    source = attention_heatmap(WEIGHTS, ["<a>", "b", "c"], title="L0 & H1").source
    rows = re.findall(r"<tr>(.*?)</tr>", source)
    assert len(rows) == 1 + 1 + 3  # title, key tokens, one row per query
    cells = re.findall(r'<td (?:bgcolor="(#\w+)" )?width="30">'
                       r'(?:<font color="\w+" point-size="9">([.\d]+)</font>| )</td>', source)
    shown = [float(v) if v else 0.0 for _, v in cells]
    assert shown == pytest.approx(WEIGHTS.ravel(), abs=0.005)
    assert [not v and not c for c, v in cells] == list(WEIGHTS.ravel() == 0)  # masked cells stay blank
    shaded = sorted((w, c) for w, (c, _) in zip(WEIGHTS.ravel(), cells) if w > 0)
    assert [darkness(c) for _, c in shaded] == sorted(darkness(c) for _, c in shaded)
    assert "&lt;a&gt;" in source and "L0 &amp; H1" in source


@pytest.fixture(scope="module")
def model():
    minigrad.manual_seed(0)
    return TransformerLM(TransformerConfig(vocab_size=7, max_len=6, d_model=8, n_heads=2, n_layers=2))


def test_model_attention_draws_the_weights_the_model_computed(model):
    ids = np.array([1, 2, 3, 4, 5])
    source = draw_model_attention(model, ids, tokens=list("hello"), layer=1, head=0).source
    weights = model.blocks[1].attn.attn_weights[0, 0]
    assert set(attention_edges(source)) == {("", i, j) for i, j in np.argwhere(weights > 0.05)}
    assert all(j <= i for _, i, j in attention_edges(source))  # causal: no query looks ahead
    assert "layer 1, head 0" in source and "label=<h " in source


def test_model_attention_grids_and_heatmaps(model):
    ids = [[0, 1, 2, 3]]
    grid = draw_model_attention(model, ids).source
    assert re.findall(r"<b>layer (\d), head (\d)</b>",
                      grid) == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    assert {p for p, _, _ in attention_edges(grid)} == {"l0h0_", "l0h1_", "l1h0_", "l1h1_"}
    row = draw_model_attention(model, ids, layer=-1).source
    assert {p for p, _, _ in attention_edges(row)} == {"l1h0_", "l1h1_"}
    column = draw_model_attention(model, ids, head=1, kind="heatmap").source
    assert "layer 0, head 1" in column and "layer 1, head 1" in column and "head 0" not in column


def test_model_attention_restores_training_mode_and_checks_its_arguments(model):
    model.train()
    draw_model_attention(model, [1, 2], layer=0, head=0)
    assert model.training and model.blocks[0].training
    with pytest.raises(ValueError, match="layer 2 is out of range for a model with 2 layers"):
        draw_model_attention(model, [1, 2], layer=2)
    with pytest.raises(ValueError, match="head 5 is out of range"):
        draw_model_attention(model, [1, 2], head=5)
    with pytest.raises(ValueError, match="3 tokens for a sequence of 2 ids"):
        draw_model_attention(model, [1, 2], tokens=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"one sequence, \(T,\) or \(1, T\), got shape \(2, 2\)"):
        draw_model_attention(model, [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="kind must be"):
        draw_model_attention(model, [1, 2], kind="pie")


def test_model_graph_from_a_checkpoint(model, tmp_path):
    model.save(tmp_path / "m.npz")
    source = draw_model_graph(tmp_path / "m.npz", depth=1).source
    boxes = set(re.findall(r"mod\d+ \[.*?label=<<b>([\w.]+)</b>", source))
    assert boxes == {"tok_emb", "pos_emb", "blocks", "head"}
    model.head.bias.grad = None
    graded = draw_model_graph(model, [[1, 2, 3]], depth=2, show_grads=True).source
    assert "blocks.1" in graded and "<b>head.bias</b><br/>(7,) float32<br/>|grad|" in graded
    assert model.head.bias.grad is None  # the model's gradients are left as they were


def test_model_graph_from_a_training_checkpoint(tmp_path):
    from transformer.tasks import make_task
    from transformer.train import TrainConfig, train

    task = make_task("copy", length=3, base=4, n_eval=4)
    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=task.vocab.size, max_len=task.block_size, d_model=8,
                                            n_heads=2, n_layers=1))
    train(model, task, TrainConfig(steps=1, batch_size=2, eval_interval=1, eval_batch_size=4, warmup_steps=0),
          out=tmp_path / "run.npz", log=None)
    source = draw_model_graph(tmp_path / "run.npz", depth=2).source
    assert "<b>blocks.0</b>" in source and "mod" in source


def test_model_graph_names_its_inputs():
    from transformer import TransformerConfig, TransformerLM
    from transformer.viz import draw_model_graph

    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=12, max_len=8, d_model=8, n_heads=2, n_layers=2))
    source = draw_model_graph(model, [[3, 1, 4, 1]], depth=None).source
    assert "TransformerLM: the loss of ids 3 1 4 1, targets the same ids" in source
    for depth in (1, 2, 3, None):  # the inputs are nodes of their own at every depth
        source = draw_model_graph(model, [[3, 1, 4, 1]], depth=depth, show_grads=depth == 3).source
        for label in ("<b>ids</b><br/>(1, 4) int64<br/>3 1 4 1", "<b>targets</b><br/>(4,) int64<br/>3 1 4 1",
                      "<b>positions</b><br/>(4,) int64<br/>0 1 2 3",
                      "<b>causal mask</b><br/>(1, 1, 4, 4) bool"):
            node = re.search(rf"(\w+) \[[^\n]*label=<{re.escape(label)}>", source)
            assert node and re.search(rf"\b{node.group(1)} -> ", source), (depth, label)


def test_model_graph_layout_names_a_key_padding_mask():
    from minigrad.graph_layout import layout_graph

    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=12, max_len=8, d_model=8, n_heads=2, n_layers=1))
    ids = np.array([[3, 1, 4, 1], [5, 9, 0, 0]])
    _, loss = model(ids, ids, key_padding_mask=ids == 0)
    labels = {n.name for nodes in layout_graph(loss, model, depth=1).nodes.values() for n in nodes
              if n.id.startswith("in")}
    assert labels == {"ids", "targets", "causal + key padding mask"}
