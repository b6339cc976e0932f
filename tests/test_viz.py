"""minigrad.viz: the layout (plain data from graph_layout.layout_graph) is the recorded graph,
modules become nested clusters and depth collapses them; the DOT emitter draws exactly that
layout, escapes labels and colours by kind and gradient; render writes valid files or explains
how to get Graphviz."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np
import pytest

import minigrad
from minigrad import functional as F
from minigrad import nn
from minigrad.autograd import module_scope, topological_order
from minigrad.graph_layout import MAX_VALUES, GraphLayout, ModuleBox, OpNode, TensorNode
from minigrad.viz import (
    GRAD_COLOURS,
    GRAD_NONFINITE,
    GraphvizNotFoundError,
    draw_graph,
    grad_colour,
    layout_graph,
    render,
    to_dot,
)

NODE = re.compile(r"^\s*(\w+) \[(.*)\]$")
EDGE = re.compile(r"^\s*(\w+) -> (\w+)")


def parse_dot(source: str) -> tuple[dict[str, str], list[tuple[str, str]], dict[str, str], dict[str, str]]:
    """The DOT's nodes (id -> label text), its edges, the cluster each node sits in (id ->
    module name, "" at top level) and each cluster's parent cluster: what the emitter wrote."""
    nodes, edges, home, parent = {}, [], {}, {}
    stack: list[str] = [""]
    for line in source.splitlines():
        if line.strip().startswith("subgraph cluster_"):
            stack.append("?")  # named by the label line that follows
            continue
        if line.strip() == "}" and len(stack) > 1:
            stack.pop()
            continue
        if stack[-1] == "?" and "label=<<b>" in line:
            stack[-1] = re.search(r"label=<<b>(.*?)</b>", line).group(1)
            parent[stack[-1]] = stack[-2]
            continue
        edge = EDGE.match(line)
        if edge:
            edges.append(edge.groups())
            continue
        node = NODE.match(line)
        if node and node.group(1) not in ("node", "edge", "graph"):
            label = re.search(r"label=(<.*?>)(?: \w+=|\]|$)", line + "]")
            text = re.sub(r"<[^>]*>", " ", label.group(1)[1:-1]) if label else ""
            nodes[node.group(1)] = " ".join(text.split())
            home[node.group(1)] = stack[-1]
    return nodes, edges, home, parent


def word(node) -> str:
    """How a test names a node: an op by its class, a module box or named tensor by its name,
    the output as "output", any other tensor by its kind."""
    if isinstance(node, OpNode):
        return node.op
    if isinstance(node, ModuleBox):
        return node.name
    return node.name or node.kind


def ops(layout: GraphLayout) -> Counter:
    return Counter(n.op for n in layout.by_id().values() if isinstance(n, OpNode))


def tensors(layout: GraphLayout) -> list[TensorNode]:
    return [n for n in layout.by_id().values() if isinstance(n, TensorNode)]


def parents(layout: GraphLayout) -> dict[str, str]:
    """Each cluster scope -> the scope it is nested in."""
    return {scope: scope.rpartition(".")[0] for scope in layout.scopes()}


def flow(layout: GraphLayout) -> Counter:
    """Edges between ops, modules and named tensors, with each op-output tensor node between
    two of them removed (op -> tensor -> op becomes op -> op), each end named by `word`."""
    by_id = layout.by_id()
    between = {i for i, n in by_id.items() if isinstance(n, TensorNode) and n.kind == "tensor"}
    producer = {head: tail for tail, head in layout.edges if head in between}
    out = Counter()
    for tail, head in layout.edges:
        if head not in between:
            out[(word(by_id[producer.get(tail, tail)]), word(by_id[head]))] += 1
    return out


