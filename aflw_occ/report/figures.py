"""The report's plots as inline SVG (matplotlib, Agg): text stays text, ids are salted per figure, no date, so the
same inputs give the same bytes and a plot costs a few kilobytes instead of an embedded PNG."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "minify_svg",
    "Series",
    "Interval",
    "svg_text",
    "subplots",
    "figure_ced",
    "figure_intervals",
    "figure_fraction",
    "figure_faces",
]

#: the colours of models (and splits) in every plot, in order
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
#: the contours drawn between the 68 points of the face plot (0-based index ranges, closed or open)
FACE_LINES: tuple[tuple[int, int, bool], ...] = (
    (0, 17, False),
    (17, 22, False),
    (22, 27, False),
    (27, 31, False),
    (31, 36, False),
    (36, 42, True),
    (42, 48, True),
    (48, 60, True),
    (60, 68, True),
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def colours(labels: Sequence[str]) -> dict[str, str]:
    """One palette colour per distinct label, in order of first appearance (the same split keeps its colour in
    every panel of a figure)."""
    return {lab: PALETTE[j % len(PALETTE)] for j, lab in enumerate(dict.fromkeys(labels))}


def subplots(n: int, cols: int = 3, width: float = 3.6, height: float = 2.7) -> tuple[Any, list[Any]]:
    """A figure with ``n`` panels in rows of ``cols`` (unused cells hidden)."""
    plt = _pyplot()
    cols = max(1, min(cols, n))
    rows = math.ceil(max(1, n) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def svg_text(fig: Any, key: str) -> str:
    """The figure as an ``<svg>`` element for inline use (XML prolog dropped); closes the figure.

    ``key`` salts matplotlib's element ids, so two inline figures never share one."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": key, "font.size": 9}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    _pyplot().close(fig)
    text = buf.getvalue()
    text = minify_svg(text[text.index("<svg") :])
    return text.replace("<svg ", f'<svg role="img" aria-label="{key}" ', 1)


def _round(m: re.Match[str]) -> str:
    return f"{float(m.group(0)):.2f}".rstrip("0").rstrip(".")


def minify_svg(svg: str) -> str:
    """matplotlib's SVG without what the page does not need: metadata, the long font-family fallback lists (one
    ``sans-serif``), ids nothing references, null rotations, indentation; coordinates rounded to 0.01 pt."""
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"font-family: [^;\"]*", "font-family: sans-serif", svg)
    svg = re.sub(r'\s*transform="rotate\(-?0 [^)]*\)"', "", svg)
    svg = re.sub(r"-?\d+\.\d{3,}", _round, svg)
    referenced = set(re.findall(r'(?:url\(#|href="#)([^")]+)', svg))
    svg = re.sub(r' id="([^"]+)"', lambda m: m.group(0) if m.group(1) in referenced else "", svg)
    svg = re.sub(r">\s+<", "><", svg)
    return re.sub(r"\s*\n\s*", " ", svg)


@dataclass(frozen=True)
class Series:
    """A named curve: x, y (same length)."""

    label: str
    x: np.ndarray
    y: np.ndarray


