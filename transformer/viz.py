"""Pictures of attention, and of a whole model's computation graph, as `graphviz.Digraph`s.

An attention matrix `weights[i, j]` is how much query position i looks at key position j
(each row of softmax weights sums to 1). `draw_attention` draws it as two columns of tokens,
queries on the left and keys on the right, with one edge per weight above a threshold;
`attention_heatmap` draws the whole matrix as a coloured table. Write either to a file with
`minigrad.viz.render(graph, "attention.svg")`.
"""
from __future__ import annotations

import contextlib
import re
import shutil
from collections import deque
from collections.abc import Iterator, Sequence
from os import PathLike
from typing import Any

import graphviz
import numpy as np

import minigrad
from minigrad import nn
from minigrad.autograd import Function, topological_order
from minigrad.graph_layout import GraphLayout, ModuleBox, OpNode, TensorNode, grad_norm, layout_graph
from minigrad.viz import GraphvizNotFoundError, html, shape_text, to_dot

from .attention import record_attention
from .explorer import AttentionExplorer, AttentionKind, GraphExplorer, GraphPage
from .model import TransformerLM

# Edges go from pale to dark blue as the weight grows from 0 to 1; heatmap cells from white.
WHITE, PALE, DARK = (255, 255, 255), (198, 219, 239), (8, 48, 107)
THIN, THICK = 0.5, 6.0  # pen widths of a weight of 0 and of 1
ROW, COLUMN_GAP = 0.36, 2.2  # inches between two tokens of a column, and between the columns


def _shade(fraction: float, start: tuple[int, int, int] = WHITE) -> str:
    """The colour `fraction` of the way from `start` to DARK, as #rrggbb."""
    rgb = (round(a + (b - a) * fraction) for a, b in zip(start, DARK))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def token_text(token: Any) -> str:
    """A token as it should read in a picture: spaces, tabs and newlines made visible."""
    text = str(token)
    return text.replace(" ", "\u2423").replace("\n", "\\n").replace("\t", "\\t") if text else "''"


def check_weights(weights: Any, tokens: Sequence[Any], query_tokens: Sequence[Any] | None,
                  op: str) -> np.ndarray:
    """The weights as a float64 (queries, keys) array, or an error naming what is wrong.

    Self-attention weights are square (T, T), one row and one column per token; with
    `query_tokens` the matrix is (len(query_tokens), len(tokens)), as in cross-attention.
    """
    array = weights.data if isinstance(weights, minigrad.Tensor) else np.asarray(weights)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{op}: weights must be real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(
            f"{op}: weights must be a 2-D (queries, keys) matrix, got shape {array.shape}; "
            "pick one sequence and one head, e.g. attn_weights[0, h]"
        )
    if query_tokens is None and array.shape[0] != array.shape[1]:
        raise ValueError(
            f"{op}: self-attention weights must be square (T, T), got shape {array.shape}; "
            "pass query_tokens= to draw a (queries, keys) matrix"
        )
    if len(tokens) != array.shape[1]:
        raise ValueError(f"{op}: {len(tokens)} tokens for weights of shape {array.shape} (one token per key "
                         "column)")
    if query_tokens is not None and len(query_tokens) != array.shape[0]:
        raise ValueError(
            f"{op}: {len(query_tokens)} query_tokens for weights of shape {array.shape} (one per query row)"
        )
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{op}: weights must be finite, got {array[i, j]} at [{i}, {j}]")
    if (array < 0).any():
        i, j = np.unravel_index(np.argmin(array), array.shape)
        raise ValueError(
            f"{op}: attention weights must be non-negative, got {array[i, j]:.4g} at [{i}, {j}] "
            "(pass the weights after softmax, not the scores)"
        )
    return array


def _token_label(token: Any, position: int) -> str:
    return f'<{html(token_text(token))} <font point-size="8" color="#888888">{position}</font>>'