def test_one_op_node_per_recorded_op_and_the_right_edges():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    y = minigrad.tensor([3.0, 4.0], requires_grad=True)
    loss = ((x * y + x).exp()).sum()
    layout = layout_graph(loss, {"x": x, "y": y})
    recorded = Counter(type(n).__name__ for n in topological_order(loss.grad_fn))
    assert ops(layout) == recorded == Counter(Mul=1, Add=1, Exp=1, Sum=1)
    assert flow(layout) == Counter({("x", "Mul"): 1, ("y", "Mul"): 1, ("Mul", "Add"): 1, ("x", "Add"): 1,
                                    ("Add", "Exp"): 1, ("Exp", "Sum"): 1, ("Sum", "output"): 1})


def test_an_input_used_twice_by_one_op_has_two_edges_and_constants_show_their_value():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x * 3.0).sum()
    layout = layout_graph(loss, {"x": x})
    assert flow(layout)[("x", "Mul")] == 2
    assert [t.value for t in tensors(layout) if t.kind == "input"] == [3.0]
    assert "= 3" in draw_graph(loss, {"x": x}).source


def test_the_dot_draws_exactly_the_layout():
    minigrad.manual_seed(0)
    net = Net()
    loss = (net(minigrad.randn(2, 5, 3)) ** 2).mean()
    for depth in (None, 2):
        layout = layout_graph(loss, net, depth=depth)
        nodes, edges, home, parent = parse_dot(to_dot(layout).source)
        assert home == layout.home() and edges == layout.edges
        assert parent == parents(layout)
        for node_id, node in layout.by_id().items():
            assert nodes[node_id].split()[0] == word(node) or isinstance(node, TensorNode)
    assert to_dot(layout).source == draw_graph(loss, net, depth=2).source


def fill(source: str, node: str) -> str:
    line = next(line for line in source.splitlines() if re.match(rf"\s*{node} \[", line))
    return re.search(r'fillcolor="(#\w+)"', line).group(1)


def test_tensor_nodes_carry_shape_and_dtype_and_the_kinds_differ():
    w = minigrad.randn(3, 4, requires_grad=True)
    x = minigrad.randn(2, 3)  # data: an input
    leaf = minigrad.randn(1, 4, requires_grad=True)  # requires grad but is not a parameter
    out = (x @ w + leaf).sum()
    layout = layout_graph(out, {"w": w})
    found = {(t.kind, t.name, t.shape, t.dtype, t.value) for t in tensors(layout)}
    assert found == {("parameter", "w", (3, 4), "float32", None), ("input", None, (2, 3), "float32", None),
                     ("leaf", None, (1, 4), "float32", None), ("tensor", None, (2, 4), "float32", None),
                     ("output", None, (), "float32", float(out.item()))}
    assert [t.kind for t in tensors(layout)].count("tensor") == 2  # the outputs of MatMul and Add
    source = draw_graph(out, {"w": w}).source  # the emitter gives each kind its own fill
    assert len({fill(source, t.id) for t in tensors(layout)}) == 5


def test_legend_names_every_kind():
    x = minigrad.tensor([1.0], requires_grad=True)
    source = draw_graph(x.exp().sum()).source
    legend = next(line for line in source.splitlines() if "<i>legend</i>" in line)  # the graph's label
    for kind in ("op", "tensor", "input (no grad)", "leaf (requires grad)", "parameter", "output"):
        assert f"<td>{kind}</td>" in legend
    assert "(collapsed)" not in source
    with module_scope("m"):
        y = x.exp()
    assert "<b>module</b> (collapsed)" in draw_graph(y.sum(), depth=1).source


def test_clusters_nest_by_qualified_name():
    w = minigrad.ones(2, requires_grad=True)
    x = minigrad.ones(2)
    with module_scope("blocks.0.attn"):
        y = x * w
    with module_scope("blocks.0"):
        y = y + 1.0
    with module_scope("blocks.1"):
        y = y.tanh()
    layout = layout_graph(y.sum(), {"blocks.0.attn.w": w})
    assert parents(layout) == {"blocks": "", "blocks.0": "blocks", "blocks.0.attn": "blocks.0",
                               "blocks.1": "blocks"}
    home, by_id = layout.home(), layout.by_id()
    where = {word(n): home[i] for i, n in by_id.items() if not isinstance(n, TensorNode) or n.name}
    assert where["Mul"] == "blocks.0.attn" and where["blocks.0.attn.w"] == "blocks.0.attn"
    assert where["Add"] == "blocks.0" and where["Tanh"] == "blocks.1" and where["Sum"] == ""


