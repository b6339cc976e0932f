"""Draw the graph that produced a tensor, as a `graphviz.Digraph`, and write it to a file.

Drawing is two steps: `graph_layout.layout_graph` decides what is drawn (nodes by module
scope, edges, collapsed modules with the shapes crossing their boundary) as plain data, and
`to_dot` turns that layout into DOT: labels, shapes, colours, clusters and the legend. Op nodes
are ellipses, tensors boxes, modules nested clusters (or, collapsed, one double-bordered box).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from .atomic import write_bytes
from .graph_layout import GraphLayout, ModuleBox, OpNode, TensorNode, grad_norm, layout_graph, parent_scope
from .tensor import Tensor

# Fill colours of tensor nodes; the legend repeats them.
COLOURS = {
    "op": "#e6e6e6",
    "tensor": "#ffffff",
    "parameter": "#b9e3c6",
    "input": "#c6dbef",
    "leaf": "#fde8a6",
    "output": "#f7b6a8",
    "module": "#dbe4f0",
}
# With show_grads the fill shows the gradient, so the kind moves to a thick border.
BORDERS = {"parameter": "#2e8b57", "input": "#4a7ab5", "leaf": "#c9a100", "output": "#d9534f"}
KIND_TEXT = {
    "parameter": "parameter",
    "input": "input (no grad)",
    "leaf": "leaf (requires grad)",
    "output": "output",
    "tensor": "tensor",
}
# Background of clusters, by nesting level, so nested modules stay distinguishable.
CLUSTER_FILLS = ("#f6f8fb", "#ebf0f7", "#dfe7f2", "#d3deed")

# Gradient norms by decade: < 1e-6, [1e-6, 1e-5), ..., [10, 100), >= 100. Blue = vanishing,
# red = exploding (ColorBrewer RdYlBu, reversed).
GRAD_COLOURS = ("#313695", "#4575b4", "#74add1", "#abd9e9", "#e0f3f8",
                "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026")
GRAD_LOWEST_DECADE = -6
GRAD_NONFINITE = "#e7298a"
_DARK = {GRAD_COLOURS[0], GRAD_COLOURS[1], GRAD_COLOURS[-2], GRAD_COLOURS[-1], GRAD_NONFINITE}

FORMATS = ("svg", "png", "pdf", "dot")


def html(text: Any) -> str:
    """Escape text for a Graphviz HTML-like label (`<`, `>`, `&`, `"`)."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


def shape_text(shape: tuple[int, ...]) -> str:
    return str(tuple(shape))


def grad_colour(norm: float) -> str:
    """The fill colour of a gradient norm: one colour per decade (see GRAD_COLOURS)."""
    if not np.isfinite(norm):
        return GRAD_NONFINITE
    decade = int(np.floor(np.log10(norm))) if norm > 0 else GRAD_LOWEST_DECADE - 1
    return GRAD_COLOURS[min(max(decade - GRAD_LOWEST_DECADE + 1, 0), len(GRAD_COLOURS) - 1)]


def draw_graph(output: Tensor, params: Any = None, *, depth: int | None = None,
               show_shapes: bool = True, show_grads: bool = False,
               input_names: Mapping[str, str] | None = None, rankdir: str = "TB") -> graphviz.Digraph:
    """The graph that produced `output`, with modules as nested clusters.

    params: `dict(model.named_parameters())`, or the model itself (then clusters also show
        module classes); parameter names are looked up there when drawing. Without it,
        parameters are drawn as unnamed leaves. An intermediate tensor that called
        `retain_grad()` may be named here too.
    depth: draw each module whose qualified name has `depth` parts ("blocks" is 1,
        "blocks.0" is 2) as one box with its parameter count and input/output shapes.
    show_grads: after `backward()`, colour tensors by the norm of their gradient, one colour
        per decade, so vanishing (blue) and exploding (red) gradients stand out. Leaves keep
        `.grad`; an intermediate tensor has one only if `retain_grad()` was called. A
        one-element tensor shows its gradient itself (with its sign), a larger one the norm.
    input_names: labels for the arrays that ops took as plain inputs (an embedding's ids, a
        loss's targets, an attention mask: each drawn as an input node, labelled by its op)
        by the qualified name of the module reading them, e.g. {"pos_emb": "positions"}.
    One-element tensors show their value: leaves, the output, and retained intermediates,
    so a small expression can be drawn with every value and gradient written on it.

    The same as `to_dot(layout_graph(output, params, ...), rankdir)`.
    """
    _check_rankdir(rankdir)
    layout = layout_graph(output, params, depth=depth, show_shapes=show_shapes, show_grads=show_grads,
                          input_names=input_names)
    return to_dot(layout, rankdir)


def _check_rankdir(rankdir: str) -> None:
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"draw_graph: rankdir must be one of TB, LR, BT, RL, got {rankdir!r}")


def _op_attributes(node: OpNode) -> dict[str, str]:
    inputs = ", ".join(shape_text(s) for s in node.input_shapes)
    where = f" in {node.scope}" if node.scope else ""
    tip = f"{node.op}{where}: {inputs} -> {shape_text(node.out_shape)}"
    return {"label": f"<<b>{html(node.op)}</b>>", "shape": "ellipse",
            "fillcolor": COLOURS["op"], "tooltip": tip}


