"""Sections on where and why occlusion hurts: paired drops from clean, by yaw bin, by covered fraction, by occluder
descriptor (per landmark: :mod:`.sections_landmarks`)."""

from __future__ import annotations

import numpy as np

from ..metrics.bins import BIN_LABELS
from .context import Paired, ReportContext, fmt, split_title
from .factors import FACTORS, Factor, factor_label
from .figures import Interval, figure_fraction, figure_intervals
from .page import Raw, esc, figure, note, provenance, table, value_ci
from .registry import section
from .sections_scores import protocol_caption
from .stats import (
    FRACTION_EDGES,
    Drop,
    GroupStat,
    fraction_bins,
    fraction_labels,
    group_stats,
    paired_drop,
)

#: the protocol of the breakdowns (covered fraction, occluder, yaw, landmarks): the field's headline
BREAKDOWN_PROTOCOL = "sparse-2d"
#: covered-fraction bins with fewer pairs are left out of the plot (they stay in the table)
MIN_PLOT_N = 5
DELTA_NOTE = note(
    Raw(
        "Δ̄ = mean over a group's pairs of occluded − clean NME, each occluded sample paired with its clean source "
        'image (see <a href="#drops">Drop from clean</a>).'
    )
)


def _pair_note(ctx: ReportContext) -> str:
    o = ctx.options
    return note(
        Raw(
            "Each occluded sample is paired with the clean image it was made from (its store <code>source_id</code>; "
            "occluded ids are <code>&lt;source id&gt;.&lt;split&gt;</code>), so both sides share image, ground truth "
            "and yaw bin. Δ = occluded − clean of the per-image error. Interval: percentile interval of "
            f"{o.n_boot} bootstrap resamples of the pairs (seed {o.seed}), drawn within each yaw bin for the "
            "<i>balanced</i> statistic (mean of the three bin means; each bin keeps its size) and over all pairs for "
            "<i>plain</i> (used by pose, and where a yaw bin has no pair); p: two-sided bootstrap "
            "p-value of Δ = 0."
        )
    )


def _same_note(ctx: ReportContext) -> str:
    same = [split_title(s) for s in ctx.occluded_splits() if ctx.same_as_clean(s)]
    if not same:
        return ""
    return note(
        f"Not in the drops: {', '.join(same)}, whose images are the clean images themselves (naturally occluded "
        "images selected from the release; nothing is pasted), so Δ = 0 by construction. Their errors are in the "
        "protocol tables, against the covered fraction and per landmark."
    )


def p_text(p: float, n_boot: int) -> str:
    """A bootstrap p-value: ``≤ 2/(B+1)`` when no resample crossed 0 (the smallest value B resamples can give)."""
    floor = 2 / (n_boot + 1)
    return f"≤ {floor:.2g}" if p <= floor * (1 + 1e-9) else f"{p:.3g}"


def _drop_protocols(ctx: ReportContext) -> list[str]:
    return [p for p in ctx.protocols() if any(ctx.column(k, p) is not None for k in range(len(ctx.results)))]


def drop(ctx: ReportContext, k: int, split: str, protocol: str) -> Drop | None:
    """Model k's paired drop on one split under one protocol (computed once per report)."""

    def compute() -> Drop | None:
        p, proto, o = ctx.paired(k, split, protocol), ctx.protocol(protocol), ctx.options
        if p is None or proto is None:
            return None
        return paired_drop(
            p.occluded, p.clean, p.bins, proto.paired_statistic, n_boot=o.n_boot, seed=o.seed, level=o.level
        )

    return ctx.memo(("drop", k, split, protocol), compute)  # type: ignore[no-any-return]


def _units_drops(ctx: ReportContext) -> int:
    return max(1, len(ctx.results) * len(ctx.pasted_splits()) * len(_drop_protocols(ctx)))


def _groups(ctx: ReportContext, p: Paired, labels: list[str], order: list[str]) -> list[GroupStat]:
    o = ctx.options
    return group_stats(labels, p.occluded, p.clean, order, n_boot=o.n_boot, seed=o.seed, level=o.level)