class Attn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(4, 4)
        self.k = nn.Linear(4, 4)

    def forward(self, x):
        return (self.q(x) @ self.k(x).transpose(-2, -1)).softmax(-1) @ x


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = Attn()
        self.ff = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.ff(self.attn(x))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@pytest.fixture
def net_loss():
    minigrad.manual_seed(0)
    net = Net()
    loss = (net(minigrad.randn(2, 5, 3)) ** 2).mean()
    return net, loss


def test_module_clusters_match_the_module_tree(net_loss):
    net, loss = net_loss
    layout = layout_graph(loss, net)
    assert parents(layout) == {name: name.rpartition(".")[0] for name, _ in net.named_modules() if name}
    home = layout.home()
    named = [t for t in tensors(layout) if t.kind == "parameter"]
    assert sorted(t.name for t in named) == sorted(name for name, _ in net.named_parameters())
    assert all(home[t.id] == t.name.rpartition(".")[0] for t in named)  # each parameter in its module
    assert ops(layout)["Linear"] == 2 * 3 + 2
    assert layout.classes[""] == "Net" and layout.classes["blocks.0.attn"] == "Attn"
    source = draw_graph(loss, net).source  # given the Module, clusters show classes
    assert "<b>Net</b>" in source and "<b>blocks.0.attn</b> <i>Attn</i>" in source


def test_parameter_names_come_from_params_at_draw_time(net_loss):
    net, loss = net_loss
    unnamed = tensors(layout_graph(loss))  # without params: unnamed leaves
    assert all(t.name is None and t.kind != "parameter" for t in unnamed)
    block_params = {"blocks.1." + name: p for name, p in net.blocks[1].named_parameters()}
    named = {t.name: t for t in tensors(layout_graph(loss, block_params)) if t.name}
    assert sorted(named) == sorted(block_params) and named["blocks.1.attn.q.weight"].shape == (4, 4)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_draws_one_box_per_module_at_that_depth(net_loss, depth):
    net, loss = net_loss
    layout = layout_graph(loss, net, depth=depth)
    modules = dict(net.named_modules())
    expected = {name for name in modules if name and name.count(".") == depth - 1}
    boxes = {box.name: box for box in layout.boxes}
    assert set(boxes) == expected
    home = layout.home()
    for name, box in boxes.items():
        count = sum(p.data.size for p_name, p in net.named_parameters() if p_name.startswith(name + "."))
        assert box.parameters == count and box.cls == type(modules[name]).__name__
        assert home[box.id] == name.rpartition(".")[0]
    assert all(not _inside_any(home[n.id], boxes) for n in layout.by_id().values() if isinstance(n, OpNode))
    if depth == 1:  # embed -> blocks -> head, each an (2, 5, 4) or (2, 5, 2) tensor between
        assert (boxes["embed"].inputs, boxes["embed"].outputs) == (((2, 5, 3),), ((2, 5, 4),))
        assert (boxes["blocks"].inputs, boxes["blocks"].outputs) == (((2, 5, 4),), ((2, 5, 4),))
        assert flow(layout) == Counter(
            {("input", "embed"): 1, ("embed", "blocks"): 1, ("blocks", "head"): 1, ("head", "PowScalar"): 1,
             ("PowScalar", "Sum"): 1, ("Sum", "Div"): 1, ("input", "Div"): 1,  # mean = sum / count
             ("Div", "output"): 1})
        assert "in: (2, 5, 3)<br/>out: (2, 5, 4)" in draw_graph(loss, net, depth=1).source


def described(layout: GraphLayout) -> dict[str, TensorNode]:
    """The input nodes that ops described (ids, targets, masks), by label."""
    return {n.name: n for n in tensors(layout) if n.id.startswith("in")}