def _columns(graph: graphviz.Digraph, weights: np.ndarray, keys: Sequence[Any], queries: Sequence[Any],
             threshold: float, prefix: str, x: float = 0.0, y: float = 0.0, title: str | None = None) -> None:
    """Add a column of queries at x, a column of keys to its right and the edges between them,
    top at y (inches). Positions are pinned, so the picture is laid out by `neato`, which
    keeps them, rather than by `dot`, which would reorder the tokens to untangle the edges."""
    top = max(1.0, float(weights.max()))  # weights above 1 (not softmax output) scale down to fit
    if title is not None:
        graph.node(f"{prefix}title", f"<<b>{html(title)}</b>>", shape="plaintext", style="",
                   pos=f"{x + COLUMN_GAP / 2:.2f},{y + 0.45:.2f}!")
    for side, labels, dx, heading in (("q", queries, 0.0, "queries"), ("k", keys, COLUMN_GAP, "keys")):
        graph.node(f"{prefix}{side}_title", f"<<i>{heading}</i>>", shape="plaintext",
                   pos=f"{x + dx:.2f},{y + 0.1:.2f}!", style="")
        for i, token in enumerate(labels):
            graph.node(f"{prefix}{side}{i}", _token_label(token, i),
                       pos=f"{x + dx:.2f},{y - (i + 1) * ROW:.2f}!")
    for i, j in np.argwhere(weights > threshold):
        w = float(weights[i, j])
        tip = f"{token_text(queries[i])} ({i}) -> {token_text(keys[j])} ({j}): {w:.3f}"
        graph.edge(f"{prefix}q{i}:e", f"{prefix}k{j}:w", penwidth=f"{THIN + (THICK - THIN) * w / top:.2f}",
                   color=_shade(w / top, PALE), tooltip=graphviz.escape(tip))


def _attention_graph(name: str) -> graphviz.Digraph:
    """A graph laid out by neato at the pinned positions, edges as straight lines under the nodes."""
    graph = graphviz.Digraph(name=name, engine="neato")
    graph.attr(splines="false", outputorder="edgesfirst", fontname="Helvetica", fontsize="11",
               labelloc="t", labeljust="l")
    graph.attr("node", shape="box", style="rounded,filled", fillcolor="#f4f4f4", color="#bbbbbb",
               fontname="Helvetica", fontsize="11", height="0.25", margin="0.08,0.02")
    graph.attr("edge", dir="none")  # the columns say which way attention goes
    return graph


def _check_threshold(threshold: Any, op: str) -> None:
    if not (isinstance(threshold, (int, float)) and 0 <= threshold < np.inf):
        raise ValueError(f"{op}: threshold must be a number >= 0, got {threshold!r}")


def draw_attention(weights: Any, tokens: Sequence[Any], *, threshold: float = 0.05,
                   query_tokens: Sequence[Any] | None = None) -> graphviz.Digraph:
    """One head's attention as a bipartite graph: queries (left column) to keys (right).

    weights: (T, T) for self-attention, a row per query, or (len(query_tokens), T).
    threshold: weights at or below it get no edge. An edge's width and colour grow with its
    weight; its tooltip (in svg) gives the value. The graph's engine is `neato` (positions
    are pinned); `minigrad.viz.render` uses it.
    """
    w = check_weights(weights, tokens, query_tokens, "draw_attention")
    _check_threshold(threshold, "draw_attention")
    graph = _attention_graph("attention")
    _columns(graph, w, list(tokens), list(query_tokens if query_tokens is not None else tokens), threshold,
             "")
    return graph


def attention_heatmap(weights: Any, tokens: Sequence[Any], *, query_tokens: Sequence[Any] | None = None,
                      show_values: bool = True, title: str | None = None) -> graphviz.Digraph:
    """The (queries, keys) weight matrix as a table: a row per query token, a column per key
    token, each cell shaded by its weight (white 0 to dark blue 1) and, with `show_values`,
    printed with two decimals; an exact 0 (a masked key, such as a future one) stays blank."""
    w = check_weights(weights, tokens, query_tokens, "attention_heatmap")
    queries = list(query_tokens if query_tokens is not None else tokens)
    graph = graphviz.Digraph(name="attention_heatmap")
    graph.node("matrix", f"<{_heatmap_table(w, list(tokens), queries, show_values, title)}>",
               shape="plaintext", fontname="Helvetica", fontsize="10")
    return graph


