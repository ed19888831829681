"""The worst samples of every model and split, drawn at the size the page shows them."""

from __future__ import annotations

import numpy as np

from .context import WORST_BY, ReportContext, fmt, split_title
from .factors import FACTORS, factor_label
from .page import esc, jpeg_img, note
from .registry import section
from .samples import draw_tile, encode_jpeg, worst_rows
from .sections_occlusion import BREAKDOWN_PROTOCOL


def _units(ctx: ReportContext) -> int:
    return max(1, sum(len(r.splits) for r in ctx.results)) if ctx.options.worst_k else 1


def _scores(ctx: ReportContext, k: int, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(ranking score, NME) per row of model k's split, or None without the per-sample NME."""
    nme = ctx.values(k, split, BREAKDOWN_PROTOCOL)
    if nme is None:
        return None
    if ctx.options.worst_by == "nme" or split == "clean" or ctx.same_as_clean(split):
        return nme, nme
    score = np.full(nme.shape, -np.inf)  # an occluded row without a clean partner ranks last
    p = ctx.paired(k, split, BREAKDOWN_PROTOCOL)
    if p is not None:
        score[p.rows] = p.occluded - p.clean  # NaN (no prediction) ranks first
    return score, nme


def _caption(ctx: ReportContext, k: int, split: str, sid: str, row: int, data_row: int, nme: float) -> str:
    parts = [f"<b>{esc(sid)}</b>", f"NME {fmt(nme, 2)}%"]
    p = ctx.paired(k, split, BREAKDOWN_PROTOCOL)
    if p is not None and split != "clean" and not ctx.same_as_clean(split):
        j = np.flatnonzero(p.rows == row)
        if j.size:
            c = float(p.clean[j[0]])
            parts.append(f"clean {fmt(c, 2)}% (Δ {nme - c:+.2f})")
    sd = ctx.data(split)
    assert sd is not None
    parts.append(f"yaw {sd.yaw_deg[data_row]:.0f}°")
    if sd.covered is not None:
        parts.append(f"covered {sd.covered[data_row]:.2f}")
    labels = [
        factor_label(f, split, sd.params[data_row]) for f in FACTORS if split in f.splits and f.key != "csod-type"
    ]
    parts += [esc(lab) for lab in labels]
    return " · ".join(parts)


@section("worst", "Worst samples", 80, _units)
def worst_section(ctx: ReportContext) -> str:
    o = ctx.options
    if o.worst_k == 0:
        return note("Not drawn (--worst 0).")
    if ctx.view is None:
        return note(f"Images not available{ctx.view_note}.")
    parts = [
        note(
            f"The {o.worst_k} worst samples of each split ({WORST_BY[o.worst_by]}); ground truth green, prediction "
            "red, a white line from each ground-truth point to its prediction, occluder outline yellow. Each view is "
            f"a square around the ground-truth face, 1.5× its longer side, drawn at {o.tile} px. Caption: id, "
            "sparse-2d NME, the clean image's NME and the increase, yaw, covered fraction, occluder."
        )
    ]
    for k, r in enumerate(ctx.results):
        parts.append(f"<h3>{esc(r.model)}</h3>")
        for s in r.splits:
            got, sd, pred = _scores(ctx, k, s), ctx.data(s), ctx.predictions(k, s)
            ctx.step()
            if got is None or sd is None or pred is None:
                continue
            score, nme = got
            ids = ctx.frame(k, s)["id"].astype(str).tolist()
            pred_row = {sid: j for j, sid in enumerate(pred[0])}
            tiles = []
            for row in worst_rows(score, o.worst_k).tolist():
                sid = ids[row]
                data_row = sd.rows_of([sid])[0]
                if data_row is None:
                    continue
                j = pred_row.get(sid)
                img = draw_tile(
                    ctx.view.image(s, data_row),
                    sd.landmarks[data_row],
                    None if j is None else pred[1][j],
                    ctx.view.mask(s, data_row),
                    o.tile,
                )
                cap = _caption(ctx, k, s, sid, row, data_row, float(nme[row]))
                img_tag = jpeg_img(encode_jpeg(img), f"{r.model} {s} {sid}", o.tile, o.tile)
                tiles.append(f'<figure class="tile">{img_tag}<figcaption>{cap}</figcaption></figure>')
            if tiles:
                parts.append(f'<h4>{esc(split_title(s))}</h4><div class="tiles">{"".join(tiles)}</div>')
    return "\n".join(parts)
