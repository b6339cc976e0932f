"""A tiny SVG writer for the FAQ figures: line charts and grids of heatmaps, nothing else.

The experiments must run with numpy alone, so their pictures are plain SVG text built here
(GitHub renders it inline in Markdown). A chart maps data to pixels with one affine map per axis,
in log space for a log axis; ticks are "nice" numbers (1, 2, 5 x 10^k) or powers of the log base.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from minigrad.atomic import write_bytes

BAND_NOTE = "shaded: min to max over seeds"
# Colour-blind-safe palette (Okabe-Ito), one colour per series in order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


@dataclass
class Series:
    """One line of a chart: y against x, drawn with markers when there are few points, and
    optionally a shaded band from `band[0]` to `band[1]` at the same xs (e.g. min and max over
    seeds)."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    dashed: bool = False
    band: tuple[Sequence[float], Sequence[float]] | None = None

    @classmethod
    def over_seeds(cls, label: str, xs: Sequence[float], per_seed: Sequence[Sequence[float]],
                   dashed: bool = False) -> Series:
        """The mean over seeds as the line, their min to max as the band; `per_seed` holds one
        curve per seed, each measured at `xs`."""
        ys = np.asarray(per_seed, dtype=np.float64)  # (seeds, points)
        band = (ys.min(axis=0).tolist(), ys.max(axis=0).tolist()) if len(ys) > 1 else None
        return cls(label, list(xs), ys.mean(axis=0).tolist(), dashed, band)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round numbers (1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _log_ticks(lo: float, hi: float, base: int) -> list[float]:
    """Powers of `base` inside [lo, hi] (every other one when there are more than 8)."""
    k0, k1 = math.ceil(math.log(lo, base) - 1e-9), math.floor(math.log(hi, base) + 1e-9)
    ticks = [float(base) ** k for k in range(k0, k1 + 1)]
    return ticks[::2] if len(ticks) > 8 else ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:g}"