def _heatmap_table(w: np.ndarray, keys: list[Any], queries: list[Any], show_values: bool,
                   title: str | None) -> str:
    """The HTML-like table of `attention_heatmap` (without the label's outer < >)."""
    top = max(1.0, float(w.max()))
    head = "".join(f"<td><b>{html(token_text(t))}</b></td>" for t in keys)
    rows = [f'<tr><td><font point-size="9">query &#8595; key &#8594;</font></td>{head}</tr>']
    for token, row in zip(queries, w):
        cells = []
        for value in row:
            if value == 0:  # masked out (a future key): left blank, which also keeps the svg small
                cells.append('<td width="30"> </td>')
                continue
            fraction = value / top
            text = f"{value:.2f}".lstrip("0") if show_values else " "
            ink = "white" if fraction > 0.55 else "black"
            cells.append(f'<td bgcolor="{_shade(fraction)}" width="30"><font color="{ink}" '
                         f'point-size="9">{text}</font></td>')
        rows.append(f'<tr><td align="right"><b>{html(token_text(token))}</b></td>{"".join(cells)}</tr>')
    caption = f'<tr><td colspan="{len(keys) + 1}"><b>{html(title)}</b></td></tr>' if title else ""
    body = "".join(rows)
    return f'<table border="0" cellborder="0" cellspacing="0" cellpadding="3">{caption}{body}</table>'


def _pick(index: int | None, count: int, what: str) -> list[int]:
    """All indices for None, else the one asked for (negative counts from the end)."""
    if index is None:
        return list(range(count))
    if not isinstance(index, (int, np.integer)) or not -count <= index < count:
        raise ValueError(f"draw_model_attention: {what} {index!r} is out of range for a model with {count} "
                         f"{what}s")
    return [int(index) % count]


def _one_sequence(ids: Any, what: str) -> np.ndarray:
    """The ids of one sequence, (T,) or (1, T), as a (T,) array."""
    ids = np.asarray(ids.data if isinstance(ids, minigrad.Tensor) else ids)
    if ids.ndim == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.ndim != 1:
        raise ValueError(f"draw_model_attention: expected the {what} of one sequence, (T,) or (1, T), "
                         f"got shape {ids.shape}")
    return ids


def is_source_target_pair(ids: Any) -> bool:
    """Whether `ids` is a (source ids, target ids) tuple, the input of an encoder-decoder,
    rather than the ids of one sequence."""
    return isinstance(ids, tuple) and len(ids) == 2 and all(np.ndim(part) >= 1 for part in ids)


def model_attention(model: minigrad.nn.Module, ids: Any) -> list[tuple[str, np.ndarray]]:
    """Run `model` on one sequence of ids (T,) or (1, T) in eval mode without a graph, and
    return each attention module's (name, weights (h, T, T)), in `named_modules()` order.

    For an encoder-decoder, `ids` is the tuple (source ids (S,), target ids (T,)), and the
    model is called as `model(src_ids, tgt_ids)`: encoder self-attention weights are
    (h, S, S), decoder self-attention (h, T, T) and cross-attention (h, T, S)."""
    if is_source_target_pair(ids):
        inputs = [_one_sequence(ids[0], "source ids")[None], _one_sequence(ids[1], "target ids")[None]]
    else:
        inputs = [_one_sequence(ids, "ids")[None]]
    modules = [(name, m) for name, m in model.named_modules() if hasattr(m, "attn_weights")]
    if not modules:
        raise ValueError(f"draw_model_attention: {type(model).__name__} has no attention module (nothing "
                         "keeps attn_weights)")
    for _, m in modules:
        m.attn_weights = None
    with minigrad.no_grad(), nn.evaluating(model), record_attention(model):  # no dropout
        model(*inputs)
    ran = [(name or type(m).__name__, m.attn_weights[0]) for name, m in modules if m.attn_weights is not None]
    if not ran:
        raise ValueError(f"draw_model_attention: running {type(model).__name__} used none of its attention "
                         "modules")
    return ran


