"""Sections on what was scored: the models and data, every protocol's table, CED curves."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..metrics.ced import ced_curve
from .context import ReportContext, fmt, split_title
from .figures import Series, figure_ced
from .page import Raw, esc, figure, note, provenance, table, value_ci
from .registry import section

#: the conventions a metric label states itself (pose: ``[decoding=…, mae=…]``)
CONVENTION_TAG = re.compile(r"\s*\[([^\]]*=[^\]]*)\]\s*$")
#: CED curves run from 0 to this NME (%)
CED_MAX = 10.0
CED_POINTS = 101


def conventions_text(ctx: ReportContext, protocol: str, k: int = 0) -> str:
    """``conventions gt=original yaw=pose-para bins=3ddfa`` of a protocol as folder k scored it (pose: also the
    decoding and MAE mode its metric labels state)."""
    proto = ctx.protocol(protocol)
    if proto is None:
        return ""
    conv = ctx.conventions(ctx.results[k])
    parts = [f"gt={proto.gt_label(conv)}"] if "gt" in proto.uses else []
    parts += [conv.label(tuple(u for u in proto.uses if u != "gt"))]
    labels = _rows(ctx.results[k].scores, protocol, "68")["label"].astype(str).tolist()
    tag = next((m.group(1) for lab in labels if (m := CONVENTION_TAG.search(lab))), "")
    return "conventions " + (tag or " ".join(p for p in parts if p))


def protocol_caption(ctx: ReportContext, protocol: str, what: str = "", ci: str | None = "evaluate") -> Raw:
    """The provenance line of a table or figure of one protocol: protocol, conventions, data version and manifest,
    what is shown, and where its intervals come from (``ci``: ``evaluate`` — the folder's scores; ``paired`` — the
    report's paired bootstrap; ``group`` — the report's per-group bootstrap; None — no interval)."""
    proto = ctx.protocol(protocol)
    o = ctx.options
    pct = f"{int(round(100 * o.level))}%"
    seeds = ", ".join(sorted({str(r.meta.get("seed", "?")) for r in ctx.results}))
    scheme = proto.bootstrap_scheme if proto else "bootstrap"
    texts = {
        "evaluate": f"95% CI of evaluate: {scheme}, seed {seeds}",
        "paired": f"{pct} CI: paired bootstrap, {o.n_boot} resamples of the pairs, seed {o.seed} (within yaw bins "
        "for balanced, over all pairs for plain)",
        "group": f"{pct} CI: bootstrap of each group's pairs, {o.n_boot} resamples, seed {o.seed}",
    }
    return provenance(
        f"protocol {protocol}" + (f" ({proto.short})" if proto and proto.short else ""),
        conventions_text(ctx, protocol),
        ctx.data_label(),
        what,
        texts.get(ci or "", ""),
    )


@section("models", "Models and data", 10)
def models_section(ctx: ReportContext) -> str:
    rows = []
    for r in ctx.results:
        protos = sorted({p for ps in (r.meta.get("protocols") or {}).values() for p in ps})
        rows.append(
            [
                r.model,
                str(r.meta.get("model_spec") or ""),
                str(r.meta.get("data_version", "")),
                str(r.meta.get("manifest_sha256", ""))[:12],
                ", ".join(split_title(s) for s in r.splits),
                ", ".join(protos),
                fmt(float(r.meta.get("seconds", float("nan"))), 1),
                str(r.meta.get("created_utc", "")),
            ]
        )
    parts = [
        table(
            ["model", "spec", "data version", "manifest", "splits", "protocols", "evaluate (s)", "created (UTC)"],
            rows,
            provenance(ctx.data_label(), f"{len(ctx.results)} results folder(s)"),
        )
    ]
    o = ctx.options
    parts.append(
        note(
            Raw(
                f"Images and per-row occluder data from <code>{esc(ctx.view.path if ctx.view else '–')}</code>"
                f"{esc(ctx.view_note)}. Crop boxes come from the ground truth, as in the field's benchmarks. "
                f"The report's own statistics (drops, group intervals) use {o.n_boot} bootstrap resamples, seed "
                f"{o.seed}, {int(round(100 * o.level))}% percentile intervals."
            )
        )
    )
    return "\n".join(parts)


def _rows(scores: Any, protocol: str, points: str) -> Any:
    """The rows of ``scores.csv`` of one protocol under one point set (``68`` also matches results written before the
    ``points`` column, and protocols without that convention)."""
    sel = scores["protocol"] == protocol
    if "points" in scores.columns:
        sel &= scores["points"].fillna("").astype(str).isin([points, ""] if points == "68" else [points])
    return scores[sel]


def _point_sets(ctx: ReportContext, protocol: str) -> list[str]:
    """The point sets a protocol was scored under in any folder: ``68`` first, then ``inner-51`` when present."""
    found = {"68"}
    for r in ctx.results:
        if "points" in r.scores.columns:
            found |= set(r.scores[r.scores["protocol"] == protocol]["points"].dropna().astype(str)) - {""}
    return sorted(found, key=lambda p: (p != "68", p))


def _metrics(ctx: ReportContext, protocol: str, points: str = "68") -> list[tuple[str, str, str]]:
    """(metric key, header, unit) of every metric any folder reports for a protocol (under one point set), in file
    order."""
    seen: dict[str, tuple[str, str]] = {}
    for r in ctx.results:
        df = _rows(r.scores, protocol, points)
        for m, lab, unit in zip(df["metric"], df["label"], df["unit"], strict=True):
            label = CONVENTION_TAG.sub("", str(lab))
            seen.setdefault(str(m), (label, str(unit)))
    return [(m, lab, unit) for m, (lab, unit) in seen.items()]


@section("protocols", "Scores by protocol", 20)
def protocols_section(ctx: ReportContext) -> str:
    parts = [
        note(
            "Every protocol `aflw-occ evaluate` scored, as written in each folder's scores.csv: value, and below it "
            "the 95% bootstrap interval where the protocol defines one; n = images scored in the split."
        )
    ]
    for protocol in ctx.protocols():
        for points in _point_sets(ctx, protocol):
            metrics = _metrics(ctx, protocol, points)
            rows = []
            for r in ctx.results:
                n = r.meta.get("n", {})
                for s in ctx.splits:
                    mine = _rows(r.scores, protocol, points)
                    if s not in r.splits or mine[mine["split"] == s].empty:
                        continue
                    rows.append(
                        [r.model, split_title(s), str(n.get(s, ""))]
                        + [value_ci(*r.value(s, m, protocol, points=points)) for m, _, _ in metrics]
                    )
            proto = ctx.protocol(protocol)
            desc = proto.description if proto else "(not in this version's protocol registry)"
            header = ["model", "split", "n"] + [f"{lab} ({unit})" for _, lab, unit in metrics]
            if points == "68":
                parts.append(f'<h3 id="protocol-{esc(protocol)}">{esc(protocol)}</h3>' + note(desc))
                parts.append(table(header, rows, protocol_caption(ctx, protocol)))
            else:  # the same protocol over another point set (inner-51: the 51 inner points, no jaw line)
                title = f"{protocol} points={points}"
                what = f"points={points}: the 51 inner points 17–67 only (no jaw line), same normaliser"
                parts.append(f'<h3 id="protocol-{esc(protocol)}-points-{esc(points)}">{esc(title)}</h3>')
                parts.append(table(header, rows, protocol_caption(ctx, protocol, what)))
    return "\n".join(parts)


@section("ced", "Cumulative error distributions", 70)
def ced_section(ctx: ReportContext) -> str:
    panels, protocols = [], []
    for protocol in ctx.protocols():
        proto = ctx.protocol(protocol)
        if proto is None or not proto.has_ced:
            continue
        for k, r in enumerate(ctx.results):
            series = []
            for s in ctx.splits:
                v = ctx.values(k, s, protocol)
                if v is None:
                    continue
                t, f = ced_curve(v / 100.0, cutoff=CED_MAX / 100.0, n_points=CED_POINTS)
                missing = np.count_nonzero(~np.isfinite(v))
                f = f * (v.size - missing) / max(1, v.size)  # a missing prediction counts as a failure
                series.append(Series(split_title(s), 100 * t, np.round(f, 4)))
            if series:
                panels.append((f"{r.model}, {protocol}", series))
                protocols.append(protocol)
    if not panels:
        return note("No protocol with per-image NMEs in these results.")
    svg = figure_ced(panels, "NME (%)", "CED: fraction of images with NME ≤ t, every split", "ced")
    caps = [protocol_caption(ctx, p, ci=None).html for p in dict.fromkeys(protocols)]
    return figure(svg, Raw("<br>".join(caps)))