def test_ids_and_targets_are_labelled_inputs_with_their_values():
    minigrad.manual_seed(0)
    weight = minigrad.randn(5, 3, requires_grad=True)
    loss = F.cross_entropy(F.embedding(np.array([[4, 0, 2]]), weight).reshape(3, 3), np.array([1, 2, 0]))
    layout = layout_graph(loss, {"weight": weight})
    inputs = described(layout)
    assert set(inputs) == {"ids", "targets"}
    ids, targets = inputs["ids"], inputs["targets"]
    assert (ids.kind, ids.shape, ids.dtype, ids.values) == ("input", (1, 3), "int64", (4, 0, 2))
    assert (targets.shape, targets.values) == ((3,), (1, 2, 0))
    assert flow(layout)[("ids", "Embedding")] == 1 and flow(layout)[("targets", "CrossEntropy")] == 1
    assert layout.home()[ids.id] == layout.home()[targets.id] == ""
    source = draw_graph(loss, {"weight": weight}).source
    assert "<b>ids</b><br/>(1, 3) int64<br/>4 0 2" in source
    assert "<b>targets</b><br/>(3,) int64<br/>1 2 0" in source
    # the values only while they fit in a label; the arrays survive backward (show_grads draws after it)
    loss = F.embedding(np.zeros(MAX_VALUES + 1, dtype=np.int64), weight).sum()
    loss.backward()
    (long,) = described(layout_graph(loss, show_grads=True)).values()
    assert long.values is None and long.shape == (MAX_VALUES + 1,)


T = 4
CAUSAL = np.triu(np.ones((T, T), dtype=bool), 1)  # True = hidden
PADDED = np.array([[False] * T, [False, False, True, True]])  # (B, S): batch 1 pads its last two keys


@pytest.mark.parametrize("kwargs, label, shape", [
    (dict(is_causal=True), "causal mask", (T, T)),
    (dict(attn_mask=~CAUSAL[None, None]), "causal mask", (1, 1, T, T)),
    (dict(attn_mask=~PADDED[:, None, None, :]), "key padding mask", (2, 1, 1, T)),
    (dict(attn_mask=~np.broadcast_to(PADDED[:, None, None, :], (2, 1, T, T))), "key padding mask",
     (2, 1, T, T)),
    (dict(attn_mask=~(CAUSAL | PADDED[:, None, None, :])), "causal + key padding mask", (2, 1, T, T)),
    (dict(attn_mask=~np.eye(T, dtype=bool)), "attention mask", (T, T)),
])
def test_attention_masks_are_labelled_by_what_they_hide(kwargs, label, shape):
    minigrad.manual_seed(0)
    q, k, v = (minigrad.randn(2, 2, T, 3, requires_grad=True) for _ in range(3))
    loss = F.scaled_dot_product_attention(q, k, v, **kwargs).sum()
    (mask,) = described(layout_graph(loss)).values()
    assert (mask.name, mask.shape, mask.dtype, mask.values) == (label, shape, "bool", None)
    assert flow(layout_graph(loss))[(label, "ScaledDotProductAttention")] == 1


def test_a_causal_mask_of_fewer_queries_than_keys_and_a_float_mask():
    minigrad.manual_seed(0)
    q, k, v = minigrad.randn(1, 2, 3), minigrad.randn(1, 5, 3, requires_grad=True), minigrad.randn(1, 5, 3)
    cached = ~np.triu(np.ones((2, 5), dtype=bool), 1 + 5 - 2)  # the last 2 of 5 positions, as with a KV cache
    loss = F.scaled_dot_product_attention(q, k, v, attn_mask=cached).sum()
    assert list(described(layout_graph(loss))) == ["causal mask"]
    bias = minigrad.zeros(2, 5)  # a float mask is a tensor of the graph, drawn as a leaf already
    assert described(layout_graph(F.scaled_dot_product_attention(q, k, v, attn_mask=bias).sum())) == {}


