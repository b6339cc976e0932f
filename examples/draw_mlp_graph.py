"""Draw the computation graph of a two-layer MLP's loss, every tensor coloured by its gradient.

    python examples/draw_mlp_graph.py [OUT_DIR]       # writes OUT_DIR/mlp_graph.svg (docs/images)

Each Linear layer is one fused op (x @ W.T + b) inside a cluster named after the module; the
parameters carry their qualified names; after backward, every parameter's box is filled with
the colour of its gradient norm (the legend has the scale).
"""
import sys
from pathlib import Path

import numpy as np

import minigrad
from minigrad import functional as F
from minigrad import nn
from minigrad.viz import draw_graph, render

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py


class MLP(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images")
minigrad.manual_seed(0)
model = MLP(4, 16, 3)
x = minigrad.randn(32, 4)                      # a batch of 32 points
labels = np.arange(32) % 3                     # and their classes
loss = F.cross_entropy(model(x), labels)
loss.backward()

graph = draw_graph(loss, model, show_grads=True)
print(render(graph, out_dir / "mlp_graph.svg"))
