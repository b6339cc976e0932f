"""Interactive explorers as one offline HTML file: attention (head, model and matrix views) and
a computation graph with pan, zoom, tooltips and modules that open.

A page is assembled from the files in `transformer/assets/`: one HTML template, one style sheet
and one script per explorer, inlined, plus the data as JSON in a `<script type="application/json">`
element. Nothing is loaded from anywhere when the page opens, and its Content-Security-Policy
forbids the browser to try: every script, style and picture is inside the file, so it works
offline, from a mail attachment, or inside a notebook (`_repr_html_` wraps it in an iframe).

Attention weights travel exactly: each layer's (heads, queries, keys) array as little-endian
float32 bytes in base64 (4 bytes and a third per weight, against ~20 characters as JSON text),
decoded by the page's script. The data model has several *kinds* of attention (a decoder-only
model has one, self-attention; an encoder-decoder has encoder, decoder and cross attention),
each with its own query and key tokens, so a matrix may be rectangular (T, S).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.atomic import write_bytes

ASSETS = "assets"


@dataclass
class AttentionKind:
    """One kind of attention in a model: its label ("self-attention", "cross-attention", ...),
    the tokens of its queries (rows) and keys (columns), and its layers in the order they ran,
    each (module name, weights (heads, len(queries), len(keys)))."""

    label: str
    query_tokens: list[str]
    key_tokens: list[str]
    layers: list[tuple[str, np.ndarray]]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError(f"AttentionKind {self.label!r}: no layers")
        expected = (len(self.query_tokens), len(self.key_tokens))
        heads = self.layers[0][1].shape[0] if self.layers[0][1].ndim == 3 else None
        for name, weights in self.layers:
            if weights.ndim != 3 or weights.shape[1:] != expected or weights.shape[0] != heads:
                raise ValueError(
                    f"AttentionKind {self.label!r}: {name} has weights of shape {weights.shape}, expected "
                    f"(heads, queries, keys) = ({heads}, {expected[0]}, {expected[1]}) like its first layer"
                )


def encode_weights(weights: np.ndarray) -> str:
    """An array as base64 of its little-endian float32 bytes, in C order (what the page decodes)."""
    return base64.b64encode(np.ascontiguousarray(weights, dtype="<f4").tobytes()).decode("ascii")


def decode_weights(text: str, shape: Sequence[int]) -> np.ndarray:
    """The inverse of `encode_weights`: a float32 array of `shape`."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(shape).astype(np.float32)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(ASSETS, name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    """JSON that is safe inside a <script> element: every "<" escaped, so no "</script>" or
    "<!--" in a token can end the element early."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def build_page(title: str, body: str, script: str, data: Any) -> str:
    """The whole HTML page: the template with title, style, body, data and script filled in.
    Placeholders are replaced in one pass, so text inside the data is never read as one."""
    parts = {
        "title": html.escape(title),
        "style": _asset("explorer.css"),
        "body": body,
        "data": _json_for_script(data),
        "script": script,
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], _asset("page.html"))


def embedded_data(page: str) -> Any:
    """The data a page built by `build_page` carries (what its script reads)."""
    match = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page, re.S)
    if match is None:
        raise ValueError("embedded_data: this page holds no explorer data")
    return json.loads(match.group(1))


def iframe(page: str, height: int) -> str:
    """The page inside an iframe (its HTML in `srcdoc`), so that in a notebook its style and
    script stay apart from the notebook's own."""
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width: 100%; height: {height}px; '
        'border: 1px solid #ddd;" title="minigrad explorer"></iframe>'
    )


class _Page:
    """What both explorers share: the page text, saving it, and showing it in Jupyter."""

    height = 720  # pixels of the iframe in a notebook

    def to_html(self) -> str:
        raise NotImplementedError

    def save(self, path: str | PathLike) -> Path:
        """Write the page to `path` (atomically) and return the path. Open it in any browser."""
        path = Path(path)
        write_bytes(path, self.to_html().encode("utf-8"))
        return path

    def _repr_html_(self) -> str:
        return iframe(self.to_html(), self.height)


