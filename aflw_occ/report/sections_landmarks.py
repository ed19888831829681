"""The per-landmark section: each of the 68 points' mean error, on clean images and, per occluded split, where the
point is occluded and where it is visible, drawn on the mean clean face; and the same per facial region."""

from __future__ import annotations

from typing import Any

import numpy as np

from .context import ReportContext, fmt, split_title
from .figures import figure_faces
from .page import esc, figure, note, table
from .registry import section
from .sections_occlusion import BREAKDOWN_PROTOCOL
from .sections_scores import protocol_caption
from .stats import REGIONS, mean_shape, per_landmark_means, region_means


def _shape(ctx: ReportContext) -> np.ndarray | None:
    """The mean face of the clean ground truth (frontal images, |yaw| ≤ 30°, when there are any)."""

    def compute() -> np.ndarray | None:
        sd = ctx.data("clean")
        if sd is None or len(sd) == 0:
            return None
        frontal = np.abs(sd.yaw_deg) <= 30
        return mean_shape(sd.landmarks[frontal] if frontal.any() else sd.landmarks)

    return ctx.memo(("shape",), compute)  # type: ignore[no-any-return]


def _landmark_units(ctx: ReportContext) -> int:
    return max(1, len(ctx.results) * len(ctx.splits))


#: one face panel: (title, (68,) mean error per point, (68,) samples per point), or None for an empty cell
FacePanel = tuple[str, np.ndarray, np.ndarray] | None


def _model_points(
    ctx: ReportContext, k: int, model: str, occ_splits: list[str], region_rows: list[list[Any]]
) -> tuple[list[FacePanel], list[FacePanel], list[tuple[str, np.ndarray]]]:
    """Model k's per-landmark means: the top row (clean, then each occluded split where the point is occluded), the
    bottom row (where it is visible), the table's columns; appends the facial-region rows to ``region_rows``."""
    clean = ctx.point_errors(k, "clean")
    ctx.step()
    top: list[FacePanel] = []
    bottom: list[FacePanel] = []
    point_cols: list[tuple[str, np.ndarray]] = []
    if clean is not None:
        m, n = per_landmark_means(clean)
        top.append(("clean", m, n))
        bottom.append(None)
        point_cols.append(("clean", m))
        region_rows.append([model, "clean"] + [c for _, v, _ in region_means(clean) for c in ("–", fmt(v))])
    for s in occ_splits:
        e, sd = ctx.point_errors(k, s), ctx.data(s)
        ctx.step()
        if e is None or sd is None or sd.occluded is None:
            continue
        mo, no = per_landmark_means(e, sd.occluded)
        mv, nv = per_landmark_means(e, ~sd.occluded)
        top.append((f"{split_title(s)}: occluded", mo, no))
        bottom.append((f"{split_title(s)}: visible", mv, nv))
        point_cols += [(f"{split_title(s)} occ.", mo), (f"{split_title(s)} vis.", mv)]
        occ_r, vis_r = region_means(e, sd.occluded), region_means(e, ~sd.occluded)
        region_rows.append(
            [model, split_title(s)]
            + [c for (_, vo, _), (_, vv, _) in zip(occ_r, vis_r, strict=True) for c in (fmt(vo), fmt(vv))]
        )
    return top, bottom, point_cols


def _model_faces(
    ctx: ReportContext,
    k: int,
    model: str,
    shape: np.ndarray,
    panels: list[FacePanel],
    cols: int,
    point_cols: list[tuple[str, np.ndarray]],
) -> list[str]:
    """Model k's figure of faces (``cols`` panels a row) and its table of the 68 points."""
    svg = figure_faces(shape, panels, f"{model}: mean error per landmark", f"faces-{k}", cols=cols)
    header = ["point", "region"] + [name for name, _ in point_cols]
    rows = [
        [str(j), next(n for n, lo, hi in REGIONS if lo <= j < hi)] + [fmt(v[j]) for _, v in point_cols]
        for j in range(68)
    ]
    return [
        f"<h3>{esc(model)}</h3>" + figure(svg, protocol_caption(ctx, BREAKDOWN_PROTOCOL, ci=None)),
        f"<details><summary>table: the 68 points of {esc(model)}</summary>{table(header, rows)}</details>",
    ]


@section("landmarks", "Per-landmark error", 60, _landmark_units)
def landmarks_section(ctx: ReportContext) -> str:
    shape = _shape(ctx)
    if shape is None:
        return note("The data behind these results is not found: per-landmark errors need its ground truth.")
    occ_splits = ctx.occluded_splits()
    parts = [
        note(
            "Mean error of each of the 68 points (sparse-2d point error ‖p̂ − p‖ / √(w·h), %), drawn at the points' "
            "positions in the mean clean face (Procrustes mean of the frontal ground truth). Top row: clean images, "
            "then each occluded split over the samples where the point is occluded (store's per-landmark flags); "
            "bottom row: the same splits where the point is visible. Colour and dot area: error, one scale per "
            "model; hollow: the point is never occluded (or never visible) in that split."
        )
    ]
    region_header = ["model", "split"] + [f"{name} {side}" for name, _, _ in REGIONS for side in ("occ.", "vis.")]
    region_rows: list[list[Any]] = []
    for k, r in enumerate(ctx.results):
        top, bottom, point_cols = _model_points(ctx, k, r.model, occ_splits, region_rows)
        if top:
            parts += _model_faces(ctx, k, r.model, shape, top + bottom, len(top), point_cols)
    if len(parts) == 1:
        return note("No predictions found for the per-landmark errors (predictions/<split>.npz of each folder).")
    cap = protocol_caption(ctx, BREAKDOWN_PROTOCOL, "mean point error per facial region, occluded / visible", None)
    parts.insert(1, "<h3>By facial region</h3>" + table(region_header, region_rows, cap))
    return "\n".join(parts)