@section("drops", "Drop from clean (paired)", 30, _units_drops)
def drops_section(ctx: ReportContext) -> str:
    if "clean" not in ctx.splits:
        return note("The clean split was not evaluated: a drop from clean needs it (evaluate --splits all).")
    if not ctx.pasted_splits():
        return _same_note(ctx) or note("No occluded split in these results.")
    parts = [_pair_note(ctx) + _same_note(ctx)]
    panels = []
    for protocol in _drop_protocols(ctx):
        rows, ivs = [], []
        unit = "deg" if protocol == "pose" else "NME %"
        for k, r in enumerate(ctx.results):
            for s in ctx.pasted_splits():
                d = drop(ctx, k, s, protocol)
                ctx.step()
                if d is None:
                    continue
                rows.append(
                    [
                        r.model,
                        split_title(s),
                        str(d.n),
                        d.statistic,
                        fmt(d.clean),
                        fmt(d.occluded),
                        value_ci(d.delta, d.ci_low, d.ci_high),
                        p_text(d.p_value, d.n_boot),
                    ]
                )
                ivs.append(Interval(split_title(s), r.model, d.delta, d.ci_low, d.ci_high, d.n))
        if not rows:
            continue
        parts.append(f"<h3>{esc(protocol)}</h3>")
        header = ["model", "split", "pairs", "statistic", f"clean ({unit})", f"occluded ({unit})", "Δ [95% CI]", "p"]
        cap = protocol_caption(ctx, protocol, "Δ = occluded − clean, same source images", "paired")
        parts.append(table(header, rows, cap))
        panels.append((f"{protocol} (Δ {unit})", ivs))
    if panels:
        svg = figure_intervals(panels, "Δ occluded − clean", "drop from clean per split, 95% CI", "drops", cols=3)
        cap = provenance("per protocol: Δ with its paired bootstrap interval", ctx.data_label())
        parts.insert(1, figure(svg, cap))
    yaw = _yaw_breakdown(ctx)
    if yaw:
        parts.append(yaw)
    return "\n".join(parts)


def _yaw_breakdown(ctx: ReportContext) -> str:
    """The sparse-2d drop per yaw bin: mean of d over the pairs of each bin, whole-bin resampling."""
    panels, rows = [], []
    for k, r in enumerate(ctx.results):
        ivs = []
        for s in ctx.pasted_splits():
            p = ctx.paired(k, s, BREAKDOWN_PROTOCOL)
            if p is None:
                continue
            labels = [BIN_LABELS[int(b)] for b in p.bins]
            for g in _groups(ctx, p, labels, list(BIN_LABELS)):
                ivs.append(Interval(split_title(s), f"|yaw| {g.label}", g.delta, g.ci_low, g.ci_high, g.n))
                rows.append([r.model, split_title(s), g.label, str(g.n), fmt(g.mean)])
                rows[-1].append(value_ci(g.delta, g.ci_low, g.ci_high))
        if ivs:
            panels.append((r.model, ivs))
    if not panels:
        return ""
    cap = protocol_caption(ctx, BREAKDOWN_PROTOCOL, "Δ̄ = mean of occluded − clean over the pairs of a yaw bin", "group")
    svg = figure_intervals(panels, "Δ̄ NME (%)", "where: drop per yaw bin", "drops-yaw")
    details = table(["model", "split", "|yaw| bin", "pairs", "occluded NME (%)", "Δ̄ [95% CI]"], rows, cap)
    return (
        "<h3>By yaw bin</h3>"
        + figure(svg, cap)
        + f"<details><summary>table: drop per yaw bin</summary>{details}</details>"
    )


def _fraction_units(ctx: ReportContext) -> int:
    return max(1, len(ctx.results))


#: one line of a fraction plot: (label, x, y, CI low, CI high)
Series = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _coverage_groups(
    ctx: ReportContext, k: int, s: str, labels_all: list[str]
) -> tuple[list[GroupStat], np.ndarray] | None:
    """Model k's pairs of split ``s`` grouped by covered-fraction bin, and each group's mean covered fraction;
    None when the split has no pairs or no stored covered fractions."""
    p, sd = ctx.paired(k, s, BREAKDOWN_PROTOCOL), ctx.data(s)
    if p is None or sd is None or sd.covered is None:
        return None
    where = sd.rows_of(p.ids.tolist())
    cov = np.array([np.nan if w is None else sd.covered[w] for w in where], dtype=np.float64)
    b = fraction_bins(cov, FRACTION_EDGES)
    labels = [labels_all[i] if i >= 0 else "outside" for i in b]
    kept = [g for g in _groups(ctx, p, labels, labels_all) if g.label in labels_all]
    x = np.array([float(np.nanmean(cov[b == labels_all.index(g.label)])) for g in kept])
    return kept, x


def _coverage_series(
    title: str, kept: list[GroupStat], x: np.ndarray, same: bool
) -> tuple[Series | None, Series | None]:
    """The plotted (occluded NME, drop from clean) lines of one split: the bins of at least ``MIN_PLOT_N`` pairs
    (no drop line for a split whose images are the clean ones)."""
    big = np.array([g.n >= MIN_PLOT_N for g in kept], dtype=bool)
    if not big.any():
        return None, None
    nme = np.array([g.mean for g in kept])[big]
    level = (title, x[big], nme, np.full(nme.shape, np.nan), np.full(nme.shape, np.nan))
    if same:
        return level, None
    stats = [np.array([getattr(g, a) for g in kept])[big] for a in ("delta", "ci_low", "ci_high")]
    return level, (title, x[big], stats[0], stats[1], stats[2])


