"""``aflw-occ report RESULTS_DIR... --out report.html``: one self-contained HTML page (embedded PNGs, matplotlib Agg).

Sections: the models and data behind the numbers; sparse-2d NME per yaw bin per split; CED curves per split with
every model overlaid; occluded-vs-visible landmark NME on the occluded splits; and for each model the worst-k
samples of each split as a contact sheet (ground truth green, prediction red, occluder outline yellow, drawn on the
occluded image itself). Images come from the data the results were computed on (``meta.json``'s ``data``) or from
``data=`` when that moved.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_text_atomic
from .leaderboard import (
    SPLIT_TITLES,
    Results,
    ResultsError,
    balanced_or_plain,
    check_same_data,
    label_results,
    load_results,
    ordered_splits,
)
from .protocols import REGISTRY

GT_COLOR = (40, 200, 40)
PRED_COLOR = (230, 30, 30)
OUTLINE_COLOR = (255, 220, 0)
CED_MAX = 10.0  # percent
BIN_KEYS = ("nme_0_30", "nme_30_60", "nme_60_plus", "nme_balanced")
BIN_NAMES = ("[0,30]", "(30,60]", ">60", "balanced")


def _png_b64(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img_tag(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _subplots(n: int, width: float = 4.2, height: float = 3.2) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    cols = min(3, max(1, n))
    rows = math.ceil(max(1, n) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def figure_bins(results: list[Results], splits: list[str]) -> str:
    """Grouped bars: NME per yaw bin (and balanced) for every model, one panel per split. Returns base64 PNG."""
    fig, axes = _subplots(len(splits))
    width = 0.8 / max(1, len(results))
    x = np.arange(len(BIN_KEYS))
    for ax, s in zip(axes, splits, strict=True):
        for m, r in enumerate(results):
            vals = [r.value(s, k)[0] for k in BIN_KEYS]
            lo = [v - r.value(s, k)[1] for v, k in zip(vals, BIN_KEYS, strict=True)]
            hi = [r.value(s, k)[2] - v for v, k in zip(vals, BIN_KEYS, strict=True)]
            err = np.nan_to_num(np.array([lo, hi]), nan=0.0)
            ax.bar(x + (m - (len(results) - 1) / 2) * width, vals, width, yerr=err, capsize=2, label=r.model)
        ax.set_xticks(x, BIN_NAMES)
        ax.set_title(SPLIT_TITLES.get(s, s))
        ax.set_ylabel("NME (%)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("sparse-2d NME per yaw bin (95% CI)")
    return _png_b64(fig)


def ced_points(errors: np.ndarray, max_err: float = CED_MAX, n: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """CED: thresholds ``t`` on [0, max_err] and the fraction of samples with error ≤ t (NaNs count as failures)."""
    e = np.asarray(errors, dtype=np.float64)
    t = np.linspace(0.0, max_err, n)
    finite = np.sort(e[np.isfinite(e)])
    frac = np.searchsorted(finite, t, side="right") / max(1, e.size)
    return t, frac


def figure_ced(results: list[Results], splits: list[str], per_sample: list[Any]) -> str:
    """CED curves of the per-image sparse-2d NME, models overlaid, one panel per split. Returns base64 PNG."""
    fig, axes = _subplots(len(splits))
    for ax, s in zip(axes, splits, strict=True):
        for r, df in zip(results, per_sample, strict=True):
            if s not in r.splits:
                continue
            t, f = ced_points(df.loc[df["split"] == s, "nme"].to_numpy(dtype=np.float64))
            ax.plot(t, f, label=r.model)
        ax.set_xlim(0, CED_MAX)
        ax.set_ylim(0, 1)
        ax.set_xlabel("NME (%)")
        ax.set_ylabel("fraction of images")
        ax.set_title(SPLIT_TITLES.get(s, s))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("cumulative error distribution (sparse-2d)")
    return _png_b64(fig)


def figure_occlusion(results: list[Results], splits: list[str]) -> str | None:
    """Occluded vs visible landmark NME per occluded split and model (balanced; plain where a yaw bin is empty).

    Returns a base64 PNG, or None when no split has occlusion flags."""

    def val(r: Results, s: str, prefix: str) -> float:
        b = r.value(s, f"{prefix}_balanced")[0]
        return b if math.isfinite(b) else r.value(s, f"{prefix}_plain")[0]

    occ_splits = [s for s in splits if any(math.isfinite(val(r, s, "nme_occluded")) for r in results)]
    if not occ_splits:
        return None
    fig, axes = _subplots(len(occ_splits), width=3.6)
    for ax, s in zip(axes, occ_splits, strict=True):
        have = [r for r in results if s in r.splits]
        x = np.arange(len(have))
        occ = [val(r, s, "nme_occluded") for r in have]
        vis = [val(r, s, "nme_visible") for r in have]
        ax.bar(x - 0.2, occ, 0.4, label="occluded landmarks", color="#d9534f")
        ax.bar(x + 0.2, vis, 0.4, label="visible landmarks", color="#5cb85c")
        ax.set_xticks(x, [r.model for r in have], rotation=15, fontsize=8)
        ax.set_title(SPLIT_TITLES.get(s, s))
        ax.set_ylabel("NME (%)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("occluded vs visible landmarks (sparse-2d NME; balanced, plain for NOD-like splits with an empty bin)")
    return _png_b64(fig)


def draw_sample(
    image: np.ndarray,
    gt: np.ndarray,
    pred: np.ndarray,
    mask: np.ndarray | None = None,
    label: str = "",
    tile: int = 200,
) -> np.ndarray:
    """A ``tile × tile`` RGB view around the face: occluder outline, ground truth (green) and prediction (red)."""
    import cv2

    lo, hi = np.nanmin(gt[:, :2], axis=0), np.nanmax(gt[:, :2], axis=0)
    c = (lo + hi) / 2
    side = max(float(np.max(hi - lo)) * 1.6, 1.0)
    box = np.array([c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2])
    img = np.ascontiguousarray(image)
    if mask is not None and mask.any():
        img = img.copy()
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, contours, -1, OUTLINE_COLOR, max(1, int(side / 150)))
    s = tile / side
    m = np.array([[s, 0.0, -box[0] * s], [0.0, s, -box[1] * s]])
    out = cv2.warpAffine(img, m, (tile, tile), flags=cv2.INTER_AREA, borderValue=(0, 0, 0))
    for arr, color in ((gt, GT_COLOR), (pred, PRED_COLOR)):
        q = (arr[:, :2] - box[:2]) * s
        for x, y in q:
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(out, (int(round(x)), int(round(y))), 2, color, -1, lineType=cv2.LINE_AA)
    if label:
        cv2.rectangle(out, (0, tile - 16), (tile, tile), (0, 0, 0), -1)
        cv2.putText(out, label[:32], (3, tile - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def tile_grid(tiles: Sequence[np.ndarray], cols: int = 4, pad: int = 3) -> np.ndarray:
    """Tiles of equal size in a grid on a white background."""
    if not tiles:
        return np.full((10, 10, 3), 255, np.uint8)
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / cols)
    sheet = np.full((rows * (h + pad) + pad, min(cols, len(tiles)) * (w + pad) + pad, 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = t
    return sheet


def _encode_png(rgb: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ResultsError("PNG encoding of a contact sheet failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def worst_sheets(r: Results, per_sample: Any, data: Any, k: int) -> list[tuple[str, str, list[str]]]:
    """(split, base64 PNG, ids) of the k worst samples of each split of one model, drawn from ``data``."""
    from .evaluation.data import open_data
    from .predictions import read_predictions

    out: list[tuple[str, str, list[str]]] = []
    with open_data(data) as ds:
        available = set(ds.splits)
        for s in r.splits:
            if s not in available:
                continue
            sub = per_sample[per_sample["split"] == s].sort_values("nme", ascending=False, na_position="first")
            ids = sub["id"].astype(str).head(k).tolist()
            pred_path = r.path / "predictions" / f"{s}.npz"
            if not ids or not pred_path.is_file():
                continue
            pred = read_predictions(pred_path)
            prow = {v: i for i, v in enumerate(pred.ids.tolist())}
            sp = ds.split(s)
            rows = {v: i for i, v in enumerate(np.asarray(sp.ids).astype(str).tolist())}
            gt = sp.ground_truth()
            tiles = []
            for sid, nme in zip(ids, sub["nme"].head(k).tolist(), strict=True):
                if sid not in rows or sid not in prow or pred.landmarks is None:
                    continue
                i = rows[sid]
                mask = sp.mask(i) if hasattr(sp, "mask") and s != "clean" else None
                tiles.append(
                    draw_sample(sp.image(i), gt.landmarks[i], pred.landmarks[prow[sid]], mask, f"{sid} {nme:.2f}%")
                )
            if tiles:
                out.append((s, _encode_png(tile_grid(tiles)), ids))
    return out


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.6em}
table{border-collapse:collapse;font-size:0.9em;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.note{color:#555;font-size:0.9em}.sheet{margin:6px 0 18px 0}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.3f}"


def build_report(
    results_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    data: Any = None,
    worst_k: int = 8,
    title: str = "aflw-occ evaluation report",
) -> Path:
    """Write the self-contained HTML report (temporary file, renamed at the end); returns its path."""
    results = label_results([load_results(p) for p in results_dirs])
    check_same_data(results)
    if not results:
        raise ResultsError("no results folders given")
    splits = ordered_splits(results)
    per_sample = [r.per_sample() for r in results]
    parts = [f"<h1>{html.escape(title)}</h1>"]
    info = [
        [
            r.model,
            str(r.meta.get("model_spec") or ""),
            str(r.meta.get("data_version", "")),
            str(r.meta.get("manifest_sha256", ""))[:12],
            ", ".join(r.splits),
            str(r.meta.get("created_utc", "")),
        ]
        for r in results
    ]
    parts.append(_table(["model", "spec", "data version", "manifest", "splits", "created (UTC)"], info))
    parts.append(
        f'<p class="note">Protocol sparse-2d: {REGISTRY["sparse-2d"].short}, original '
        "<code>pt3d_68</code> ground truth; yaw bins by |yaw| of the fitted pose; balanced = mean of the three bin "
        "means; intervals are 95% stratified bootstrap CIs. Crop boxes come from the ground truth, as in the "
        "field's benchmarks.</p>"
    )
    parts.append("<h2>Summary</h2>")
    rows = []
    for r in results:
        for s in splits:
            if s not in r.splits:
                continue
            b = r.value(s, "nme_balanced")
            ci = f"[{b[1]:.2f}, {b[2]:.2f}]" if math.isfinite(b[1]) else ""
            rows.append(
                [r.model, SPLIT_TITLES.get(s, s)]
                + [_fmt(r.value(s, k)[0]) for k in BIN_KEYS[:3]]
                + [_fmt(b[0]), ci]
                + [balanced_or_plain(r, s, k) for k in ("nme_occluded", "nme_visible")]
                + [_fmt(r.value(s, "failure_10")[0])]
            )
    parts.append(
        _table(
            ["model", "split", "[0,30]", "(30,60]", ">60", "balanced", "95% CI", "occluded", "visible", "fail@10%"],
            rows,
        )
    )
    parts.append("<h2>NME per yaw bin</h2>" + _img_tag(figure_bins(results, splits), "NME per yaw bin per split"))
    parts.append("<h2>CED curves</h2>" + _img_tag(figure_ced(results, splits, per_sample), "CED curves per split"))
    occ = figure_occlusion(results, splits)
    parts.append("<h2>Occluded vs visible landmarks</h2>")
    parts.append(
        _img_tag(occ, "occluded vs visible landmark NME")
        if occ
        else '<p class="note">No occluded split in these results.</p>'
    )
    parts.append(f"<h2>Worst {worst_k} samples per split</h2>")
    parts.append('<p class="note">Ground truth green, prediction red, occluder outline yellow; label: id and NME.</p>')
    for r, ps in zip(results, per_sample, strict=True):
        src = data if data is not None else r.meta.get("data")
        parts.append(f"<h3>{html.escape(r.model)}</h3>")
        if worst_k == 0:
            continue
        if not src or (isinstance(src, (str, Path)) and not Path(src).exists()):
            parts.append(f'<p class="note">Images not available (data {html.escape(str(src))} not found).</p>')
            continue
        for s, b64, _ids in worst_sheets(r, ps, src, worst_k):
            parts.append(f"<h4>{html.escape(SPLIT_TITLES.get(s, s))}</h4>")
            parts.append(f'<div class="sheet">{_img_tag(b64, f"worst samples {r.model} {s}")}</div>')
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    return write_text_atomic(out, doc, make_parent=True)
