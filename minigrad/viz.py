"""Draw the graph that produced a tensor, as a `graphviz.Digraph`, and write it to a file.

The picture is bipartite, like the graph itself: op nodes (ellipses, one per recorded
`Function`) alternate with tensor nodes (boxes). Edges point the way the forward pass ran;
backward walks them in reverse. Leaves are real Tensors; a tensor between two ops is drawn
from its producer's `out_shape` and `out_dtype`, because the graph keeps no reference to it.

Every op remembers the module scope it ran in (`node.scope`, e.g. "blocks.0.attn"), so modules
become nested clusters by qualified-name prefix: "blocks" holds "blocks.0", which holds
"blocks.0.attn". With `depth=k` each module whose name has k parts is drawn as one box.

Where a drawn thing lives (its *home* scope):
    op                     the scope it ran in
    op output              its producer's scope (the final output: top level)
    parameter              the module that owns it ("a.b.weight" -> "a.b")
    one-element constant   the innermost module holding all the ops that use it
    any other leaf         the top level: data that came from outside
Anything whose home lies inside a collapsed module is absorbed into that module's box.
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
from .autograd import Function, topological_order
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


def grad_norm(grad: Any) -> float:
    """The Euclidean norm of a gradient, accumulated in float64 so float32 cannot overflow."""
    g = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
    return float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))


def grad_colour(norm: float) -> str:
    """The fill colour of a gradient norm: one colour per decade (see GRAD_COLOURS)."""
    if not np.isfinite(norm):
        return GRAD_NONFINITE
    decade = int(np.floor(np.log10(norm))) if norm > 0 else GRAD_LOWEST_DECADE - 1
    return GRAD_COLOURS[min(max(decade - GRAD_LOWEST_DECADE + 1, 0), len(GRAD_COLOURS) - 1)]


def _parent_scope(scope: str) -> str:
    return scope.rpartition(".")[0]


def _ancestors(scope: str) -> list[str]:
    """"a.b.c" -> ["a", "a.b", "a.b.c"]."""
    parts = scope.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)] if scope else []


def _common_scope(scopes: list[str]) -> str:
    split = [s.split(".") if s else [] for s in scopes]
    common = split[0]
    for parts in split[1:]:
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    return ".".join(common)


def _inside(scope: str, group: str) -> bool:
    return scope == group or scope.startswith(group + ".")


class _Picture:
    """What will be drawn, before it becomes DOT: nodes by home scope, and edges."""

    def __init__(self) -> None:
        self.nodes: dict[str, list[tuple[str, dict[str, str]]]] = {}
        self.edges: list[tuple[str, str]] = []
        self.edge_set: set[tuple[str, str]] = set()

    def node(self, scope: str, name: str, **attrs: str) -> None:
        self.nodes.setdefault(scope, []).append((name, attrs))

    def edge(self, tail: str, head: str, unique: bool = False) -> None:
        """Add an edge; `unique` drops a repeat (several ops of one collapsed module reading
        the same tensor give one edge), while x * x keeps both of its edges."""
        if unique:
            if (tail, head) in self.edge_set:
                return
            self.edge_set.add((tail, head))
        self.edges.append((tail, head))


def _names_and_classes(params: Any) -> tuple[dict[int, str], dict[str, int], dict[str, str]]:
    """From `params` (a name -> tensor mapping, or a Module): tensor id -> name,
    name -> element count, and module qualified name -> class name where known."""
    classes: dict[str, str] = {}
    if params is None:
        return {}, {}, classes
    if hasattr(params, "named_parameters"):  # a Module: its class names come for free
        if hasattr(params, "named_modules"):
            classes = {name: type(m).__name__ for name, m in params.named_modules()}
        params = dict(params.named_parameters())
    if not isinstance(params, Mapping):
        raise TypeError("draw_graph: params must be a dict of name -> tensor or a Module, got "
                        f"{type(params).__name__}")
    names, sizes = {}, {}
    for name, p in params.items():
        if not isinstance(p, Tensor):
            raise TypeError(f"draw_graph: params[{name!r}] is a {type(p).__name__}, not a Tensor")
        names[id(p)] = str(name)
        sizes[str(name)] = p.data.size
    return names, sizes, classes


def draw_graph(output: Tensor, params: Any = None, *, depth: int | None = None,
               show_shapes: bool = True, show_grads: bool = False,
               rankdir: str = "TB") -> graphviz.Digraph:
    """The graph that produced `output`, with modules as nested clusters.

    params: `dict(model.named_parameters())`, or the model itself (then clusters also show
        module classes); parameter names are looked up there when drawing. Without it,
        parameters are drawn as unnamed leaves.
    depth: draw each module whose qualified name has `depth` parts ("blocks" is 1,
        "blocks.0" is 2) as one box with its parameter count and input/output shapes.
    show_grads: after `backward()`, colour tensors by the norm of their gradient, one colour
        per decade, so vanishing (blue) and exploding (red) gradients stand out. Leaves keep
        `.grad`; an intermediate tensor has one only if `retain_grad()` was called.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"draw_graph: expected the Tensor to draw, got {type(output).__name__}")
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise ValueError("draw_graph: depth must be a positive int (1 = the model's children) or None, got "
                         f"{depth!r}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"draw_graph: rankdir must be one of TB, LR, BT, RL, got {rankdir!r}")
    names, param_sizes, classes = _names_and_classes(params)
    style = _Style(show_shapes, show_grads)
    picture = _Picture()
    if output.grad_fn is None:
        picture.node("", "out",
                     **style.tensor("output", output.shape, output.dtype, output, names.get(id(output))))
        return _assemble(picture, style, classes, rankdir, collapsed=False)

    order = topological_order(output.grad_fn)
    index = {id(node): k for k, node in enumerate(order)}
    consumers: list[list[str]] = [[] for _ in order]  # scopes of the ops reading each op's output
    leaves: dict[int, Tensor] = {}
    leaf_consumers: dict[int, list[str]] = {}
    for node in order:
        for parent in node.parents:
            if isinstance(parent, Function):
                consumers[index[id(parent)]].append(node.scope)
            elif parent is not None:
                leaves.setdefault(id(parent), parent)
                leaf_consumers.setdefault(id(parent), []).append(node.scope)

    def group_of(scope: str) -> str | None:
        """The collapsed module a scope lies in, or None when drawn in full."""
        if depth is None:
            return None
        parts = scope.split(".") if scope else []
        return ".".join(parts[:depth]) if len(parts) >= depth else None

    groups: dict[str, dict[str, Any]] = {}  # collapsed module -> its box id and boundary shapes

    def box(group: str) -> str:
        if group not in groups:
            groups[group] = {"id": f"mod{len(groups)}", "in": {}, "out": {}}
        return groups[group]["id"]

    op_group = [group_of(node.scope) for node in order]
    # Draw ids: op k -> "op{k}", its output -> "t{k}", leaf j -> "leaf{j}", module j -> "mod{j}".
    leaf_ids: dict[int, str] = {}
    for j, (key, leaf) in enumerate(leaves.items()):
        name = names.get(key)
        if name:
            kind, home = "parameter", _parent_scope(name)
            param_sizes.setdefault(name, leaf.data.size)
        elif leaf.requires_grad or leaf.data.size > 1:  # data from outside: drawn at the top
            kind, home = ("leaf" if leaf.requires_grad else "input"), ""
        else:  # a constant such as the 2.0 of `x * 2.0`: beside the ops that use it
            kind, home = "input", _common_scope(leaf_consumers[key])
        group = group_of(home)
        leaf_ids[key] = f"leaf{j}" if group is None else box(group)
        if group is None:
            picture.node(home, f"leaf{j}", **style.tensor(kind, leaf.shape, leaf.dtype, leaf, name))

    # Where op k is drawn (its ellipse, or its module's box) and whether its output gets a node:
    # always outside collapsed modules when shapes are shown, and for a module's outputs.
    node_id = [f"op{k}" if g is None else box(g) for k, g in enumerate(op_group)]
    crosses = [k == 0 or any(group_of(s) != op_group[k] for s in consumers[k]) for k in range(len(order))]
    has_tensor = [(op_group[k] is None or crosses[k]) and (show_shapes or k == 0 or style.has_grad(order[k]))
                  for k in range(len(order))]
    out_id = [f"t{k}" if has_tensor[k] else node_id[k] for k in range(len(order))]

    for k, node in enumerate(order):
        group = op_group[k]
        if group is None:
            picture.node(node.scope, node_id[k], **style.op(node))
        elif crosses[k]:
            groups[group]["out"][k] = node.out_shape
        if has_tensor[k]:
            home = "" if k == 0 else (node.scope if group is None else _parent_scope(group))
            kind, source = ("output", output) if k == 0 else ("tensor", node)
            picture.node(home, out_id[k], **style.tensor(kind, node.out_shape, node.out_dtype, source, None))
            picture.edge(node_id[k], out_id[k], unique=group is not None)
        for i, parent in enumerate(node.parents):
            if parent is None:
                continue
            if isinstance(parent, Function):
                p = index[id(parent)]
                if group is not None and op_group[p] == group:  # inside one box: not drawn
                    continue
                source = out_id[p]
            else:
                source = leaf_ids[id(parent)]
            if source == node_id[k]:  # a leaf absorbed into this op's box
                continue
            if group is not None:
                groups[group]["in"].setdefault(source, node.input_shapes[i])
            picture.edge(source, node_id[k], unique=group is not None or source.startswith("mod"))

    for name, info in groups.items():
        count = sum(n for p, n in param_sizes.items() if _inside(_parent_scope(p), name))
        picture.node(_parent_scope(name), info["id"], **style.module(
            name, classes.get(name), count, list(info["in"].values()), list(info["out"].values())))
    return _assemble(picture, style, classes, rankdir, collapsed=bool(groups))


class _Style:
    """Node attributes: labels, shapes and colours, in one place."""

    def __init__(self, show_shapes: bool, show_grads: bool) -> None:
        self.show_shapes = show_shapes
        self.show_grads = show_grads

    def has_grad(self, node: Function) -> bool:
        """Whether the output of `node` has a gradient to show (it called `retain_grad()`)."""
        return self._grad(node) is not None

    def op(self, node: Function) -> dict[str, str]:
        inputs = ", ".join(shape_text(s) for s in node.input_shapes)
        where = f" in {node.scope}" if node.scope else ""
        tip = f"{type(node).__name__}{where}: {inputs} -> {shape_text(node.out_shape)}"
        return {"label": f"<<b>{html(type(node).__name__)}</b>>", "shape": "ellipse",
                "fillcolor": COLOURS["op"], "tooltip": tip}

    def tensor(self, kind: str, shape: tuple[int, ...], dtype: Any, source: Any,
               name: str | None) -> dict[str, str]:
        """A tensor node. `source` is the Tensor itself (a leaf or the output), or for an
        intermediate tensor the Function node that made it."""
        lines = []
        if name:
            lines.append(f"<b>{html(name)}</b>")
        elif kind == "output":
            lines.append("<b>output</b>")
        if self.show_shapes:
            lines.append(html(f"{shape_text(shape)} {str(dtype)}"))
        if isinstance(source, Tensor) and source.data.size == 1 and not name:
            lines.append(html(f"= {source.data.item():.4g}"))
        attrs = {"shape": "box", "style": "filled", "fillcolor": COLOURS[kind],
                 "tooltip": " ".join(filter(None, (KIND_TEXT[kind], name, shape_text(shape))))}
        # the fill may show the gradient: the kind moves to the border
        if self.show_grads and kind in BORDERS:
            attrs.update(color=BORDERS[kind], penwidth="3")
        grad = self._grad(source)
        if grad is not None:
            norm = grad_norm(grad)
            lines.append(html(f"|grad| {norm:.2e}"))
            attrs["fillcolor"] = grad_colour(norm)
            if attrs["fillcolor"] in _DARK:
                attrs["fontcolor"] = "white"
        if not lines:
            attrs.update(shape="point", width="0.08")
        attrs["label"] = "<" + "<br/>".join(lines) + ">" if lines else ""
        return attrs

    def _grad(self, source: Any) -> Any:
        if not self.show_grads:
            return None
        if isinstance(source, Function):
            retained = source.__dict__.get("retained")
            source = retained() if retained is not None else None
        return source.grad if isinstance(source, Tensor) else None

    def module(self, name: str, cls: str | None, count: int, ins: list, outs: list) -> dict[str, str]:
        lines = [f"<b>{html(name)}</b>"]
        if cls:
            lines.append(f"<i>{html(cls)}</i>")
        lines.append(f"{count:,} parameters")
        if self.show_shapes:
            if ins:  # a module may take no tensor from the graph (an Embedding takes ids)
                lines.append(html("in: " + ", ".join(shape_text(s) for s in ins)))
            lines.append(html("out: " + ", ".join(shape_text(s) for s in outs)))
        return {"label": "<" + "<br/>".join(lines) + ">", "shape": "box",
                "style": "filled,bold", "peripheries": "2", "fillcolor": COLOURS["module"],
                "tooltip": f"module {name}" + (f" ({cls})" if cls else "")}


def _legend(style: _Style, collapsed: bool, title: str | None) -> str:
    """The graph's label: its title (the model's class) and a legend, as an HTML-like table.
    A graph label is drawn outside the layout, so the legend never pushes nodes around.
    Each kind of node is shown as it is drawn (an op's ellipse as a cell with rounded corners)."""
    def entry(text: str, fill: str, border: str = "black", width: int = 1, rounded: bool = False) -> str:
        corners = ' style="rounded"' if rounded else ""
        return (f'<td><table border="{width}" cellborder="0" color="{border}" bgcolor="{fill}"{corners}>'
                f"<tr><td>{text}</td></tr></table></td>")

    entries = [entry("op", COLOURS["op"], rounded=True)]
    for kind in ("tensor", "input", "leaf", "parameter", "output"):
        if style.show_grads and kind in BORDERS:
            entries.append(entry(html(KIND_TEXT[kind]), COLOURS[kind], BORDERS[kind], width=3))
        else:
            entries.append(entry(html(KIND_TEXT[kind]), COLOURS[kind]))
    if collapsed:
        entries.append(entry("<b>module</b> (collapsed)", COLOURS["module"], width=3))
    per_row = 4
    rows = [f'<tr><td align="left" colspan="{per_row}"><b>{html(title)}</b></td></tr>'] if title else []
    rows.append(f'<tr><td align="left" colspan="{per_row}"><i>legend</i></td></tr>')
    rows += [f"<tr>{''.join(entries[i:i + per_row])}</tr>" for i in range(0, len(entries), per_row)]
    if style.show_grads:
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


def _assemble(picture: _Picture, style: _Style, classes: dict[str, str], rankdir: str,
              collapsed: bool) -> graphviz.Digraph:
    """Turn the picture into a Digraph: one cluster per module scope, nested by prefix,
    built deepest first so each finished cluster is copied into its parent."""
    graph = graphviz.Digraph(name="minigrad")
    graph.attr(rankdir=rankdir, fontname="Helvetica", fontsize="11")
    graph.attr("node", fontname="Helvetica", fontsize="10", style="filled", margin="0.06,0.03", height="0.3")
    graph.attr("edge", arrowsize="0.6", color="#555555")
    graph.attr(label=_legend(style, collapsed, classes.get("")), labelloc="t", labeljust="l")
    scopes = {a for scope in picture.nodes for a in _ancestors(scope)}
    clusters = {"": graph}
    for n, scope in enumerate(sorted(scopes)):
        cluster = graphviz.Digraph(name=f"cluster_{n}")
        level = scope.count(".")
        cls = classes.get(scope)
        label = f"<b>{html(scope)}</b>" + (f" <i>{html(cls)}</i>" if cls else "")
        cluster.attr(label=f"<{label}>", labeljust="l", style="rounded,filled", color="#8a9bb0",
                     fillcolor=CLUSTER_FILLS[min(level, len(CLUSTER_FILLS) - 1)])
        clusters[scope] = cluster
    for scope, nodes in picture.nodes.items():
        target = clusters[scope]
        for name, attrs in nodes:
            target.body.append(_node_line(name, attrs))
    for scope in sorted(scopes, key=lambda s: s.count("."), reverse=True):
        clusters[_parent_scope(scope)].subgraph(clusters[scope])
    for tail, head in picture.edges:
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

    The format is the path's suffix (`g.png` is a PNG); `format` is needed only for a path
    without a suffix, which then gets `.{format}` (svg when neither is given). A suffix that
    is not a known format, or that contradicts `format`, is a ValueError rather than a file
    whose name lies about its contents. Written with `minigrad.atomic.atomic_write`.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"render: format must be one of {', '.join(FORMATS)}, got {format!r}")
    path = Path(path)
    suffix = path.suffix[1:].lower()
    if suffix and suffix not in FORMATS:
        raise ValueError(f"render: cannot write {path}: .{suffix} is not one of the formats "
                         f"{', '.join(FORMATS)}")
    if suffix and format is not None and suffix != format:
        raise ValueError(f"render: {path} has the suffix .{suffix} but format is {format!r}")
    format = suffix or format or "svg"
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


__all__ = ["draw_graph", "render", "GraphvizNotFoundError", "grad_norm", "grad_colour"]