def _tensor_attributes(node: TensorNode, show_shapes: bool, show_grads: bool) -> dict[str, str]:
    lines = []
    if node.name:
        lines.append(f"<b>{html(node.name)}</b>")
    elif node.kind == "output":
        lines.append("<b>output</b>")
    if show_shapes:
        lines.append(html(f"{shape_text(node.shape)} {node.dtype}"))
    if node.value is not None:
        lines.append(html(f"= {node.value:.4g}"))
    if node.values is not None:
        lines.append(html(" ".join(map(str, node.values))))
    attrs = {"shape": "box", "style": "filled", "fillcolor": COLOURS[node.kind],
             "tooltip": " ".join(filter(None, (KIND_TEXT[node.kind], node.name, shape_text(node.shape))))}
    # the fill may show the gradient: the kind moves to the border
    if show_grads and node.kind in BORDERS:
        attrs.update(color=BORDERS[node.kind], penwidth="3")
    if node.grad_norm is not None:
        if node.grad_value is not None:  # one element: the gradient itself, with its sign
            lines.append(html(f"grad = {node.grad_value:.4g}"))
        else:
            lines.append(html(f"|grad| {node.grad_norm:.2e}"))
        attrs["fillcolor"] = grad_colour(node.grad_norm)
        if attrs["fillcolor"] in _DARK:
            attrs["fontcolor"] = "white"
    if not lines:
        attrs.update(shape="point", width="0.08")
    attrs["label"] = "<" + "<br/>".join(lines) + ">" if lines else ""
    return attrs


def _module_attributes(box: ModuleBox, show_shapes: bool) -> dict[str, str]:
    lines = [f"<b>{html(box.name)}</b>"]
    if box.cls:
        lines.append(f"<i>{html(box.cls)}</i>")
    lines.append(f"{box.parameters:,} parameters")
    fill = COLOURS["module"]
    if box.grad_norm is not None:  # the fill shows its parameters' gradient, as for a tensor
        lines.append(html(f"|grad| {box.grad_norm:.2e} (all its parameters)"))
        fill = grad_colour(box.grad_norm)
    if show_shapes:
        if box.inputs:  # a module may take no tensor from the graph (an Embedding takes ids)
            lines.append(html("in: " + ", ".join(shape_text(s) for s in box.inputs)))
        lines.append(html("out: " + ", ".join(shape_text(s) for s in box.outputs)))
    return {"label": "<" + "<br/>".join(lines) + ">", "shape": "box",
            "style": "filled,bold", "peripheries": "2", "fillcolor": fill,
            **({"fontcolor": "white"} if fill in _DARK else {}),
            "tooltip": f"module {box.name}" + (f" ({box.cls})" if box.cls else "")}


def _attributes(node: OpNode | TensorNode | ModuleBox, layout: GraphLayout) -> dict[str, str]:
    """A node's DOT attributes (label, shape, colours, tooltip), from its layout data alone."""
    if isinstance(node, OpNode):
        return _op_attributes(node)
    if isinstance(node, TensorNode):
        return _tensor_attributes(node, layout.show_shapes, layout.show_grads)
    return _module_attributes(node, layout.show_shapes)


def _legend(show_grads: bool, collapsed: bool, title: str | None) -> str:
    """The graph's label: its title (the model's class) and a legend, as an HTML-like table.
    A graph label is drawn outside the layout, so the legend never pushes nodes around.
    Each kind of node is shown as it is drawn (an op's ellipse as a cell with rounded corners)."""
    def entry(text: str, fill: str, border: str = "black", width: int = 1, rounded: bool = False) -> str:
        corners = ' style="rounded"' if rounded else ""
        return (f'<td><table border="{width}" cellborder="0" color="{border}" bgcolor="{fill}"{corners}>'
                f"<tr><td>{text}</td></tr></table></td>")

    entries = [entry("op", COLOURS["op"], rounded=True)]
    for kind in ("tensor", "input", "leaf", "parameter", "output"):
        if show_grads and kind in BORDERS:
            entries.append(entry(html(KIND_TEXT[kind]), COLOURS[kind], BORDERS[kind], width=3))
        else:
            entries.append(entry(html(KIND_TEXT[kind]), COLOURS[kind]))
    if collapsed:
        entries.append(entry("<b>module</b> (collapsed)", COLOURS["module"], width=3))
    per_row = 4
    rows = [f'<tr><td align="left" colspan="{per_row}"><b>{html(title)}</b></td></tr>'] if title else []
    rows.append(f'<tr><td align="left" colspan="{per_row}"><i>legend</i></td></tr>')
    rows += [f"<tr>{''.join(entries[i:i + per_row])}</tr>" for i in range(0, len(entries), per_row)]
    if show_grads:
        n = len(GRAD_COLOURS)
        bar = "".join(f'<td bgcolor="{c}" width="16"> </td>' for c in GRAD_COLOURS)
        rows.append(
            f'<tr><td colspan="{per_row}"><table border="0" cellspacing="0" cellborder="1">'
            f'<tr><td align="left">fill = |grad|, a colour per decade:</td>'
            f'<td>&lt;1e{GRAD_LOWEST_DECADE}</td>{bar}'
            f'<td>&#8805;1e{GRAD_LOWEST_DECADE + n - 2}</td><td bgcolor="{GRAD_NONFINITE}">nan, inf</td></tr>'
            f"</table></td></tr>"
        )
    return f'<<table border="0" cellspacing="3">{"".join(rows)}</table>>'


