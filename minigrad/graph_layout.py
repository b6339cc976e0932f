"""What a drawing of the graph behind a tensor shows, as plain data: the layout step of
`viz.draw_graph`, kept apart from emitting DOT so it can be read, tested and reused (by another
emitter) without parsing any picture.

The picture is bipartite, like the graph itself: op nodes (one per recorded `Function`)
alternate with tensor nodes. Edges point the way the forward pass ran; backward walks them in
reverse. Leaves are real Tensors; a tensor between two ops is described by its producer's
`out_shape` and `out_dtype`, because the graph keeps no reference to it.

Every op remembers the module scope it ran in (`node.scope`, e.g. "blocks.0.attn"), so modules
become nested clusters by qualified-name prefix: "blocks" holds "blocks.0", which holds
"blocks.0.attn". With `depth=k` each module whose name has k parts becomes one box.

Where a drawn thing lives (its *home* scope):
    op                     the scope it ran in
    op output              its producer's scope (the final output: top level)
    parameter              the module that owns it ("a.b.weight" -> "a.b")
    one-element constant   the innermost module holding all the ops that use it
    any other leaf         the top level: data that came from outside
    described input        the top level (see below)
Anything whose home lies inside a collapsed module is absorbed into that module's box.

Some inputs reach an op as plain arrays rather than Tensors: the ids of an embedding, the
targets of a cross-entropy, an attention mask. An op names them in `described_inputs()`
("ids", "targets", "causal mask", ...), and each becomes an input node at the top level with an
edge into its op, or into the box that absorbed the op, so every depth shows what the model
read. Arrays with the same label and the same contents are one node (each block of a model
builds the same causal mask). A model can name what one of its modules reads
(`input_names={"pos_emb": "positions"}`: the ids a position table looks up are positions).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .autograd import Function, topological_order
from .tensor import Tensor

Shape = tuple[int, ...]


@dataclass(frozen=True)
class OpNode:
    """One recorded op: its class name, the scope it ran in, and the shapes it saw."""

    id: str
    op: str
    scope: str
    input_shapes: tuple[Shape, ...]
    out_shape: Shape


@dataclass(frozen=True)
class TensorNode:
    """A tensor. kind: "parameter", "input" (no grad), "leaf" (requires grad, not a
    parameter), "output" (the drawn tensor) or "tensor" (between two ops). `name` is a
    parameter's qualified name or a described input's label. `value` is set for a one-element
    tensor the graph still holds: a leaf, the output, or an intermediate kept by
    `retain_grad()`; `values` for a described integer input of at most MAX_VALUES elements
    (ids, targets). `grad_norm` is set when gradients are shown and there is one, and
    `grad_value`, the gradient itself with its sign, when that tensor has one element."""

    id: str
    kind: str
    shape: Shape
    dtype: str
    name: str | None = None
    value: float | None = None
    grad_norm: float | None = None
    grad_value: float | None = None
    values: tuple[int, ...] | None = None


MAX_VALUES = 16  # a described integer input this small shows its values


@dataclass(frozen=True)
class ModuleBox:
    """A collapsed module: its qualified name and class, its parameter count, and the shapes
    crossing its boundary (one per distinct tensor going in, one per output coming out). With
    show_grads, `grad_norm` is the norm of all its parameters' gradients taken together (what
    clip_grad_norm_ would see for this module), None when none of them has a gradient."""

    id: str
    name: str
    cls: str | None
    parameters: int
    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    grad_norm: float | None = None


Node = OpNode | TensorNode | ModuleBox


@dataclass
class GraphLayout:
    """Nodes by home scope ("" is the top level), edges (tail id, head id) in drawing order,
    module class names by qualified name ("" is the root model's), and what was asked for."""

    nodes: dict[str, list[Node]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)
    show_shapes: bool = True
    show_grads: bool = False

    @property
    def boxes(self) -> list[ModuleBox]:
        return [n for nodes in self.nodes.values() for n in nodes if isinstance(n, ModuleBox)]

    def scopes(self) -> list[str]:
        """Every scope that needs a cluster (homes of nodes and their ancestors), sorted."""
        return sorted({a for scope, nodes in self.nodes.items() if nodes for a in ancestors(scope)})

    def home(self) -> dict[str, str]:
        """Node id -> the scope it is drawn in."""
        return {n.id: scope for scope, nodes in self.nodes.items() for n in nodes}

    def by_id(self) -> dict[str, Node]:
        return {n.id: n for nodes in self.nodes.values() for n in nodes}


def parent_scope(scope: str) -> str:
    return scope.rpartition(".")[0]


def ancestors(scope: str) -> list[str]:
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


def grad_norm(grad: Any) -> float:
    """The Euclidean norm of a gradient, accumulated in float64 so float32 cannot overflow."""
    g = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
    return float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))