class AttentionExplorer(_Page):
    """The attention of one input as an interactive page.

    Head view: queries and keys as two columns of tokens joined by lines as opaque as the
    weight, one colour per head (toggled by the head buttons); hovering a token keeps only its
    lines. Model view: every layer x head as a thumbnail heatmap; a click opens that head large.
    Matrix view: one head's weights as a heatmap, the value of a cell on hover. With several
    kinds of attention (an encoder-decoder) a selector picks encoder, decoder or cross attention.
    """

    VIEWS = ("head", "model", "matrix")

    def __init__(
        self,
        kinds: Sequence[AttentionKind],
        title: str = "attention",
        *,
        view: str = "head",
        layer: int = 0,
        head: int = 0,
        threshold: float = 0.02,
    ) -> None:
        """`view`, `layer` (of the first kind), `head` (of the matrix view) and `threshold`
        (no line for a weight at or below it, in the head view) are how the page opens; its
        controls change them."""
        if not kinds:
            raise ValueError("AttentionExplorer: no kind of attention to show")
        if view not in self.VIEWS:
            raise ValueError(f"AttentionExplorer: view must be one of {', '.join(self.VIEWS)}, got {view!r}")
        layers, heads = len(kinds[0].layers), kinds[0].layers[0][1].shape[0]
        if not isinstance(layer, (int, np.integer)) or not -layers <= layer < layers:
            raise IndexError(f"AttentionExplorer: layer {layer!r} is out of range for {layers} layers")
        if not isinstance(head, (int, np.integer)) or not -heads <= head < heads:
            raise IndexError(f"AttentionExplorer: head {head!r} is out of range for {heads} heads")
        if not (isinstance(threshold, (int, float)) and 0 <= threshold <= 1):
            raise ValueError(f"AttentionExplorer: threshold must be a number in [0, 1], got {threshold!r}")
        self.kinds = list(kinds)
        self.title = title
        self.start = {
            "view": view,
            "layer": int(layer) % layers,
            "head": int(head) % heads,
            "threshold": float(threshold),
        }

    @property
    def data(self) -> dict[str, Any]:
        """What the page's script reads: the title, the state it opens in and, per kind, its
        tokens and its layers' weights (shape and base64 float32 bytes)."""
        return {
            "title": self.title,
            "start": self.start,
            "kinds": [
                {
                    "label": kind.label,
                    "queries": list(kind.query_tokens),
                    "keys": list(kind.key_tokens),
                    "layers": [
                        {"name": name, "shape": list(w.shape), "weights": encode_weights(w)}
                        for name, w in kind.layers
                    ],
                }
                for kind in self.kinds
            ],
        }

    def to_html(self) -> str:
        return build_page(self.title, _asset("attention.html"), _asset("attention.js"), self.data)


@dataclass
class GraphPage:
    """One pre-rendered graph: `name` (the module it shows, "" for the whole model), a title,
    the Graphviz SVG, and per DOT node id its tooltip lines; `opens` maps the id of a collapsed
    module's box to the name of the page that shows that module."""

    name: str
    title: str
    svg: str
    tooltips: dict[str, list[str]]
    opens: dict[str, str]


class GraphExplorer(_Page):
    """A computation graph as an interactive page: the SVG with pan (drag) and zoom (wheel,
    buttons), a tooltip on every node, and a click on a collapsed module opening its own graph,
    pre-rendered one depth further; the path back is a row of breadcrumbs."""

    def __init__(self, pages: Sequence[GraphPage], title: str = "graph") -> None:
        if not pages:
            raise ValueError("GraphExplorer: no page to show")
        names = [page.name for page in pages]
        for page in pages:
            for node, target in page.opens.items():
                if target not in names:
                    raise ValueError(
                        f"GraphExplorer: page {page.name!r} node {node} opens {target!r}, which is not a page"
                    )
        self.pages = list(pages)
        self.title = title

    @property
    def data(self) -> dict[str, Any]:
        """What the page's script reads: the title and the pages, the first shown first."""
        return {
            "title": self.title,
            "pages": [
                {"name": p.name, "title": p.title, "svg": p.svg, "tooltips": p.tooltips, "opens": p.opens}
                for p in self.pages
            ],
        }

    def to_html(self) -> str:
        return build_page(self.title, _asset("graph.html"), _asset("graph.js"), self.data)


__all__ = [
    "GraphExplorer",
    "GraphPage",
    "AttentionExplorer",
    "AttentionKind",
    "build_page",
    "embedded_data",
    "encode_weights",
    "decode_weights",
]
