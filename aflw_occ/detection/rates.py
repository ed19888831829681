"""Text summaries of detection runs: the detection rate of each split per yaw bin, with its provenance line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .scoring import BIN_SUFFIXES, detection_rows

__all__ = ["rates_text"]


def rates_text(run: Any, store_path: str | Path, n_boot: int = 1000, seed: int = 0) -> str:
    """The detection rate table of a :class:`~aflw_occ.detection.run.DetectRun` (splits × yaw bins, balanced with its
    95 % stratified bootstrap CI, plain), headed by the detector, matching rule, data version and manifest."""
    from ..metrics.bins import yaw_bins
    from ..store import open_store

    first = next(iter(run.splits.values()))
    lines = [
        f"# aflw-occ detect | {first.describe()} | store={store_path}",
        f"# match: {first.meta['match_rule']}",
        f"# detection rate (% of faces) per |yaw| bin; balanced [95% CI: B={n_boot} seed={seed}, stratified by bin]",
        f"{'split':<12} {'n':>5} {'[0,30]':>7} {'(30,60]':>8} {'>60':>7}  {'balanced [95% CI]':<24} {'plain':>6}",
    ]
    with open_store(store_path) as st:
        for name, det in run.splits.items():
            gt = st.split(name).ground_truth()
            rows = {r.key: r for r in detection_rows(det.detected, yaw_bins(gt.yaw_deg), n_boot=n_boot, seed=seed)}
            cells = [rows[f"detection_rate_{s}"].value for s in BIN_SUFFIXES]
            bal = rows["detection_rate_balanced"]
            ci = f"{bal.value:.1f} [{bal.ci_low:.1f}, {bal.ci_high:.1f}]" if math.isfinite(bal.value) else "–"
            fmt = [f"{v:.1f}" if math.isfinite(v) else "–" for v in cells]
            lines.append(
                f"{name:<12} {len(det):>5} {fmt[0]:>7} {fmt[1]:>8} {fmt[2]:>7}  {ci:<24} "
                f"{rows['detection_rate_plain'].value:>6.1f}"
            )
    if run.images:
        ms = 1000 * run.cpu_seconds / run.images
        lines.append(f"# detector time: {ms:.1f} ms CPU per image over {run.images} images")
    if run.kept:
        lines.append(f"# kept from an earlier run: {', '.join(run.kept)}")
    return "\n".join(lines)