def draw_model_attention(model: minigrad.nn.Module, ids: Any, tokens: Sequence[Any] | None = None,
                         layer: int | None = None, head: int | None = None, *,
                         threshold: float = 0.05, kind: str = "graph") -> graphviz.Digraph:
    """Run the model on `ids` (one sequence) and draw its attention: one head of one layer,
    all heads of a layer (a row), one head in every layer (a column), or all of them (a grid
    with a row per layer). `tokens` label the positions (default: the ids). `kind="heatmap"`
    draws tables instead of graphs."""
    if kind not in ("graph", "heatmap"):
        raise ValueError(f"draw_model_attention: kind must be 'graph' or 'heatmap', got {kind!r}")
    _check_threshold(threshold, "draw_model_attention")
    found = model_attention(model, ids)
    T = found[0][1].shape[-1]
    tokens = [str(i) for i in np.asarray(ids).reshape(-1)] if tokens is None else list(tokens)
    if len(tokens) != T:
        raise ValueError(f"draw_model_attention: {len(tokens)} tokens for a sequence of {T} ids")
    layers = _pick(layer, len(found), "layer")
    heads = _pick(head, found[0][1].shape[0], "head")
    if kind == "heatmap":
        return _heatmap_grid(found, tokens, layers, heads)
    if len(layers) == 1 and len(heads) == 1:
        name, weights = found[layers[0]]
        graph = draw_attention(weights[heads[0]], tokens, threshold=threshold)
        graph.attr(label=f"<<b>layer {layers[0]}, head {heads[0]}</b> ({html(name)})>")
        return graph
    graph = _attention_graph("attention_grid")
    graph.attr(label=f"<<b>attention</b>: a row per layer, a column per head; edges above {threshold:g}>")
    height = (len(tokens) + 1) * ROW + 1.0
    for row, li in enumerate(layers):
        for column, hi in enumerate(heads):
            w = check_weights(found[li][1][hi], tokens, None, "draw_model_attention")
            _columns(graph, w, tokens, tokens, threshold, f"l{li}h{hi}_", x=column * (COLUMN_GAP + 1.4),
                     y=-row * height, title=f"layer {li}, head {hi}")
    return graph


def _heatmap_grid(found: list[tuple[str, np.ndarray]], tokens: list[str], layers: list[int],
                  heads: list[int]) -> graphviz.Digraph:
    """Heatmaps in a table of tables: a row per layer, a column per head."""
    panels = [(f"layer {li}, head {hi}", found[li][1][hi]) for li in layers for hi in heads]
    return heatmap_panels(panels, tokens, columns=len(heads))


def heatmap_panels(panels: Sequence[tuple[str, Any]], tokens: Sequence[Any], *, columns: int | None = None,
                   title: str | None = None, scale_label: str = "attention weight") -> graphviz.Digraph:
    """Several (caption, (T, T) weights) heatmaps of one sequence in rows of `columns` (default:
    all in one row), each with the tokens on both axes, above a colour scale from 0 to 1 named
    `scale_label`."""
    if not panels:
        raise ValueError("heatmap_panels: no panels to draw")
    columns = columns or len(panels)
    cells = []
    for caption, weights in panels:
        w = check_weights(weights, tokens, None, "heatmap_panels")
        cells.append(f"<td>{_heatmap_table(w, list(tokens), list(tokens), True, caption)}</td>")
    rows = ["<tr>" + "".join(cells[i:i + columns]) + "</tr>" for i in range(0, len(cells), columns)]
    span = min(columns, len(cells))
    heading = (f'<tr><td colspan="{span}"><font point-size="14"><b>{html(title)}</b></font></td></tr>'
               if title else "")
    scale = f'<tr><td colspan="{span}">{_colour_scale(scale_label)}</td></tr>'
    graph = graphviz.Digraph(name="attention_heatmaps")
    graph.node("grid", f'<<table border="0" cellspacing="12">{heading}{"".join(rows)}{scale}</table>>',
               shape="plaintext", fontname="Helvetica", fontsize="10")
    return graph


