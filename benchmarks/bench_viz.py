"""Time `minigrad.viz.draw_graph` on graphs of about 10,000 recorded ops.

    python benchmarks/bench_viz.py            # the table below
    python benchmarks/bench_viz.py --ops 50000

Two graphs: a flat chain (no modules), and the same number of ops spread over 50 nested
modules ("blocks.i.a", "blocks.i.b"), each with its own parameter, drawn in full and at depth 1
and 2. "build" is `draw_graph` (walk + Digraph); "source" is producing the DOT text from it.
Laying the graph out with `dot` is not timed: for thousands of nodes that takes minutes, which
is why depth collapsing exists.
"""
from __future__ import annotations

import argparse
import re

from _common import header, table, tune_allocator_if_chosen

import minigrad
from minigrad.autograd import module_scope, topological_order
from minigrad.viz import draw_graph
from transformer.faq.stats import median_time

NODE = re.compile(r"\s*(op|t|leaf|mod)\d+ \[")  # the graph's own nodes, not the legend's


def chain(n_ops: int) -> minigrad.Tensor:
    """x -> tanh -> *w -> tanh -> *w ...: n_ops ops, one leaf parameter."""
    w = minigrad.ones(4, requires_grad=True)
    y = minigrad.ones(4)
    for _ in range(n_ops // 2):
        y = (y * w).tanh()
    return y


def modules(n_ops: int, n_blocks: int = 50) -> minigrad.Tensor:
    """The same chain, each block's ops split over two nested modules, a parameter per module."""
    per_module = n_ops // (2 * n_blocks)
    y = minigrad.ones(4)
    for i in range(n_blocks):
        for part in "ab":
            name = f"blocks.{i}.{part}"
            w = minigrad.ones(4, requires_grad=True)
            w.name = f"{name}.weight"
            with module_scope(name):
                for _ in range(per_module // 2):
                    y = (y * w).tanh()
    return y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000, help="recorded ops per graph (default 10000)")
    args = parser.parse_args()
    tune_allocator_if_chosen()
    print(header("draw_graph: building the Digraph of a large graph"))
    rows = []
    for graph_name, make in (("chain", chain), ("50 blocks", modules)):
        out = make(args.ops)
        n_ops = len(topological_order(out.grad_fn))
        for depth in (None, 2, 1) if graph_name != "chain" else (None,):
            build = median_time(lambda out=out, depth=depth: draw_graph(out, depth=depth), repeats=5,
                                min_time=0.0)
            graph = draw_graph(out, depth=depth)
            source = median_time(lambda graph=graph: graph.source, repeats=5, min_time=0.0)
            nodes = sum(1 for line in graph.source.splitlines() if NODE.match(line))
            rows.append([graph_name, str(depth), f"{n_ops:,}", f"{nodes:,}",
                         f"{build * 1e3:.0f}", f"{source * 1e3:.0f}"])
    walk = median_time(lambda: topological_order(out.grad_fn), repeats=5, min_time=0.0)
    print(table(rows, ["graph", "depth", "ops", "DOT nodes", "build ms", "source ms"]))
    print(f"# of which the topological walk alone: {walk * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
