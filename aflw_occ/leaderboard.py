"""The leaderboard: results folders of :func:`aflw_occ.evaluation.evaluate` → a Markdown block in a README.

``aflw-occ leaderboard RESULTS_DIR... --readme README.md`` rewrites the block between
``<!-- leaderboard:start -->`` and ``<!-- leaderboard:end -->`` (never typed by hand): every model × every split,
sparse-2d NME per yaw bin, the balanced mean with its 95% bootstrap CI, and on occluded splits the NME over occluded
and over visible landmarks (balanced means), all under ``points=68``; then the balanced means under ``points=inner-51``
(the 51 inner points, no jaw line), for models whose landmark scheme matches iBUG's only approximately on the jaw.

Results of the two box protocols (:mod:`aflw_occ.detection.protocol`) never share a table: the ground-truth results
come first, then one table per detector with the detection rate, the NME on the detected faces and the failure rate
that counts misses as failures (all under ``points=68``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .errors import AflwOccError
from .evaluation.data import ALL_SPLITS
from .evaluation.folder import ResultsFolder
from .protocols import REGISTRY

START = "<!-- leaderboard:start -->"
END = "<!-- leaderboard:end -->"
SPLIT_TITLES = {
    "clean": "clean",
    "nod": "NOD",
    "csod-single": "CSOD square",
    "csod-double": "CSOD double",
    "csod-column": "CSOD column",
    "nsod": "NSOD",
}


class ResultsError(AflwOccError):
    """A results folder or README is missing, incomplete, or lacks the leaderboard markers."""


@dataclass(frozen=True)
class Results:
    """One results folder: ``meta`` (meta.json), ``scores`` (scores.csv) and the per-sample table path."""

    path: Path
    meta: dict[str, Any]
    scores: Any  # pandas DataFrame

    label: str = ""

    @property
    def model(self) -> str:
        """Display name: the label given by :func:`label_results`, else the model name."""
        return self.label or str(self.meta.get("model") or self.path.name)

    @property
    def splits(self) -> list[str]:
        return [str(s) for s in self.meta.get("splits", [])]

    @property
    def box_protocol(self) -> str:
        """``ground-truth`` (also for results written before box protocols existed) or ``detector:<name>``."""
        return str(self.meta.get("box_protocol") or "ground-truth")

    def per_sample(self) -> Any:
        import pandas as pd

        p = ResultsFolder(self.path).per_sample
        if not p.is_file():
            raise ResultsError(f"{p}: per-sample table is missing")
        return pd.read_csv(p, dtype={"id": str, "split": str, "source_id": str})

    def value(
        self, split: str, metric: str, protocol: str = "sparse-2d", points: str = "68"
    ) -> tuple[float, float, float]:
        """(value, ci_low, ci_high) of a metric under a point-set convention (ignored by protocols without one),
        NaNs when absent."""
        df = self.scores
        sel = (df["split"] == split) & (df["protocol"] == protocol) & (df["metric"] == metric)
        if "points" in df.columns:  # results written before the convention existed have all 68 points only
            sel &= df["points"].fillna("").astype(str).isin([points, ""])
        row = df[sel]
        if row.empty:
            return (math.nan, math.nan, math.nan)
        r = row.iloc[0]
        return (float(r["value"]), float(r["ci_low"]), float(r["ci_high"]))


def load_results(path: str | Path) -> Results:
    """Read a results folder; :class:`ResultsError` naming the file when something is missing or unreadable."""
    import pandas as pd

    p = Path(path)
    if not p.is_dir():
        raise ResultsError(f"{p}: results folder does not exist (make it with `aflw-occ evaluate ... --out {p}`)")
    meta_p, scores_p = ResultsFolder(p).meta, ResultsFolder(p).scores
    for f in (meta_p, scores_p):
        if not f.is_file():
            raise ResultsError(f"{f}: missing (not an `aflw-occ evaluate` results folder)")
    try:
        meta = json.loads(meta_p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{meta_p}: not valid JSON ({exc})") from None
    try:
        scores = pd.read_csv(scores_p, dtype={"points": str})
    except Exception as exc:
        raise ResultsError(f"{scores_p}: unreadable ({exc})") from None
    need = {"split", "protocol", "metric", "value", "ci_low", "ci_high"}
    if not need <= set(scores.columns):
        raise ResultsError(f"{scores_p}: missing columns {sorted(need - set(scores.columns))}")
    return Results(p, meta, scores)


def label_results(results: list[Results]) -> list[Results]:
    """Give every result a unique display name: the model name, plus the folder name where names repeat."""
    from dataclasses import replace

    names = [str(r.meta.get("model") or r.path.name) for r in results]
    out = []
    for r, n in zip(results, names, strict=True):
        out.append(replace(r, label=n if names.count(n) == 1 else f"{n} ({r.path.name})"))
    return out


def ordered_splits(results: list[Results]) -> list[str]:
    """Every split any result has, in canonical order (clean, NOD, CSOD ×3, NSOD, then others)."""
    seen = {s for r in results for s in r.splits}
    return [s for s in ALL_SPLITS if s in seen] + sorted(seen - set(ALL_SPLITS))


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(v) else f"{v:.{digits}f}"


def _ci(v: tuple[float, float, float]) -> str:
    if not math.isfinite(v[0]):
        return "–"
    if not (math.isfinite(v[1]) and math.isfinite(v[2])):
        return _fmt(v[0])
    return f"{v[0]:.3f} [{v[1]:.2f}, {v[2]:.2f}]"


def balanced_or_plain(r: Results, split: str, prefix: str) -> str:
    """Balanced mean of a landmark-subset NME, or its plain mean marked ``(plain)`` when a yaw bin is empty."""
    b = r.value(split, f"{prefix}_balanced")[0]
    if math.isfinite(b):
        return _fmt(b)
    p = r.value(split, f"{prefix}_plain")[0]
    return f"{_fmt(p)} (plain)" if math.isfinite(p) else "–"


def _overview_cell(r: Results, split: str, points: str = "68") -> str:
    v = r.value(split, "nme_balanced", points=points)
    if math.isfinite(v[0]):
        return _ci(v)
    plain = r.value(split, "nme_plain", points=points)[0]
    return f"{_fmt(plain)} (plain)" if math.isfinite(plain) else "–"


def check_same_data(results: list[Results]) -> None:
    """:class:`ResultsError` when the folders were evaluated on different data (data version or manifest): one table
    must compare models on the same pixels and ground truth."""
    seen: dict[tuple[str, str], Path] = {}
    for r in results:
        seen.setdefault((str(r.meta.get("data_version", "?")), str(r.meta.get("manifest_sha256", ""))[:12]), r.path)
    if len(seen) > 1:
        what = "; ".join(f"{p} (data {v}, manifest {m or '?'})" for (v, m), p in seen.items())
        raise ResultsError(
            f"results from different data cannot share one table: {what}; evaluate every model on the same store"
        )


def leaderboard_markdown(results: list[Results]) -> str:
    """The Markdown leaderboard: the ground-truth box protocol's tables (:func:`ground_truth_tables`), then one table
    per detector (:func:`detector_table`); results of different box protocols never share a table."""
    if not results:
        raise ResultsError("no results folders given")
    check_same_data(results)
    groups: dict[str, list[Results]] = {}
    for r in results:
        groups.setdefault(r.box_protocol, []).append(r)
    order = sorted(groups, key=lambda p: (p != "ground-truth", p))
    parts = []
    for proto in order:
        members = label_results(groups[proto])
        parts.append(ground_truth_tables(members) if proto == "ground-truth" else detector_table(proto, members))
    return "\n".join(parts)


def _data_line(results: list[Results]) -> str:
    versions = sorted({f"{r.meta.get('data_version', '?')}" for r in results})
    manifests = sorted({str(r.meta.get("manifest_sha256", ""))[:12] for r in results} - {""})
    return f"Data version {', '.join(versions)}" + (f", manifest {', '.join(manifests)}" if manifests else "")


def _rate_cell(r: Results, split: str, prefix: str) -> str:
    """A percentage of the ``detection`` rows, one decimal: ``value [lo, hi]`` of the balanced figure, or the plain
    figure marked ``(plain)`` when a yaw bin is empty."""
    v = r.value(split, f"{prefix}_balanced", "detection")
    if math.isfinite(v[0]):
        return f"{v[0]:.1f} [{v[1]:.1f}, {v[2]:.1f}]"
    plain = r.value(split, f"{prefix}_plain", "detection")[0]
    return f"{plain:.1f} (plain)" if math.isfinite(plain) else "–"


def detector_table(box_protocol: str, results: list[Results]) -> str:
    """The table of one detector's box protocol: per model and split, the detection rate, the sparse-2d NME on the
    detected faces (per yaw bin and balanced) and the failure rate@10% counting misses as failures (balanced, CI)."""
    splits = ordered_splits(results)
    detector = box_protocol.partition(":")[2]
    lines = [
        f"**Box protocol: detector `{detector}`** (`evaluate --boxes detector:DIR`; a face the detector misses gets "
        f"no landmarks). Protocol sparse-2d ({REGISTRY['sparse-2d'].short}, original `pt3d_68` ground truth) on the "
        "detected faces only; detected = detection rate, balanced over the yaw bins; failure = share of all faces "
        f"missed or with NME > 10 %, balanced. {_data_line(results)}. [95% stratified bootstrap CI]. Generated by "
        "`aflw-occ leaderboard`; do not edit by hand.",
        "",
        "| model | split | n | detected % [95% CI] | NME [0,30] | (30,60] | >60 | NME balanced [95% CI] | "
        "failure % (misses = failures) [95% CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        n = r.meta.get("n", {})
        for s in splits:
            if s not in r.splits:
                continue
            rate = _rate_cell(r, s, "detection_rate")
            fail = _rate_cell(r, s, "failure_10_with_misses")
            bins = [_fmt(r.value(s, k)[0]) for k in ("nme_0_30", "nme_30_60", "nme_60_plus")]
            lines.append(
                f"| {r.model} | {SPLIT_TITLES.get(s, s)} | {n.get(s, '')} | {rate} | " + " | ".join(bins)
                + f" | {_overview_cell(r, s)} | {fail} |"
            )  # fmt: skip
    return "\n".join(lines) + "\n"


def _overview_table(results: list[Results], splits: list[str], points: str) -> list[str]:
    """Markdown lines of a models × splits table of balanced NME over the point set ``points``."""
    lines = ["| model | " + " | ".join(SPLIT_TITLES.get(s, s) for s in splits) + " |", "|---|" + "---|" * len(splits)]
    for r in results:
        cells = [_overview_cell(r, s, points) if s in r.splits else "–" for s in splits]
        lines.append(f"| {r.model} | " + " | ".join(cells) + " |")
    return lines


def ground_truth_tables(results: list[Results]) -> str:
    """The ground-truth box protocol's tables: a balanced-NME overview (models × splits) and the per-split table."""
    splits = ordered_splits(results)
    lines = [
        f"Protocol sparse-2d points=68 ({REGISTRY['sparse-2d'].short}, original `pt3d_68` ground truth, "
        f"ground-truth crop boxes). {_data_line(results)}"
        + ". Balanced = mean of the three yaw-bin means (– when a bin is empty); [95% stratified bootstrap CI]; "
        "occluded/visible = NME over the occluded / visible landmarks only. "
        "Generated by `aflw-occ leaderboard`; do not edit by hand.",
        "",
        *_overview_table(results, splits, "68"),
    ]
    inner = [r for r in results if any(math.isfinite(r.value(s, "nme_plain", points="inner-51")[0]) for s in r.splits)]
    if inner:
        lines += [
            "",
            "Protocol sparse-2d points=inner-51: the same, averaged over the 51 inner points 17–67 only (no jaw line; "
            "same normaliser, the 68-point box). Balanced [95% CI].",
            "",
            *_overview_table(inner, splits, "inner-51"),
        ]
    lines += [
        "",
        "| model | split | n | [0,30] | (30,60] | >60 | balanced [95% CI] | plain | occluded lms | visible lms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        n = r.meta.get("n", {})
        for s in splits:
            if s not in r.splits:
                continue
            bins = [_fmt(r.value(s, k)[0]) for k in ("nme_0_30", "nme_30_60", "nme_60_plus")]
            occ = balanced_or_plain(r, s, "nme_occluded")
            vis = balanced_or_plain(r, s, "nme_visible")
            plain = _fmt(r.value(s, "nme_plain")[0])
            lines.append(
                f"| {r.model} | {SPLIT_TITLES.get(s, s)} | {n.get(s, '')} | "
                + " | ".join(bins)
                + f" | {_ci(r.value(s, 'nme_balanced'))} | {plain} | {occ} | {vis} |"
            )
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str, where: str = "README") -> str:
    """Replace the content between the leaderboard markers; :class:`ResultsError` when they are absent."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < 0 or j < i:
        raise ResultsError(f"{where}: no '{START}' … '{END}' block to rewrite (add both markers once)")
    return text[: i + len(START)] + "\n" + block + text[j:]


def update_readme(readme: str | Path, results: list[Results]) -> Path:
    """Rewrite the leaderboard block of a README in place (temporary file, then rename)."""
    p = Path(readme)
    if not p.is_file():
        raise ResultsError(f"{p}: README does not exist")
    new = replace_block(p.read_text(), leaderboard_markdown(results), str(p))
    return write_text_atomic(p, new)