def _colour_scale(label: str, steps: int = 10) -> str:
    """A strip of the heatmap's shades from 0 to 1, labelled at both ends and the middle."""
    shades = "".join(f'<td bgcolor="{_shade((k + 0.5) / steps)}" width="18"> </td>' for k in range(steps))
    labels = (f'<td colspan="{steps // 2}" align="left">0</td>'
              f'<td colspan="{steps - steps // 2}" align="right">1</td>')
    return (f'<table border="0" cellborder="0" cellspacing="0" cellpadding="2"><tr><td rowspan="2">'
            f'<font point-size="9">{html(label)} </font></td>{shades}</tr><tr>{labels}</tr></table>')


def _kind_pattern(name: str) -> str:
    """A module name with its layer numbers replaced by *: "blocks.3.attn" -> "blocks.*.attn",
    so the attention modules that play the same part in every layer share one pattern."""
    return re.sub(r"(?<=\.)\d+(?=\.|$)|^\d+(?=\.|$)", "*", name)


def _kind_label(pattern: str, only: bool) -> str:
    """How a kind of attention is called in the explorer's selector."""
    if only:
        return "self-attention"
    for word, label in (("cross", "cross-attention"), ("encoder", "encoder self-attention"),
                        ("decoder", "decoder self-attention")):
        if word in pattern:
            return label
    return pattern


def attention_explorer(model: minigrad.nn.Module, ids: Any,
                       tokens: Sequence[Any] | None = None) -> AttentionExplorer:
    """Run `model` on one sequence of `ids` and return an interactive explorer of its attention:
    `.save("attention.html")` writes one self-contained HTML file (no network request), and in
    Jupyter the explorer shows itself inline. `tokens` label the positions (default: the ids).

    The attention modules are grouped into kinds by their names with the layer number left
    out ("blocks.0.attn", "blocks.1.attn" are one kind, each module a layer of it). For an
    encoder-decoder, `ids` is the tuple (source ids, target ids) and `tokens`, if given, the
    tuple (source tokens, target tokens): the explorer then offers encoder self-attention
    (source x source), decoder self-attention (target x target) and cross-attention (target
    queries x source keys), told apart by "cross", "encoder" and "decoder" in the names.
    """
    found = model_attention(model, ids)
    pair = is_source_target_pair(ids)
    if pair and tokens is not None and not (isinstance(tokens, tuple) and len(tokens) == 2):
        raise ValueError("attention_explorer: for a (source, target) pair of ids, tokens must be the pair "
                         "(source tokens, target tokens)")
    sides = list(ids) if pair else [ids]
    words_per_side = [None] * len(sides) if tokens is None else list(tokens) if pair else [tokens]
    labels = []
    for side, part, words in zip(("source ", "target ") if pair else ("",), sides, words_per_side):
        ids_here = _one_sequence(part, "ids")
        words = [str(i) for i in ids_here] if words is None else list(words)
        if len(words) != len(ids_here):
            raise ValueError(f"attention_explorer: {len(words)} {side}tokens for a sequence of "
                             f"{len(ids_here)} ids")
        labels.append([token_text(t) for t in words])
    source, target = labels[0], labels[-1]
    groups: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, weights in found:
        groups.setdefault(_kind_pattern(name), []).append((name, weights))
    kinds = []
    for pattern, layers in groups.items():
        label = _kind_label(pattern, len(groups) == 1)
        queries, keys = {"cross-attention": (target, source), "encoder self-attention": (source, source),
                         "decoder self-attention": (target, target)}.get(label, (target, target))
        for _, weights in layers:
            for head in weights:
                check_weights(head, keys, queries, "attention_explorer")
        kinds.append(AttentionKind(label, queries, keys, layers))
    return AttentionExplorer(kinds, title=f"{type(model).__name__}: attention")