class _Axis:
    """Data value -> pixel along one axis, linear or logarithmic."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log_base: int | None) -> None:
        self.log_base = log_base
        if log_base:
            lo, hi = math.log(lo, log_base), math.log(hi, log_base)
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def __call__(self, v: float) -> float:
        if self.log_base:
            v = math.log(v, self.log_base)
        return self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    log_x: int | None = None,
    log_y: int | None = None,
    width: int = 560,
    height: int = 360,
) -> str:
    """An SVG line chart of several series sharing one pair of axes; `log_x`/`log_y` give the
    base of a logarithmic axis (values must then be positive). Non-finite points are skipped.
    Bands are drawn under the lines, and the legend says what they span.
    `width` is that of a chart whose legend is 150 px wide; longer labels widen the picture."""
    left, top, bottom = 70, 40, 50
    banded = any(s.band is not None for s in series)
    labels = [s.label for s in series] + ([BAND_NOTE] if banded else [])
    right = 50 + 7 * max(len(label) for label in labels)  # room for the legend (about 7 px per character)
    width = max(width + right - 150, round(8.5 * len(title)) + 20)  # and room for the title
    curves = [(s.xs, s.ys) for s in series] + [(s.xs, b) for s in series if s.band for b in s.band]
    points = [(x, y) for xs, ys in curves for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    if log_x:
        points = [(x, y) for x, y in points if x > 0]
    if log_y:
        points = [(x, y) for x, y in points if y > 0]
    if not points:
        raise ValueError(f"line_chart {title!r}: no finite points to draw")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    xlo, xhi, ylo, yhi = min(xs), max(xs), min(ys), max(ys)
    if not log_y:  # a little headroom, and keep 0 in view when the data are near it
        pad = 0.05 * (yhi - ylo or abs(yhi) or 1.0)
        ylo, yhi = ylo - pad, yhi + pad
        if ylo > 0 and ylo < 0.25 * yhi:
            ylo = 0.0
    xticks = _log_ticks(xlo, xhi, log_x) if log_x else _nice_ticks(xlo, xhi)
    yticks = _log_ticks(ylo, yhi, log_y) if log_y else _nice_ticks(ylo, yhi)
    if log_y and len(yticks) < 2:  # less than a decade: fall back to round numbers
        yticks = [t for t in _nice_ticks(ylo, yhi) if t > 0]
    if not log_x:
        xlo, xhi = min(xlo, xticks[0]), max(xhi, xticks[-1])
    if not log_y:
        ylo, yhi = min(ylo, yticks[0]), max(yhi, yticks[-1])
    ax = _Axis(xlo, xhi, left, width - right, log_x)
    ay = _Axis(ylo, yhi, height - bottom, top, log_y)

    out = [_header(width, height), _text(width / 2, 22, title, size=15, anchor="middle", bold=True)]
    out.append(f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
               'fill="none" stroke="#444"/>')
    for t in xticks:
        px = ax(t)
        if left - 0.5 <= px <= width - right + 0.5:
            out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{height - bottom}" stroke="#ddd"/>')
            out.append(_text(px, height - bottom + 16, _fmt(t), anchor="middle"))
    for t in yticks:
        py = ay(t)
        if top - 0.5 <= py <= height - bottom + 0.5:
            out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{width - right}" y2="{py:.1f}" stroke="#ddd"/>')
            out.append(_text(left - 6, py + 4, _fmt(t), anchor="end"))
    out.append(_text((left + width - right) / 2, height - 12, xlabel, anchor="middle"))
    out.append(_text(16, (top + height - bottom) / 2, ylabel, anchor="middle", rotate=True))

    def drawable(x: float, y: float) -> bool:
        return math.isfinite(x) and math.isfinite(y) and (not log_x or x > 0) and (not log_y or y > 0)

    for i, s in enumerate(series):  # bands first, so that every line stays visible above them
        if s.band is not None:
            lower = [(ax(x), ay(y)) for x, y in zip(s.xs, s.band[0]) if drawable(x, y)]
            upper = [(ax(x), ay(y)) for x, y in zip(s.xs, s.band[1]) if drawable(x, y)]
            outline = " ".join(f"{px:.1f},{py:.1f}" for px, py in lower + upper[::-1])
            out.append(f'<polygon points="{outline}" fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.18" '
                       'stroke="none"/>')
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(ax(x), ay(y)) for x, y in zip(s.xs, s.ys) if drawable(x, y)]
        dash = ' stroke-dasharray="6,4"' if s.dashed else ""
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if len(pts) <= 20:
            out.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in pts)
        ly = top + 10 + 20 * i  # legend entry
        out.append(f'<line x1="{width - right + 10}" y1="{ly}" x2="{width - right + 34}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(_text(width - right + 38, ly + 4, s.label))
    if banded:
        ly = top + 10 + 20 * len(series)
        out.append(f'<rect x="{width - right + 10}" y="{ly - 6}" width="24" height="12" fill="#888" '
                   'fill-opacity="0.3"/>')
        out.append(_text(width - right + 38, ly + 4, BAND_NOTE))
    out.append("</svg>")
    return "\n".join(out)


def heatmap_grid(
    maps: Sequence[tuple[str, np.ndarray]],
    *,
    title: str,
    xlabel: str = "key position",
    ylabel: str = "query position",
    cell: int = 14,
    cols: int | None = None,
) -> str:
    """Several 2-D arrays with values in [0, 1] (e.g. attention weights, rows = queries) side by
    side as white-to-blue squares, each with its own caption."""
    cols = cols or len(maps)
    rows_n = math.ceil(len(maps) / cols)
    h, w = maps[0][1].shape
    gap, top, side = 30, 46, 34
    panel_w, panel_h = w * cell, h * cell
    width = side + cols * (panel_w + gap)
    height = top + rows_n * (panel_h + gap + 18) + 10
    out = [_header(width, height), _text(width / 2, 22, title, size=15, anchor="middle", bold=True)]
    for k, (caption, grid) in enumerate(maps):
        x0 = side + (k % cols) * (panel_w + gap)
        y0 = top + (k // cols) * (panel_h + gap + 18) + 14
        out.append(_text(x0 + panel_w / 2, y0 - 6, caption, anchor="middle"))
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = float(np.clip(grid[i, j], 0.0, 1.0))
                r, g, b = (int(255 - v * (255 - c)) for c in (8, 48, 107))  # white -> dark blue
                out.append(f'<rect x="{x0 + j * cell}" y="{y0 + i * cell}" width="{cell}" height="{cell}" '
                           f'fill="rgb({r},{g},{b})"/>')
        out.append(f'<rect x="{x0}" y="{y0}" width="{panel_w}" height="{panel_h}" '
                   'fill="none" stroke="#444"/>')
        out.append(_text(x0 + panel_w / 2, y0 + panel_h + 14, xlabel, size=10, anchor="middle"))
        if k % cols == 0:
            out.append(_text(side - 12, y0 + panel_h / 2, ylabel, size=10, anchor="middle", rotate=True))
    out.append("</svg>")
    return "\n".join(out)


def save(svg: str, path: Path) -> Path:
    """Write the SVG text atomically, creating the directory; returns the path."""
    path = Path(path)
    write_bytes(path, (svg + "\n").encode("utf-8"))
    return path


QUICK_NOTE = "quick settings: a smoke test, not the documented result"


def mark_quick(path: Path) -> None:
    """Write QUICK_NOTE in red across the bottom of an SVG chart of a quick run."""
    svg = Path(path).read_text(encoding="utf-8")
    height = re.search(r'height="([0-9.]+)"', svg)
    y = float(height.group(1)) - 4 if height else 12
    note = (f'<text x="6" y="{y:g}" font-family="sans-serif" font-size="11" fill="#c00000">'
            f'{escape(QUICK_NOTE)}</text>\n</svg>')
    marked = svg.replace("</svg>", note, 1) if "</svg>" in svg else svg
    write_bytes(path, marked.encode("utf-8"))


def _header(width: float, height: float) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}">\n<rect width="100%" height="100%" fill="white"/>')


def _text(x: float, y: float, s: str, *, size: int = 12, anchor: str = "start",
          bold: bool = False, rotate: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT}'
            f'{weight}{turn}>{escape(s)}</text>')