def _tensor_of(source: Any) -> Tensor | None:
    """A leaf or output Tensor itself, or the output of an op (`source` is then its Function
    node) when it called `retain_grad()` and is still alive; None otherwise."""
    if isinstance(source, Function):
        retained = source.__dict__.get("retained")
        source = retained() if retained is not None else None
    return source if isinstance(source, Tensor) else None


def _grad_of(source: Any) -> Any:
    """The gradient of what `_tensor_of(source)` finds, or None."""
    tensor = _tensor_of(source)
    return None if tensor is None else tensor.grad


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


def _checked_input_names(input_names: Any) -> dict[str, str]:
    if input_names is None:
        return {}
    if not isinstance(input_names, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in input_names.items()):
        raise TypeError("draw_graph: input_names must map module names to labels (str -> str), got "
                        f"{input_names!r}")
    return dict(input_names)


def _input_label(scope: str, label: str, input_names: dict[str, str]) -> str:
    """The label of an input described by an op in `scope`: the op's own, unless the innermost
    module around it that `input_names` names gives another."""
    named = [module for module in input_names if _inside(scope, module)]
    return input_names[max(named, key=len)] if named else label


def layout_graph(output: Tensor, params: Any = None, *, depth: int | None = None,
                 show_shapes: bool = True, show_grads: bool = False,
                 input_names: Mapping[str, str] | None = None) -> GraphLayout:
    """What `viz.draw_graph` draws for `output`, as a `GraphLayout` (same arguments, see
    there). Node ids: op k (in reverse topological order from the output) is "op{k}", its output
    "t{k}", leaf j "leaf{j}", described input j "in{j}", collapsed module j "mod{j}"."""
    if not isinstance(output, Tensor):
        raise TypeError(f"draw_graph: expected the Tensor to draw, got {type(output).__name__}")
    if depth is not None and (not isinstance(depth, int) or depth < 1):
        raise ValueError("draw_graph: depth must be a positive int (1 = the model's children) or None, "
                         f"got {depth!r}")
    names, param_sizes, classes = _names_and_classes(params)
    input_names = _checked_input_names(input_names)
    layout = GraphLayout(classes=classes, show_shapes=show_shapes, show_grads=show_grads)

    def add(scope: str, node: Node) -> None:
        layout.nodes.setdefault(scope, []).append(node)

    def tensor_node(node_id: str, kind: str, shape: Shape, dtype: Any, source: Any,
                    name: str | None) -> TensorNode:
        tensor = _tensor_of(source)
        if name is None and tensor is not None:  # an output or a retained intermediate may be named too
            name = names.get(id(tensor))
        one = tensor is not None and tensor.data.size == 1
        value = float(tensor.data.item()) if one else None
        grad = tensor.grad if show_grads and tensor is not None else None
        if grad is None:
            return TensorNode(node_id, kind, tuple(shape), str(dtype), name, value)
        return TensorNode(node_id, kind, tuple(shape), str(dtype), name, value, grad_norm=grad_norm(grad),
                          grad_value=float(np.asarray(grad.data).item()) if one else None)

    if output.grad_fn is None:
        add("", tensor_node("out", "output", output.shape, output.dtype, output, names.get(id(output))))
        return layout

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

    edge_set: set[tuple[str, str]] = set()

    def edge(tail: str, head: str, unique: bool = False) -> None:
        """`unique` drops a repeat (several ops of one collapsed module reading the same tensor
        give one edge), while x * x keeps both of its edges."""
        if unique:
            if (tail, head) in edge_set:
                return
            edge_set.add((tail, head))
        layout.edges.append((tail, head))

    op_group = [group_of(node.scope) for node in order]
    leaf_ids: dict[int, str] = {}
    param_grad_squares: dict[str, float] = {}
    for j, (key, leaf) in enumerate(leaves.items()):
        name = names.get(key)
        if name:
            kind, home = "parameter", parent_scope(name)
            param_sizes.setdefault(name, leaf.data.size)
            if show_grads and leaf.grad is not None:
                param_grad_squares.setdefault(name, grad_norm(leaf.grad) ** 2)
        elif leaf.requires_grad or leaf.data.size > 1:  # data from outside: drawn at the top
            kind, home = ("leaf" if leaf.requires_grad else "input"), ""
        else:  # a constant such as the 2.0 of `x * 2.0`: beside the ops that use it
            kind, home = "input", _common_scope(leaf_consumers[key])
        group = group_of(home)
        leaf_ids[key] = f"leaf{j}" if group is None else box(group)
        if group is None:
            add(home, tensor_node(f"leaf{j}", kind, leaf.shape, leaf.dtype, leaf, name))

    # Where op k is drawn (its node, or its module's box) and whether its output gets a node:
    # always outside collapsed modules when shapes are shown, and for a module's outputs.
    node_id = [f"op{k}" if g is None else box(g) for k, g in enumerate(op_group)]
    crosses = [k == 0 or any(group_of(s) != op_group[k] for s in consumers[k]) for k in range(len(order))]
    has_tensor = [(op_group[k] is None or crosses[k])
                  and (show_shapes or k == 0 or (show_grads and _grad_of(order[k]) is not None))
                  for k in range(len(order))]
    out_id = [f"t{k}" if has_tensor[k] else node_id[k] for k in range(len(order))]
    described: dict[tuple[Any, ...], str] = {}  # (label, shape, dtype, contents) -> node id

    def described_id(label: str, array: np.ndarray) -> str:
        """The node of a described input, added at the top level the first time it is met."""
        array = np.asarray(array)
        key = (label, array.shape, array.dtype.str, array.tobytes())
        if key not in described:
            described[key] = f"in{len(described)}"
            small = array.dtype.kind in "iu" and array.size <= MAX_VALUES
            add("", TensorNode(described[key], "input", tuple(array.shape), str(array.dtype), label,
                               values=tuple(int(v) for v in array.reshape(-1)) if small else None))
        return described[key]

    for k, node in enumerate(order):
        group = op_group[k]
        if group is None:
            add(node.scope, OpNode(node_id[k], type(node).__name__, node.scope,
                                   tuple(tuple(s) for s in node.input_shapes), tuple(node.out_shape)))
        elif crosses[k]:
            groups[group]["out"][k] = tuple(node.out_shape)
        if has_tensor[k]:
            home = "" if k == 0 else (node.scope if group is None else parent_scope(group))
            kind, source = ("output", output) if k == 0 else ("tensor", node)
            add(home, tensor_node(out_id[k], kind, node.out_shape, node.out_dtype, source, None))
            edge(node_id[k], out_id[k], unique=group is not None)
        for i, parent in enumerate(node.parents):
            if parent is None:
                continue
            if isinstance(parent, Function):
                p = index[id(parent)]
                if group is not None and op_group[p] == group:  # inside one box: not drawn
                    continue
                source_id = out_id[p]
            else:
                source_id = leaf_ids[id(parent)]
            if source_id == node_id[k]:  # a leaf absorbed into this op's box
                continue
            if group is not None:
                groups[group]["in"].setdefault(source_id, tuple(node.input_shapes[i]))
            edge(source_id, node_id[k], unique=group is not None or source_id.startswith("mod"))
        for label, array in node.described_inputs():
            source_id = described_id(_input_label(node.scope, label, input_names), array)
            if group is not None:
                groups[group]["in"].setdefault(source_id, tuple(np.shape(array)))
            edge(source_id, node_id[k], unique=True)

    for name, info in groups.items():
        count = sum(n for p, n in param_sizes.items() if _inside(parent_scope(p), name))
        squares = [s for p, s in param_grad_squares.items() if _inside(parent_scope(p), name)]
        norm = float(np.sqrt(sum(squares))) if squares else None
        inputs = sorted(info["in"].items(), key=lambda item: item[0].startswith("in"))  # tensors first
        add(parent_scope(name), ModuleBox(info["id"], name, classes.get(name), count,
                                          tuple(shape for _, shape in inputs), tuple(info["out"].values()),
                                          norm))
    return layout


__all__ = ["layout_graph", "GraphLayout", "OpNode", "TensorNode", "ModuleBox", "grad_norm", "MAX_VALUES"]
