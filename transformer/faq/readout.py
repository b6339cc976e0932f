"""Where a model's attention goes: the weights of held-out sequences, and statistics of them.

The weights are read through `transformer.viz.model_attention`, the same read-out the
attention pictures and the explorer use (eval mode, no graph), one sequence at a time, so an
experiment measures exactly what a picture of the model would show:

    from transformer.faq.readout import attention_weights, attention_entropy, heatmaps
    w = attention_weights(model, ids)        # (N, h, T, T) for ids (N, T), first attention layer
    attention_entropy(w)                     # mean entropy of the rows, in nats
    heatmaps([("head 0", w[0, 0])], tokens, "figures/attention.svg", title="...")
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import minigrad
from minigrad.viz import GraphvizNotFoundError, render

from ..viz import heatmap_panels, model_attention


def attention_weights(model: minigrad.nn.Module, ids: np.ndarray, layer: int = 0) -> np.ndarray:
    """The softmax weights (N, h, T, T) of attention module `layer` (in `named_modules()`
    order) for each of the N sequences of `ids` (N, T)."""
    return np.stack([model_attention(model, row)[layer][1] for row in np.asarray(ids)])


def attention_entropy(weights: np.ndarray) -> float:
    """Mean over sequences, heads and queries of -sum_j w_j log w_j, for weights (..., T, S):
    log S for uniform attention, 0 for one-hot."""
    w = weights.astype(np.float64)
    return float(-(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=-1).mean())


def heatmaps(panels: Sequence[tuple[str, np.ndarray]], tokens: Sequence[str], path: Path, *, title: str,
             columns: int | None = None, scale_label: str = "attention weight") -> Path:
    """Draw (caption, (T, T) array with values in [0, 1]) panels with `transformer.viz`'s
    heatmap renderer (token labels on both axes, the value in each cell, a colour scale) and
    write them as SVG. Without Graphviz's `dot` program the DOT source is written instead
    (`path` with the suffix .dot), and a line on stderr says so; the path written is returned."""
    graph = heatmap_panels(panels, tokens, columns=columns, title=title, scale_label=scale_label)
    try:
        return render(graph, Path(path).with_suffix(".svg"))
    except GraphvizNotFoundError:
        print(f"  Graphviz's dot is not installed: wrote the DOT source of {Path(path).name} instead",
              file=sys.stderr)
        return render(graph, Path(path).with_suffix(".dot"))