@section("coverage", "Error against covered fraction", 40, _fraction_units)
def coverage_section(ctx: ReportContext) -> str:
    labels_all = fraction_labels(FRACTION_EDGES)
    panels, rows = [], []
    for k, r in enumerate(ctx.results):
        level: list[Series] = []
        change: list[Series] = []
        for s in ctx.occluded_splits():
            got = _coverage_groups(ctx, k, s, labels_all)
            if got is None:
                continue
            kept, x = got
            same = ctx.same_as_clean(s)
            lv, ch = _coverage_series(split_title(s), kept, x, same)
            level += [lv] if lv is not None else []
            change += [ch] if ch is not None else []
            for g, xv in zip(kept, x, strict=True):
                rows.append([r.model, split_title(s), g.label, str(g.n), fmt(xv), fmt(g.mean)])
                rows[-1].append(Raw("0 (same images)") if same else value_ci(g.delta, g.ci_low, g.ci_high))
        ctx.step()
        if level:
            panels.append((f"{r.model}: occluded NME", level, "NME (%)"))
        if change:
            panels.append((f"{r.model}: drop from clean (95% CI)", change, "Δ̄ NME (%)"))
    if not rows:
        return note("No occluded split with stored covered fractions in these results (or their data is not found).")
    cap = protocol_caption(
        ctx,
        BREAKDOWN_PROTOCOL,
        "covered fraction = share of the face region under the occluder (store's covered_fraction); bins "
        + ", ".join(labels_all)
        + f"; each point at its bin's mean covered fraction; bins with fewer than {MIN_PLOT_N} pairs only in the table",
        "group",
    )
    header = ["model", "split", "covered bin", "pairs", "mean covered", "occluded NME (%)", "Δ̄ [95% CI]"]
    if panels:
        svg = figure_fraction(panels, "covered fraction", "error against covered fraction", "cov")
        shown = figure(svg, cap) + "<details><summary>table: error per covered-fraction bin</summary>"
        return DELTA_NOTE + shown + table(header, rows, cap) + "</details>"
    return DELTA_NOTE + note(f"No bin holds {MIN_PLOT_N} pairs: no plot.") + table(header, rows, cap)


def _factor_values(ctx: ReportContext, k: int, f: Factor) -> tuple[Paired, list[str], np.ndarray] | None:
    """Model k's pairs over the factor's splits (concatenated), their labels and covered fractions."""
    parts: list[tuple[Paired, list[str], np.ndarray]] = []
    for s in f.splits:
        p, sd = ctx.paired(k, s, BREAKDOWN_PROTOCOL), ctx.data(s)
        if p is None or sd is None:
            continue
        where = sd.rows_of(p.ids.tolist())
        keep = np.array([w is not None for w in where])
        rows = [w for w in where if w is not None]
        params = sd.params
        labels = [factor_label(f, s, params[w]) for w in rows]
        cov = np.asarray(sd.covered, dtype=np.float64)[rows] if sd.covered is not None else np.full(len(rows), np.nan)
        sub = Paired(p.ids[keep], p.rows[keep], p.occluded[keep], p.clean[keep], p.bins[keep])
        parts.append((sub, labels, cov))
    if not parts:
        return None
    cat = Paired(
        *(np.concatenate([getattr(q, a) for q, _, _ in parts]) for a in ("ids", "rows", "occluded", "clean", "bins"))
    )
    return cat, [lab for _, labs, _ in parts for lab in labs], np.concatenate([c for _, _, c in parts])


@section("occluders", "Error by occluder", 50, lambda ctx: max(1, len(FACTORS) * len(ctx.results)))
def occluders_section(ctx: ReportContext) -> str:
    parts, panels = [], []
    for f in FACTORS:
        rows, ivs = [], []
        for k, r in enumerate(ctx.results):
            got = _factor_values(ctx, k, f)
            ctx.step()
            if got is None:
                continue
            p, labels, cov = got
            lab = np.asarray(labels, dtype=object)
            for g in _groups(ctx, p, labels, list(f.order)):
                c = cov[lab == g.label]
                rows.append([r.model, g.label, str(g.n), fmt(float(np.nanmean(c)) if c.size else np.nan), fmt(g.mean)])
                rows[-1].append(value_ci(g.delta, g.ci_low, g.ci_high))
                ivs.append(Interval(g.label, r.model, g.delta, g.ci_low, g.ci_high, g.n))
        if not rows:
            continue
        splits = ", ".join(split_title(s) for s in f.splits if s in ctx.splits)
        cap = protocol_caption(ctx, BREAKDOWN_PROTOCOL, f"{f.title}: {f.doc}; pooled over {splits}", "group")
        header = ["model", "group", "pairs", "mean covered", "occluded NME (%)", "Δ̄ [95% CI]"]
        parts.append(f"<h3>{esc(f.title)}</h3>" + table(header, rows, cap))
        panels.append((f.title, ivs))
    if not panels:
        return note("No split with occluder descriptors (NSOD, CSOD) in these results, or their data is not found.")
    svg = figure_intervals(panels, "Δ̄ NME (%)", "drop from clean by occluder", "occluders")
    intro = figure(svg, protocol_caption(ctx, BREAKDOWN_PROTOCOL, "Δ̄ per group with its interval", "group"))
    return DELTA_NOTE + intro + "\n".join(parts)