def load_model(path: str | PathLike) -> TransformerLM:
    """The model of any minigrad model file (a training checkpoint or a `TransformerLM.save`
    file): `TransformerLM.load`, kept for callers of this name."""
    return TransformerLM.load(path)


# What the learned position table looks up are the positions 0, 1, ..., not token ids.
INPUT_NAMES = {"pos_emb": "positions"}


def draw_model_graph(model: TransformerLM | str | PathLike, ids: Any = None, *, depth: int | None = 1,
                     show_shapes: bool = True, show_grads: bool = False,
                     rankdir: str = "TB") -> graphviz.Digraph:
    """The computation graph of a TransformerLM's loss on `ids` (default: one sequence of
    `min(8, max_len)` fixed pseudo-random ids, the targets being the ids themselves), drawn
    as `minigrad.viz.draw_graph` draws it at `depth` (1: embeddings, the list of blocks, head;
    2: each block; 3: each block's parts; None: every op), with a title naming the ids. The ids,
    the positions, the targets and the causal mask are input nodes at every depth.
    `model` may be the path of a checkpoint (see `load_model`). With `show_grads`, backward
    runs first so parameters are coloured by the gradient of this loss alone; the parameters'
    `.grad` are put back as they were afterwards."""
    if not isinstance(model, TransformerLM):
        model = load_model(model)
    config = model.config
    if ids is None:
        ids = np.random.default_rng(0).integers(0, config.vocab_size, size=(1, min(8, config.max_len)))
    ids = np.asarray(ids.data if isinstance(ids, minigrad.Tensor) else ids)
    ids = ids[None] if ids.ndim == 1 else ids
    _, loss = model(ids, ids)
    if not show_grads:
        layout = layout_graph(loss, model, depth=depth, show_shapes=show_shapes, input_names=INPUT_NAMES)
        return to_dot(_label_inputs(layout, ids), rankdir)
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        model.zero_grad()
        loss.backward()
        layout = layout_graph(loss, model, depth=depth, show_shapes=show_shapes, show_grads=True,
                              input_names=INPUT_NAMES)
        return to_dot(_label_inputs(layout, ids), rankdir)
    finally:
        for p, grad in saved:
            p.grad = grad


def _label_inputs(layout: GraphLayout, ids: np.ndarray) -> GraphLayout:
    """Say what the model's inputs are: the ids enter the embedding as an index (not a tensor
    of the graph), so the title names them, and the targets (the same ids)."""
    shown = " ".join(str(int(i)) for i in ids[0])
    if len(ids) > 1:
        shown += f" (and {len(ids) - 1} more rows)"
    model = layout.classes.get("", "TransformerLM")
    layout.classes[""] = f"{model}: the loss of ids {shown}, targets the same ids"
    return layout


# ----- the graph explorer -----------------------------------------------------------------------------
@contextlib.contextmanager
def _keeping_results() -> Iterator[dict[int, minigrad.Tensor]]:
    """Within the block, keep the result Tensor of every op recorded in a graph, by id of its
    node, and make it retain its gradient: the graph itself keeps neither (intermediate arrays
    are freed as soon as nothing needs them), but a tooltip wants to summarise both. Done by
    wrapping the Tensor's `_apply_function` (which every `Function.apply` calls) for the block
    only; the original is put back however the block ends."""
    kept: dict[int, minigrad.Tensor] = {}
    original = minigrad.Tensor._apply_function

    def apply_and_keep(fn: type[Function], inputs: Sequence[Any], kwargs: dict[str, Any]) -> minigrad.Tensor:
        out = original(fn, inputs, kwargs)
        if out.grad_fn is not None:
            out.retain_grad()
            kept[id(out.grad_fn)] = out
        return out

    minigrad.Tensor._apply_function = staticmethod(apply_and_keep)
    try:
        yield kept
    finally:
        minigrad.Tensor._apply_function = staticmethod(original)