def figure_ced(panels: Sequence[tuple[str, Sequence[Series]]], xlabel: str, title: str, key: str) -> str:
    """CED curves: per panel (e.g. a model) one curve per series (e.g. a split), one colour per label."""
    fig, axes = subplots(len(panels), cols=2, width=4.6, height=3.2)
    colour = colours([s.label for _, series in panels for s in series])
    for ax, (name, series) in zip(axes, panels, strict=True):
        for s in series:
            ax.plot(s.x, s.y, label=s.label, color=colour[s.label], lw=1.3)
        ax.set_xlim(float(series[0].x[0]) if series else 0, float(series[0].x[-1]) if series else 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of images")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    if panels:
        axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    return svg_text(fig, key)


@dataclass(frozen=True)
class Interval:
    """One estimate with its interval, in a group (a row of a forest plot) and a series (a colour)."""

    group: str
    series: str
    value: float
    low: float
    high: float
    n: int


def figure_intervals(
    panels: Sequence[tuple[str, Sequence[Interval]]], xlabel: str, title: str, key: str, cols: int = 2
) -> str:
    """Forest plots: per panel, one row per group, one marker per series with its interval, a line at 0."""
    fig, axes = subplots(len(panels), cols=cols, width=4.6, height=0.9)
    heights = [max(1, len({iv.group for iv in ivs})) for _, ivs in panels]
    rows = math.ceil(len(panels) / cols)
    fig.set_size_inches(4.6 * min(cols, len(panels)), 1.0 + 0.32 * max(heights, default=1) * rows)
    colour = colours([iv.series for _, ivs in panels for iv in ivs])
    for ax, (name, ivs) in zip(axes, panels, strict=True):
        groups = list(dict.fromkeys(iv.group for iv in ivs))
        series = list(dict.fromkeys(iv.series for iv in ivs))
        step = 0.7 / max(1, len(series))
        for j, s in enumerate(series):
            mine = [iv for iv in ivs if iv.series == s]
            y = np.array([groups.index(iv.group) for iv in mine], dtype=float) + (j - (len(series) - 1) / 2) * step
            v = np.array([iv.value for iv in mine])
            lo = np.array([iv.low for iv in mine])
            hi = np.array([iv.high for iv in mine])
            err = np.nan_to_num(np.array([v - lo, hi - v]), nan=0.0)
            ax.errorbar(v, y, xerr=err, fmt="o", ms=3.5, lw=1.1, capsize=2, color=colour[s], label=s)
        ax.axvline(0, color="#555", lw=0.8)
        ax.set_yticks(range(len(groups)), groups, fontsize=8)
        ax.set_ylim(len(groups) - 0.5, -0.5)
        ax.set_xlabel(xlabel)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    return svg_text(fig, key)


def figure_fraction(
    panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]], str]],
    xlabel: str,
    title: str,
    key: str,
) -> str:
    """Lines with interval bars: per panel (title, series, y label), per series (label, x, y, low, high) — e.g. the
    mean error or drop per covered-fraction bin of every split. NaN bounds draw no bar."""
    fig, axes = subplots(len(panels), cols=2, width=4.8, height=3.0)
    colour = colours([s[0] for _, series, _ in panels for s in series])
    for ax, (name, series, ylabel) in zip(axes, panels, strict=True):
        for label, x, y, lo, hi in series:
            err = np.nan_to_num(np.array([y - lo, hi - y]), nan=0.0)
            ax.errorbar(x, y, yerr=err, fmt="o-", ms=3, lw=1.1, capsize=2, color=colour[label], label=label)
        ax.axhline(0, color="#555", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    return svg_text(fig, key)


def _hex(rgba: Sequence[float]) -> str:
    return "#" + "".join(f"{int(round(255 * float(c))):02x}" for c in rgba[:3])


def figure_faces(
    shape: np.ndarray,
    panels: Sequence[tuple[str, np.ndarray, np.ndarray] | None],
    title: str,
    key: str,
    cols: int = 7,
) -> str:
    """Face-shaped per-landmark plots as hand-written SVG: each panel draws the 68 points at ``shape`` (unit box,
    y down) over the contours of the face, colour (``magma_r``) and radius by the panel's (68,) mean error on one
    scale for all panels (0 to the 98th percentile of every value); points without a value are small hollow circles.
    Panels: (title, means (68,), counts (68,)), or None for an empty grid cell (row-major, ``cols`` wide); a title
    ``"A: b"`` is shown on two lines, the second with the largest count n."""
    import matplotlib

    cmap = matplotlib.colormaps["magma_r"]
    shown = [p for p in panels if p is not None]
    finite = np.concatenate([m[np.isfinite(m)] for _, m, _ in shown] or [np.zeros(1)])
    vmax = float(np.percentile(finite, 98)) if finite.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    face, pad, head = 130.0, 10.0, 34.0
    cw, ch = face + 2 * pad, face + pad + head
    cols = max(1, min(cols, len(panels)))
    rows = math.ceil(len(panels) / cols)
    bar_x = cols * cw + 10
    width, height = bar_x + 70, rows * ch + 26
    p = shape * face
    lines = "".join(
        '<polyline points="'
        + " ".join(f"{p[j, 0]:.1f},{p[j, 1]:.1f}" for j in [*range(lo, hi), *([lo] if closed else [])])
        + '"/>'
        for lo, hi, closed in FACE_LINES
    )
    out = [
        f'<svg role="img" aria-label="{key}" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="10">',
        f'<defs><g id="{key}-outline" fill="none" stroke="#ccc" stroke-width="0.8">{lines}</g>',
        f'<linearGradient id="{key}-bar" x1="0" y1="1" x2="0" y2="0">'
        + "".join(f'<stop offset="{t:.2f}" stop-color="{_hex(cmap(t))}"/>' for t in np.linspace(0, 1, 11))
        + "</linearGradient></defs>",
        f'<text x="{width / 2:.0f}" y="14" text-anchor="middle" font-size="12">{_esc(title)}</text>',
    ]
    for n, panel in enumerate(panels):
        if panel is None:
            continue
        name, means, counts = panel
        x0, y0 = (n % cols) * cw, 22 + (n // cols) * ch
        first, _, second = name.partition(": ")
        second = (second + ", " if second else "") + f"n ≤ {int(np.max(counts)) if counts.size else 0}"
        out.append(f'<g transform="translate({x0:.0f},{y0:.0f})">')
        out.append(f'<text x="{cw / 2:.0f}" y="11" text-anchor="middle">{_esc(first)}</text>')
        out.append(f'<text x="{cw / 2:.0f}" y="24" text-anchor="middle" fill="#555">{_esc(second)}</text>')
        out.append(f'<use href="#{key}-outline" transform="translate({pad:.0f},{head:.0f})"/>')
        circles = []
        for j in range(means.size):
            x, y = p[j, 0] + pad, p[j, 1] + head
            if np.isfinite(means[j]):
                t = float(np.clip(means[j] / vmax, 0, 1))
                circles.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{1.6 + 3.4 * t:.1f}" fill="{_hex(cmap(t))}"/>')
            else:
                circles.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.5" fill="none" stroke="#999"/>')
        out.append("".join(circles) + "</g>")
    bar_h = min(rows * ch - 40, 220.0)
    out.append(f'<rect x="{bar_x:.0f}" y="40" width="12" height="{bar_h:.0f}" fill="url(#{key}-bar)"/>')
    for t in (0.0, 0.5, 1.0):
        y = 40 + bar_h * (1 - t)
        out.append(f'<text x="{bar_x + 16:.0f}" y="{y + 3:.0f}">{t * vmax:.1f}</text>')
    out.append(
        f'<text transform="translate({bar_x + 52:.0f},{40 + bar_h / 2:.0f}) rotate(90)" text-anchor="middle">'
        "mean point error (%)</text></svg>"
    )
    return "".join(out)


def _esc(text: str) -> str:
    import html

    return html.escape(text)