class CausalAttention(nn.Module):
    def forward(self, x):
        return F.scaled_dot_product_attention(x, x, x, is_causal=True)


class LookUp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(6, 3)
        self.pos = nn.Embedding(6, 3)
        self.attend = nn.Sequential(CausalAttention(), CausalAttention())

    def forward(self, ids):
        return self.attend(self.table(ids) + self.pos(np.arange(ids.shape[-1])))


@pytest.mark.parametrize("depth", [1, 2, None])
def test_described_inputs_are_drawn_at_every_depth_and_equal_ones_once(depth):
    minigrad.manual_seed(0)
    model = LookUp()
    loss = model(np.array([[5, 1, 1, 2]])).sum()
    layout = layout_graph(loss, model, depth=depth, input_names={"pos": "positions"})
    inputs = described(layout)
    assert sorted(inputs) == ["causal mask", "ids", "positions"]  # both attentions' masks: one node
    assert inputs["positions"].values == (0, 1, 2, 3) and inputs["ids"].values == (5, 1, 1, 2)
    by_id, into = layout.by_id(), Counter()
    for tail, head in layout.edges:
        if by_id[tail] in inputs.values():
            into[(by_id[tail].name, word(by_id[head]))] += 1
    expected = {1: {("ids", "table"): 1, ("positions", "pos"): 1, ("causal mask", "attend"): 1},
                2: {("ids", "Embedding"): 1, ("positions", "Embedding"): 1,  # table, pos: clusters
                    ("causal mask", "attend.0"): 1, ("causal mask", "attend.1"): 1},
                None: {("ids", "Embedding"): 1, ("positions", "Embedding"): 1,
                       ("causal mask", "ScaledDotProductAttention"): 2}}[depth]
    assert into == Counter(expected)
    if depth is not None:  # a box counts a described input among the shapes going in
        boxes = {box.name: box for box in layout.boxes}
        assert (T, T) in boxes["attend" if depth == 1 else "attend.0"].inputs
        assert depth == 2 or boxes["table"].inputs == ((1, 4),)
    source = draw_graph(loss, model, depth=depth, input_names={"pos": "positions"}).source
    assert "<b>causal mask</b><br/>(4, 4) bool" in source and "<b>positions</b>" in source
    with pytest.raises(TypeError, match="input_names must map module names to labels"):
        layout_graph(loss, model, input_names={"pos": 1})


def _inside_any(scope: str, groups) -> bool:
    return any(scope == g or scope.startswith(g + ".") for g in groups)


def test_depth_must_be_positive_and_rankdir_known():
    x = minigrad.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="depth must be a positive int"):
        draw_graph(x.exp(), depth=0)
    with pytest.raises(ValueError, match="rankdir must be one of"):
        draw_graph(x.exp(), rankdir="UP")
    with pytest.raises(TypeError, match="expected the Tensor"):
        draw_graph(x.data)


def test_a_leaf_alone_is_one_output_node():
    x = minigrad.tensor([1.0, 2.0])
    layout = layout_graph(x)
    assert layout.nodes == {"": [TensorNode("out", "output", (2,), "float32")]} and layout.edges == []
    nodes, edges, _, _ = parse_dot(draw_graph(x).source)
    assert list(nodes.values()) == ["output (2,) float32"] and edges == []


def test_without_shapes_ops_connect_directly():
    x = minigrad.tensor([1.0], requires_grad=True)
    out = x.exp().log().sum()
    layout = layout_graph(out, show_shapes=False)
    assert [t.kind for t in tensors(layout)] == ["leaf", "output"]
    assert ("op2", "op1") in layout.edges  # Exp -> Log with no tensor node between
    nodes, _, _, _ = parse_dot(to_dot(layout).source)
    assert "float32" not in " ".join(nodes.values()) and nodes["t0"] == "output = 1"