def value_summary(array: np.ndarray) -> str:
    """A line describing an array's values: the value itself for one element, else mean, std,
    min and max (computed in float64)."""
    a = np.asarray(array)
    if a.size == 0:
        return "no values (empty)"
    if a.size == 1:
        return f"value {a.reshape(-1)[0].item():.6g}"
    f = a.astype(np.float64)
    return f"mean {f.mean():.4g}, std {f.std():.4g}, min {f.min():.4g}, max {f.max():.4g}"


def _module_part(layout: GraphLayout, module: str) -> GraphLayout:
    """The part of `layout` inside `module` (its cluster), plus the nodes one edge away outside
    it, moved to the top level: what goes in and what comes out."""
    def inside(scope: str) -> bool:
        return scope == module or scope.startswith(module + ".")

    nodes = {scope: list(found) for scope, found in layout.nodes.items() if inside(scope)}
    ids = {n.id for found in nodes.values() for n in found}
    edges = [(a, b) for a, b in layout.edges if a in ids or b in ids]
    by_id = layout.by_id()
    neighbours = dict.fromkeys(x for edge in edges for x in edge if x not in ids)
    nodes.setdefault("", []).extend(by_id[x] for x in neighbours)
    return GraphLayout(nodes=nodes, edges=edges, classes=layout.classes, show_shapes=layout.show_shapes,
                       show_grads=layout.show_grads)


class _Tooltips:
    """Tooltip lines for the nodes of a layout, from the graph and the Tensors kept while it
    was recorded. Node ids follow `layout_graph`: "op{k}" and "t{k}" are op k of the
    topological order and its result, "leaf{j}" the j-th leaf met walking that order."""

    def __init__(self, loss: minigrad.Tensor, model: minigrad.nn.Module,
                 kept: dict[int, minigrad.Tensor]) -> None:
        self.order = topological_order(loss.grad_fn)
        self.results = [loss if k == 0 else kept.get(id(node)) for k, node in enumerate(self.order)]
        leaves: dict[int, minigrad.Tensor] = {}
        for node in self.order:
            for parent in node.parents:
                if parent is not None and not isinstance(parent, Function):
                    leaves.setdefault(id(parent), parent)
        self.leaves = list(leaves.values())
        self.parameters = dict(model.named_parameters())

    @staticmethod
    def _tensor_lines(tensor: minigrad.Tensor | None) -> list[str]:
        if tensor is None:
            return []
        lines = [value_summary(tensor.data)]
        if tensor.grad is not None:
            lines.append(f"|grad| {grad_norm(tensor.grad):.4g}")
        return lines

    def lines(self, node: OpNode | TensorNode | ModuleBox) -> list[str]:
        if isinstance(node, OpNode):
            k = int(node.id[2:])
            where = f" in {node.scope}" if node.scope else ""
            return [f"op {node.op}{where}",
                    "inputs: " + ", ".join(shape_text(s) for s in node.input_shapes),
                    f"output: {shape_text(node.out_shape)} {self.order[k].out_dtype}",
                    *(f"output {line}" for line in self._tensor_lines(self.results[k]))]
        if isinstance(node, TensorNode):
            tensor = None
            if node.id.startswith("t"):
                tensor = self.results[int(node.id[1:])]
            elif node.id.startswith("leaf"):
                tensor = self.leaves[int(node.id[4:])]
            heading = {"parameter": "parameter", "input": "input (no grad)", "leaf": "leaf (requires grad)",
                       "output": "output", "tensor": "tensor"}[node.kind]
            return [f"{heading} {node.name}" if node.name else heading,
                    f"shape {shape_text(node.shape)}, dtype {node.dtype}", *self._tensor_lines(tensor)]
        owned = [p for name, p in self.parameters.items() if name.startswith(node.name + ".")]
        norms = [grad_norm(p.grad) for p in owned if p.grad is not None]
        lines = [f"module {node.name}" + (f" ({node.cls})" if node.cls else ""),
                 f"{node.parameters:,} parameters"]
        if node.inputs:
            lines.append("in: " + ", ".join(shape_text(s) for s in node.inputs))
        lines.append("out: " + ", ".join(shape_text(s) for s in node.outputs))
        if norms:
            lines.append(f"|grad| of its parameters {float(np.sqrt(np.sum(np.square(norms)))):.4g}")
        return lines


