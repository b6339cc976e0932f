"""Draw L = (a * b + c)^2 with the value and the gradient of every tensor written on it.

    python examples/draw_backprop.py [OUT_DIR]     # writes OUT_DIR/backprop_by_hand.svg (docs/images)

The expression the tutorial differentiates by hand in its first chapter: a = 2, b = -3,
c = 10, so e = a * b = -6, d = e + c = 4 and L = d * d = 16. Each intermediate calls
`retain_grad()`, so that after `backward()` the drawing can show its gradient as well as the
leaves'; `d` feeds the last Mul twice, and its gradient is the sum over both uses.
"""
import sys
from pathlib import Path

import numpy as np

import minigrad
from minigrad.viz import draw_graph, render

a = minigrad.tensor(2.0, dtype=np.float64, requires_grad=True)
b = minigrad.tensor(-3.0, dtype=np.float64, requires_grad=True)
c = minigrad.tensor(10.0, dtype=np.float64, requires_grad=True)
e = a * b
d = e + c
L = d * d
for t in (e, d, L):
    t.retain_grad()  # keep the gradient of a tensor that is not a leaf
L.backward()

names = {"a": a, "b": b, "c": c, "e = a * b": e, "d = e + c": d, "L = d * d": L}
graph = draw_graph(L, names, show_grads=True, show_shapes=False, rankdir="LR")
out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images")
print("wrote", render(graph, out_dir / "backprop_by_hand.svg"))