def test_labels_are_escaped():
    a = minigrad.tensor([1.0], requires_grad=True)
    b = minigrad.tensor([2.0], requires_grad=True)
    with module_scope('m<&>"q"'):
        out = (a * b).sum()
    source = draw_graph(out, {"a<b>": a, '"x"': b}).source
    assert "a&lt;b&gt;" in source and "&quot;x&quot;" in source and "m&lt;&amp;&gt;&quot;q&quot;" in source
    assert "<b>a<b></b>" not in source and '<b>"x"</b>' not in source
    if shutil.which("dot"):  # and Graphviz reads them back as the original text
        svg = draw_graph(out, {"a<b>": a, '"x"': b}).pipe(format="svg").decode()
        texts = {t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
        assert {"a<b>", '"x"', 'm<&>"q"'} <= texts


def test_show_grads_labels_and_colours_by_norm():
    small = minigrad.tensor([1e-9, 0.0], requires_grad=True)
    big = minigrad.tensor([300.0, 400.0], requires_grad=True)
    zero = minigrad.tensor([5.0], requires_grad=True)
    out = (small * 1.0).sum() + (big * big).sum() * 1.0 + (zero * 0.0).sum()
    out.backward()
    layout = layout_graph(out, {"small": small, "big": big, "zero": zero}, show_grads=True)
    norms = {t.name: t.grad_norm for t in tensors(layout) if t.name}
    assert norms == {"small": pytest.approx(2 ** 0.5), "big": pytest.approx(1000.0), "zero": 0.0}
    source = draw_graph(out, {"small": small, "big": big, "zero": zero}, show_grads=True).source
    line = {name: next(row for row in source.splitlines() if f"<b>{name}</b>" in row)
            for name in ("small", "big", "zero")}
    assert "|grad| 1.41e+00" in line["small"]  # d/dsmall of sum(small) = ones(2)
    assert "|grad| 1.00e+03" in line["big"]  # 2 * [300, 400]
    assert f'fillcolor="{GRAD_COLOURS[7]}"' in line["small"]
    assert f'fillcolor="{GRAD_COLOURS[-1]}"' in line["big"]
    assert f'fillcolor="{GRAD_COLOURS[0]}"' in line["zero"]  # a zero gradient counts as vanishing
    assert "fill = |grad|" in source and all(c in source for c in GRAD_COLOURS)  # the legend explains them


def test_grad_colour_is_one_colour_per_decade():
    assert grad_colour(0.0) == grad_colour(1e-12) == GRAD_COLOURS[0]
    assert [grad_colour(10.0 ** e) for e in range(-6, 3)] == list(GRAD_COLOURS[1:])
    assert grad_colour(5e7) == GRAD_COLOURS[-1]
    assert grad_colour(float("nan")) == grad_colour(float("inf")) == GRAD_NONFINITE


def test_retained_intermediate_gradients_are_shown():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    h.retain_grad()
    out = h.sum()
    out.backward()
    layout = layout_graph(out, show_grads=True)
    norms = {t.kind: t.grad_norm for t in tensors(layout) if t.grad_norm is not None}
    # x: grad (2, 2), h: grad (1, 1)
    assert norms == {"leaf": pytest.approx(8 ** 0.5), "tensor": pytest.approx(2 ** 0.5)}
    source = draw_graph(out, show_grads=True).source
    assert source.count("|grad|") == 2 + 1  # x, h, and the legend's heading


def test_ten_thousand_ops_walk_iteratively():
    w = minigrad.ones(2, requires_grad=True)
    y = minigrad.ones(2)
    for _ in range(5000):
        y = (y * w).tanh()
    layout = layout_graph(y.sum(), show_shapes=False)
    assert sum(ops(layout).values()) == 10_001
    assert len(layout.edges) == 2 * 5000 + 5000 + 1 + 1  # Mul(y, w), Tanh(y), Sum(y), Sum -> output


# ----- rendering to files --------------------------------------------------------------------
def small_graph():
    x = minigrad.tensor([1.0], requires_grad=True)
    return draw_graph((x * 2.0).sum(), {"x<1>": x})


def test_dot_format_writes_the_source_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    graph = small_graph()
    path = render(graph, tmp_path / "g", format="dot")
    assert path == tmp_path / "g.dot" and path.read_text() == graph.source


def test_missing_dot_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GraphvizNotFoundError) as error:
        render(small_graph(), tmp_path / "g.svg")
    message = str(error.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert 'format="dot"' in message
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        render(small_graph(), tmp_path / "g.jpg", format="jpg")


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")


@needs_dot
def test_svg_png_and_pdf_are_valid_files(tmp_path):
    graph = small_graph()
    svg = render(graph, tmp_path / "g.svg")
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "x<1>" in {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert render(graph, tmp_path / "g.png", "png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render(graph, tmp_path / "g.pdf", "pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pdf", "g.png", "g.svg"]  # no temporaries left


@needs_dot
def test_a_failed_render_leaves_no_file(tmp_path):
    import graphviz

    broken = graphviz.Source("digraph { a -> }")
    with pytest.raises(RuntimeError, match="dot failed on this graph"):
        render(broken, tmp_path / "g.svg")
    assert list(tmp_path.iterdir()) == []


def test_render_takes_the_format_from_the_suffix(tmp_path):
    graph = small_graph()
    assert render(graph, tmp_path / "g.dot").read_text() == graph.source  # no format= needed
    with pytest.raises(ValueError, match=r"\.jpg is not one of the formats"):
        render(graph, tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="has the suffix .svg but format is 'dot'"):
        render(graph, tmp_path / "g.svg", format="dot")
    assert render(graph, tmp_path / "g.txt", format="dot").read_text() == graph.source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "g.txt"]


@needs_dot
def test_render_writes_png_bytes_for_a_png_path(tmp_path):
    assert render(small_graph(), tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_collapsed_modules_show_the_gradient_norm_of_their_parameters():
    """--grads colours something at every depth: a module drawn as one box carries the norm of
    all its parameters' gradients taken together."""
    from minigrad.graph_layout import layout_graph

    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    loss = model(minigrad.randn(5, 3)).sum()
    loss.backward()
    boxes = [n for nodes in layout_graph(loss, model, depth=1, show_grads=True).nodes.values()
             for n in nodes if isinstance(n, ModuleBox)]
    assert sorted(b.name for b in boxes) == ["0", "1"]
    for box in boxes:
        layer = model[int(box.name)]
        squares = [float((p.grad.numpy().astype("float64") ** 2).sum()) for p in layer.parameters()]
        expected = sum(squares) ** 0.5
        assert box.grad_norm == pytest.approx(expected)
    unlit = layout_graph(loss, model, depth=1, show_grads=False).nodes
    assert all(n.grad_norm is None for nodes in unlit.values() for n in nodes if isinstance(n, ModuleBox))


def test_a_small_expression_shows_every_value_and_signed_gradient():
    a = minigrad.tensor(2.0, requires_grad=True)
    b = minigrad.tensor(-3.0, requires_grad=True)
    e = a * b
    e.retain_grad()
    loss = e * e
    loss.retain_grad()
    loss.backward()
    names = {"a": a, "b": b, "e": e, "loss": loss}
    found = {t.name: (t.value, t.grad_value) for t in tensors(layout_graph(loss, names, show_grads=True))}
    # loss = (ab)^2 = 36; dloss/de = 2e = -12; dloss/da = -12 b = 36, dloss/db = -12 a = -24
    assert found == {"a": (2.0, 36.0), "b": (-3.0, -24.0), "e": (-6.0, -12.0), "loss": (36.0, 1.0)}
    source = draw_graph(loss, names, show_grads=True).source
    assert "<b>e</b>" in source and "grad = -24" in source and "= -6" in source
    big = minigrad.tensor([1.0, 2.0], requires_grad=True)  # more than one element: the norm
    out = (big * big).sum()
    out.backward()
    assert [t.grad_value for t in tensors(layout_graph(out, {"big": big}, show_grads=True))
            if t.name == "big"] == [None]