def _svg(layout: GraphLayout, rankdir: str) -> str:
    """The layout drawn by Graphviz's dot, as the text of one <svg> element."""
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(
            "graph_explorer: Graphviz's `dot` program is not on PATH; install Graphviz (Debian/Ubuntu: "
            "`sudo apt-get install graphviz`; macOS: `brew install graphviz`; conda: "
            "`conda install graphviz`)")
    text = to_dot(layout, rankdir).pipe(format="svg").decode("utf-8")
    return text[text.index("<svg"):]


def graph_explorer(model: TransformerLM | str | PathLike, ids: Any = None, *, depth: int | None = 1,
                   levels: int = 2, show_grads: bool = False, rankdir: str = "TB") -> GraphExplorer:
    """The computation graph of a TransformerLM's loss on `ids` (as in `draw_model_graph`) as an
    interactive explorer: `.save("graph.html")` writes one self-contained HTML file with the SVG
    at `depth`, pan and zoom, and a tooltip on every node (op, shapes, dtype, a summary of the
    values, the gradient norm). Clicking a collapsed module opens that module's own graph, drawn
    one depth further; those pages are rendered beforehand, `levels` depths below `depth`
    (each page is one run of Graphviz's `dot`, which is what takes the time).

    Backward runs once, for the tooltips' gradient norms; `show_grads` also colours the
    tensors by them. The parameters' `.grad` are put back as they were afterwards."""
    if not isinstance(model, TransformerLM):
        model = load_model(model)
    if not isinstance(levels, int) or levels < 0:
        raise ValueError(f"graph_explorer: levels must be an int >= 0, got {levels!r}")
    if ids is None:
        size = (1, min(8, model.config.max_len))
        ids = np.random.default_rng(0).integers(0, model.config.vocab_size, size=size)
    ids = np.asarray(ids.data if isinstance(ids, minigrad.Tensor) else ids)
    ids = ids[None] if ids.ndim == 1 else ids
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        with _keeping_results() as kept:
            _, loss = model(ids, ids)
        model.zero_grad()
        loss.backward()
        tooltips = _Tooltips(loss, model, kept)
        layouts: dict[int | None, GraphLayout] = {}

        def layout_at(d: int | None) -> GraphLayout:
            if d not in layouts:
                layouts[d] = layout_graph(loss, model, depth=d, show_grads=show_grads,
                                          input_names=INPUT_NAMES)
            return layouts[d]

        cls = type(model).__name__
        pages: list[GraphPage] = []
        queue = deque([("", depth, 0)])  # (module, depth drawn at, levels below the first page)
        while queue:
            name, d, level = queue.popleft()
            layout = layout_at(d) if not name else _module_part(layout_at(d), name)
            opens = {}
            if d is not None and level < levels:
                for box in layout.boxes:  # its own modules, not the neighbours drawn around it
                    if not name or box.name.startswith(name + "."):
                        opens[box.id] = box.name
                        queue.append((box.name, d + 1, level + 1))
            title = f"{cls}, depth {d if d is not None else 'full'}" if not name else \
                f"{name} ({layout.classes.get(name, 'module')})"
            lines = {n.id: tooltips.lines(n) for found in layout.nodes.values() for n in found}
            for box in layout.boxes:
                lines[box.id].append("click to open its graph" if box.id in opens else
                                     f"(its graph is not in this file: pages go {levels} levels deep)")
            pages.append(GraphPage(name, title, _svg(layout, rankdir), lines, opens))
        return GraphExplorer(pages, title=f"{cls}: computation graph of the loss")
    finally:
        for p, grad in saved:
            p.grad = grad


__all__ = ["draw_attention", "attention_heatmap", "draw_model_attention", "draw_model_graph",
           "attention_explorer", "graph_explorer", "value_summary", "load_model", "model_attention",
           "check_weights", "is_source_target_pair"]
