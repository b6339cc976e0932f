"""Pictures of attention, and of a whole model's computation graph, as `graphviz.Digraph`s.

An attention matrix `weights[i, j]` is how much query position i looks at key position j
(each row of softmax weights sums to 1). `draw_attention` draws it as two columns of tokens,
queries on the left and keys on the right, with one edge per weight above a threshold;
`attention_heatmap` draws the whole matrix as a coloured table. Write either to a file with
`minigrad.viz.render(graph, "attention.svg")`.
"""
from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import graphviz
import numpy as np

import minigrad
from minigrad import nn
from minigrad.viz import draw_graph, html

from .attention import record_attention
from .model import TransformerLM
from .train import load_checkpoint

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


def model_attention(model: minigrad.nn.Module, ids: Any) -> list[tuple[str, np.ndarray]]:
    """Run `model` on one sequence of ids (T,) or (1, T) in eval mode without a graph, and
    return each attention module's (name, weights (h, T, T)), in the order they ran."""
    ids = np.asarray(ids.data if isinstance(ids, minigrad.Tensor) else ids)
    if ids.ndim == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.ndim != 1:
        raise ValueError("draw_model_attention: expected the ids of one sequence, (T,) or (1, T), got shape "
                         f"{ids.shape}")
    modules = [(name, m) for name, m in model.named_modules() if hasattr(m, "attn_weights")]
    if not modules:
        raise ValueError(f"draw_model_attention: {type(model).__name__} has no attention module (nothing "
                         "keeps attn_weights)")
    for _, m in modules:
        m.attn_weights = None
    with minigrad.no_grad(), nn.evaluating(model), record_attention(model):  # no dropout
        model(ids[None])
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
    rows = []
    for li in layers:
        cells = []
        for hi in heads:
            w = check_weights(found[li][1][hi], tokens, None, "draw_model_attention")
            cells.append(f"<td>{_heatmap_table(w, tokens, tokens, True, f'layer {li}, head {hi}')}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    graph = graphviz.Digraph(name="attention_heatmaps")
    graph.node("grid", f'<<table border="0" cellspacing="12">{"".join(rows)}</table>>',
               shape="plaintext", fontname="Helvetica", fontsize="10")
    return graph


def load_model(path: str | PathLike) -> TransformerLM:
    """The model in a training checkpoint (written by `train`) or in a `TransformerLM.save` file."""
    if "model_config" in minigrad.load(path):
        return load_checkpoint(path).build_model()
    return TransformerLM.load(path)


def draw_model_graph(model: TransformerLM | str | PathLike, ids: Any = None, *, depth: int | None = 1,
                     show_shapes: bool = True, show_grads: bool = False,
                     rankdir: str = "TB") -> graphviz.Digraph:
    """The computation graph of a TransformerLM's loss on `ids` (default: one sequence of
    `min(8, max_len)` fixed pseudo-random ids, the targets being the ids themselves), drawn
    by `minigrad.viz.draw_graph` at `depth` (1: embeddings, blocks, head; 2: each block; None:
    every op). `model` may be the path of a checkpoint (see `load_model`). With `show_grads`,
    backward runs first so parameters are coloured by the gradient of this loss alone; the
    parameters' `.grad` are put back as they were afterwards."""
    if not isinstance(model, TransformerLM):
        model = load_model(model)
    config = model.config
    if ids is None:
        ids = np.random.default_rng(0).integers(0, config.vocab_size, size=(1, min(8, config.max_len)))
    ids = np.asarray(ids.data if isinstance(ids, minigrad.Tensor) else ids)
    ids = ids[None] if ids.ndim == 1 else ids
    _, loss = model(ids, ids)
    if not show_grads:
        return draw_graph(loss, model, depth=depth, show_shapes=show_shapes, rankdir=rankdir)
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        model.zero_grad()
        loss.backward()
        return draw_graph(loss, model, depth=depth, show_shapes=show_shapes, show_grads=True, rankdir=rankdir)
    finally:
        for p, grad in saved:
            p.grad = grad


__all__ = ["draw_attention", "attention_heatmap", "draw_model_attention", "draw_model_graph",
           "load_model", "model_attention", "check_weights"]
