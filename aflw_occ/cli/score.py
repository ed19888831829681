"""``aflw-occ score PRED``: score a prediction file under a named protocol, stating its provenance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..atomic import write_text_atomic
from ..protocols import CONVENTIONS, REGISTRY, protocol_names

if TYPE_CHECKING:  # pragma: no cover
    from ..groundtruth import GroundTruth
    from ..metrics.bootstrap import PairedComparison
    from ..scoring import ScoreResult


def _convention_options(f: Callable[..., None]) -> Callable[..., None]:
    """One ``--flag`` per named convention of :data:`aflw_occ.protocols.CONVENTIONS` (choices read from it)."""
    for spec in reversed(CONVENTIONS):
        f = click.option(
            spec.flag,
            spec.field,
            type=click.Choice(list(spec.choices)),
            default=spec.default,
            show_default=True,
            help=spec.help() + ".",
        )(f)
    return f


@click.command()
@click.argument("pred", type=click.Path(path_type=Path))
@click.option("--source", type=click.Path(path_type=Path), help="AFLW2000-3D folder (clean split).")
@click.option("--data", type=click.Path(path_type=Path), help="Built HDF5 data file (any split).")
@click.option("--split", default="clean", show_default=True, help="Split to score against (with --data).")
@click.option(
    "--eval-dir",
    type=click.Path(path_type=Path),
    help="3DDFA evaluation folder (re-annotated landmarks, AFLW yaw labels); default: the shared one when it exists.",
)
@click.option(
    "--protocol",
    type=click.Choice(list(protocol_names())),
    default="sparse-2d",
    show_default=True,
    help="; ".join(f"{p.name}: {p.description}" for p in REGISTRY.values()),
)
@_convention_options
@click.option(
    "--crop-boxes",
    type=click.Path(path_type=Path),
    help="Landmarks are in 3DDFA 120×120 crop coordinates: map them to image pixels with these boxes "
    "(AFLW2000-3D_crop.roi_box.npy; its AFLW2000-3D_crop.list beside it).",
)
@click.option("--crop-size", default=120, show_default=True, type=click.IntRange(min=1), help="Crop side in px.")
@click.option("--dense-gt", type=click.Path(path_type=Path), help="Dense ground truth .npz (ids, points).")
@click.option("--out", type=click.Path(path_type=Path), help="Write the per-sample table to this CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of the table.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Bootstrap seed.")
@click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(min=1), help="Bootstrap resamples.")
@click.option("--allow-missing", is_flag=True, help="Score the samples that have a prediction, report the others.")
@click.option(
    "--compare",
    "compare_with",
    type=click.Path(path_type=Path),
    help="A second prediction file: add a paired bootstrap test PRED − COMPARE.",
)
def score(
    pred: Path,
    source: Path | None,
    data: Path | None,
    split: str,
    eval_dir: Path | None,
    protocol: str,
    crop_boxes: Path | None,
    crop_size: int,
    dense_gt: Path | None,
    out: Path | None,
    as_json: bool,
    seed: int,
    n_boot: int,
    allow_missing: bool,
    compare_with: Path | None,
    **conventions: str,
) -> None:
    """Score the prediction file PRED (.npz, .npy, .h5 or .csv; see docs/predictions.md).

    One forward pass: read and validate each file once, load the ground truth, match ids, score, render.
    """
    from ..predictions import CropFrame, read_predictions
    from ..protocols import Conventions
    from ..scoring import check_request, compare
    from ..scoring import score as run_score

    check_ground_truth_options(source, data, split)
    if data is not None and eval_dir is not None:
        raise click.UsageError("--eval-dir applies to --source only (a data file carries its re-annotations)")
    conv = Conventions(**conventions)  # type: ignore[arg-type]
    frame = CropFrame.load(crop_boxes, size=crop_size) if crop_boxes is not None else None
    files = [pred] + ([compare_with] if compare_with is not None else [])
    preds = []
    for path in files:  # read, convert and check each file once, before the ground truth is loaded
        p = read_predictions(path)
        preds.append(frame.to_image(p) if frame is not None else p)
        proto = check_request(preds[-1], protocol, conv.gt, dense_gt, conv)
    ground_truth = load_ground_truth(source, data, split, eval_dir)
    if conv.yaw_source == "aflw-labels" and ground_truth.yaw_aflw_deg is None:
        ground_truth = _with_aflw_yaw(ground_truth, eval_dir)
    kw = {"allow_missing": allow_missing, "seed": seed, "dense_gt": dense_gt, "n_boot": n_boot, "conventions": conv}
    result = run_score(preds[0], ground_truth, proto, **kw)
    comparison = compare(preds[0], preds[1], ground_truth, proto, **kw) if len(preds) > 1 else None
    if out is not None:
        result.write_per_sample_csv(out)
        write_text_atomic(out.with_name(out.name + ".json"), result.to_json() + "\n")
    click.echo(_render(result, comparison, pred, compare_with, out, as_json))


def _render(
    result: ScoreResult,
    comparison: PairedComparison | None,
    pred: Path,
    compare_with: Path | None,
    out: Path | None,
    as_json: bool,
) -> str:
    """The command's output: JSON, or the text table with the comparison and the per-sample table's path."""
    if as_json:
        import json

        payload = result.to_dict()
        if comparison is not None:
            payload["comparison"] = {"against": str(compare_with), **comparison.to_dict()}
        if out is not None:
            payload["per_sample_csv"] = str(out)
        return json.dumps(payload, indent=2, allow_nan=False)
    lines = [result.to_text()]
    if comparison is not None and compare_with is not None:
        c = comparison
        lines.append(
            f"paired bootstrap {pred.name} − {compare_with.name} ({c.statistic} mean, {result.protocol} "
            f"{result.convention_label()}): Δ = {c.difference:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}], "
            f"p = {c.p_value:.4f}, n = {c.n}, B = {c.n_boot}"
        )
    if out is not None:
        lines.append(f"per-sample table: {out} (provenance and summary: {out.name}.json)")
    return "\n".join(lines)


def _with_aflw_yaw(ground_truth: GroundTruth, eval_dir: Path | None) -> GroundTruth:
    """The ground truth with AFLW's yaw labels from ``--eval-dir`` (or the shared evaluation folder)."""
    from ..paths import default_eval_dir
    from ..protocols import ScoringError

    folder = eval_dir if eval_dir is not None else default_eval_dir()
    try:
        return ground_truth.with_aflw_yaw(folder)
    except ValueError as exc:
        raise ScoringError(f"--yaw-source aflw-labels: {exc}") from None


def load_ground_truth(source: Path | None, data: Path | None, split: str, eval_dir: Path | None) -> GroundTruth:
    """Ground truth from ``--source`` (clean split) or ``--data`` + ``--split``."""
    from ..groundtruth import GroundTruth

    check_ground_truth_options(source, data, split)
    if source is not None:
        from ..paths import find_data

        eval_dir = find_data("eval_dir", eval_dir, source=source)  # the one discovery rule (aflw_occ.paths)
        return GroundTruth.from_source(source.resolve(), eval_dir.resolve() if eval_dir is not None else None)
    from ..store import read_ground_truth

    return read_ground_truth(data, split)


def check_ground_truth_options(source: Path | None, data: Path | None, split: str) -> None:
    if (source is None) == (data is None):
        raise click.UsageError("give exactly one of --source DIR or --data FILE.h5")
    if source is not None and split != "clean":
        raise click.UsageError(f"--source holds only the clean split (got --split {split}); use --data")