def to_dot(layout: GraphLayout, rankdir: str = "TB") -> graphviz.Digraph:
    """Emit a layout as a Digraph: one cluster per module scope, nested by prefix, built
    deepest first so each finished cluster is copied into its parent; the legend as the
    graph's label; edges last."""
    _check_rankdir(rankdir)
    graph = graphviz.Digraph(name="minigrad")
    graph.attr(rankdir=rankdir, fontname="Helvetica", fontsize="11")
    graph.attr("node", fontname="Helvetica", fontsize="10", style="filled", margin="0.06,0.03", height="0.3")
    graph.attr("edge", arrowsize="0.6", color="#555555")
    title = layout.classes.get("")
    graph.attr(label=_legend(layout.show_grads, bool(layout.boxes), title), labelloc="t", labeljust="l")
    scopes = layout.scopes()
    clusters = {"": graph}
    for n, scope in enumerate(scopes):
        cluster = graphviz.Digraph(name=f"cluster_{n}")
        level = scope.count(".")
        cls = layout.classes.get(scope)
        label = f"<b>{html(scope)}</b>" + (f" <i>{html(cls)}</i>" if cls else "")
        cluster.attr(label=f"<{label}>", labeljust="l", style="rounded,filled", color="#8a9bb0",
                     fillcolor=CLUSTER_FILLS[min(level, len(CLUSTER_FILLS) - 1)])
        clusters[scope] = cluster
    for scope, nodes in layout.nodes.items():
        target = clusters[scope]
        for node in nodes:
            target.body.append(_node_line(node.id, _attributes(node, layout)))
    for scope in sorted(scopes, key=lambda s: s.count("."), reverse=True):
        clusters[parent_scope(scope)].subgraph(clusters[scope])
    for tail, head in layout.edges:
        graph.body.append(f"\t{tail} -> {head}\n")
    return graph


def _node_line(name: str, attrs: dict[str, str]) -> str:
    """One DOT node statement. The graphviz package's `node()` quotes every value through
    regular expressions, too slow for 20,000 nodes; our ids are plain, labels are already
    escaped HTML, and every other value is quoted here (backslash and double quote)."""
    parts = []
    for key, value in attrs.items():
        if not (key == "label" and value.startswith("<")):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={value}")
    return f"\t{name} [{' '.join(parts)}]\n"


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is not installed (the Python package alone cannot lay out)."""


def render(graph: graphviz.Digraph | graphviz.Graph | graphviz.Source, path: str | os.PathLike,
           format: str | None = None) -> Path:
    """Write `graph` to `path` as svg, png or pdf, laid out by Graphviz (its `dot` program,
    or the graph's own `engine`), or as DOT source text (format "dot", which needs no
    Graphviz program); return the path written.

    The format is `format`, else the path's suffix (`g.png` is a PNG), else svg; a path
    without a suffix gets `.{format}`. A suffix that contradicts `format`, or that names no
    format when `format` is not given, is a ValueError rather than a file whose name lies
    about its contents. Written with `minigrad.atomic.atomic_write`.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"render: format must be one of {', '.join(FORMATS)}, got {format!r}")
    path = Path(path)
    suffix = path.suffix[1:].lower()
    if suffix and suffix not in FORMATS and format is None:
        raise ValueError(f"render: cannot write {path}: .{suffix} is not one of the formats "
                         f"{', '.join(FORMATS)} (pass format= to write it anyway)")
    if suffix in FORMATS and format is not None and suffix != format:
        raise ValueError(f"render: {path} has the suffix .{suffix} but format is {format!r}")
    format = format or suffix or "svg"
    if not suffix:
        path = path.with_suffix(f".{format}")
    if format == "dot":
        write_bytes(path, graph.source.encode("utf-8"))
        return path
    program = getattr(graph, "engine", "dot")  # the layout program: dot, or neato for pinned positions
    if shutil.which(program) is None:
        raise GraphvizNotFoundError(
            f"render: cannot write {path} because Graphviz's `{program}` program is not on PATH. "
            "Install Graphviz (Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: "
            "`brew install graphviz`; conda: `conda install graphviz`), or call "
            "render(graph, path, format=\"dot\") to write the DOT text, which needs no Graphviz program."
        )
    try:
        data = graph.pipe(format=format)
    except graphviz.CalledProcessError as error:
        message = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr
        raise RuntimeError(f"render: Graphviz's {program} failed on this graph: {message}") from None
    write_bytes(path, data)
    return path


__all__ = ["draw_graph", "layout_graph", "to_dot", "render", "GraphvizNotFoundError", "grad_norm",
           "grad_colour"]
