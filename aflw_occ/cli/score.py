"""``aflw-occ score PRED``: score a prediction file under a named protocol, stating its provenance."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import AflwOccError


@click.command()
@click.argument("pred", type=click.Path(path_type=Path))
@click.option("--source", type=click.Path(path_type=Path), help="AFLW2000-3D folder (clean split).")
@click.option("--data", type=click.Path(path_type=Path), help="Built HDF5 data file (any split).")
@click.option("--split", default="clean", show_default=True, help="Split to score against (with --data).")
@click.option(
    "--eval-dir",
    type=click.Path(path_type=Path),
    help="3DDFA evaluation folder (re-annotated landmarks); default: the shared one when it exists.",
)
@click.option(
    "--protocol",
    type=click.Choice(["sparse-2d", "sparse-3d", "dense", "pose"]),
    default="sparse-2d",
    show_default=True,
)
@click.option(
    "--gt",
    "gt_source",
    type=click.Choice(["original", "reannotated"]),
    default="original",
    show_default=True,
    help="Ground-truth landmarks of the sparse protocols.",
)
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
    gt_source: str,
    dense_gt: Path | None,
    out: Path | None,
    as_json: bool,
    seed: int,
    n_boot: int,
    allow_missing: bool,
    compare_with: Path | None,
) -> None:
    """Score the prediction file PRED (.npz, .h5 or .csv; see docs/predictions.md)."""
    from ..predictions import read_predictions
    from ..scoring import check_request, compare
    from ..scoring import score as run_score

    check_ground_truth_options(source, data, split)
    if data is not None and eval_dir is not None:
        raise click.UsageError("--eval-dir applies to --source only (a data file carries its re-annotations)")
    predictions = read_predictions(pred)  # fail fast on a bad file, before loading the ground truth
    other = read_predictions(compare_with) if compare_with is not None else None
    for p in (predictions, other):  # fail before the ground truth is loaded when the file cannot serve
        if p is not None:
            check_request(p, protocol, gt_source, dense_gt)
    ground_truth = load_ground_truth(source, data, split, eval_dir)
    result = run_score(
        predictions,
        ground_truth,
        protocol=protocol,
        gt=gt_source,
        allow_missing=allow_missing,
        seed=seed,
        dense_gt=dense_gt,
        n_boot=n_boot,
    )
    comparison = None
    if compare_with is not None:
        comparison = compare(
            predictions,
            other,
            ground_truth,
            protocol=protocol,
            gt=gt_source,
            allow_missing=allow_missing,
            seed=seed,
            dense_gt=dense_gt,
            n_boot=n_boot,
        )
    if out is not None:
        result.write_per_sample_csv(out)
        write_text_atomic(result.to_json() + "\n", out.with_name(out.name + ".json"))
    if as_json:
        import json

        payload = result.to_dict()
        if comparison is not None:
            payload["comparison"] = {"against": str(compare_with), **comparison.to_dict()}
        if out is not None:
            payload["per_sample_csv"] = str(out)
        click.echo(json.dumps(payload, indent=2, allow_nan=False))
        return
    click.echo(result.to_text())
    if comparison is not None:
        c = comparison
        click.echo(
            f"paired bootstrap {pred.name} − {compare_with.name} ({c.statistic} mean, {result.protocol}): "
            f"Δ = {c.difference:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}], p = {c.p_value:.4f}, "
            f"n = {c.n}, B = {c.n_boot}"
        )
    if out is not None:
        click.echo(f"per-sample table: {out} (provenance and summary: {out.name}.json)")


def load_ground_truth(source: Path | None, data: Path | None, split: str, eval_dir: Path | None):
    """Ground truth from ``--source`` (clean split) or ``--data`` + ``--split``."""
    from ..groundtruth import GroundTruth

    check_ground_truth_options(source, data, split)
    if source is not None:
        if eval_dir is None:  # the one discovery rule (aflw_occ.paths)
            from ..paths import find_data

            eval_dir = find_data("eval_dir", source=source)
        return GroundTruth.from_source(source.resolve(), eval_dir.resolve() if eval_dir is not None else None)
    from_store = getattr(GroundTruth, "from_store", None)
    if from_store is None:
        raise AflwOccError(f"{data}: this aflw-occ cannot read HDF5 data files yet (GroundTruth.from_store)")
    return from_store(data, split)


def check_ground_truth_options(source: Path | None, data: Path | None, split: str) -> None:
    if (source is None) == (data is None):
        raise click.UsageError("give exactly one of --source DIR or --data FILE.h5")
    if source is not None and split != "clean":
        raise click.UsageError(f"--source holds only the clean split (got --split {split}); use --data")


def _write_atomic(out: Path, write) -> None:
    """Write through a temporary file in the same folder, renamed over ``out`` at the end."""
    from ..atomic import atomic_path

    with atomic_path(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        write(fh)


def write_text_atomic(text: str, out: Path) -> None:
    """Write a text file atomically."""
    _write_atomic(out, lambda fh: fh.write(text))
