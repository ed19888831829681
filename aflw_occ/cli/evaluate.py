"""``aflw-occ evaluate --model SPEC --data FILE.h5 --out DIR``: run a model on every split and score it."""

from __future__ import annotations

from pathlib import Path

import click

from ..adapters.registry import help_text
from ..protocols import REGISTRY
from .options import comma_list, deprecated_alias


@click.command()
@deprecated_alias("--splits", "--split", "splits", multiple=True)
@click.option(
    "--model",
    "spec",
    required=True,
    help=help_text(),
)
@click.option("--data", type=click.Path(path_type=Path), help="Built HDF5 data file (all splits).")
@click.option(
    "--source", type=click.Path(path_type=Path), help="AFLW2000-3D folder instead of --data (clean split only)."
)
@click.option(
    "--eval-dir",
    type=click.Path(path_type=Path),
    help="3DDFA evaluation folder with --source (crop boxes, re-annotations); default: beside the source.",
)
@click.option(
    "--split",
    "splits",
    multiple=True,
    help="Splits to evaluate: a comma list (clean,csod-single), repeatable; default: all.",
)
@click.option(
    "--boxes",
    default="ground-truth",
    show_default=True,
    help="Box protocol: 'ground-truth' (boxes from the ground truth, every face) or 'detector:DIR' (the face "
    "detector's boxes from `aflw-occ detect STORE --out DIR`: only detected faces are run; detection rate and "
    "failure rate with misses reported).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Results folder to write.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1), help="Images per model call.")
@click.option(
    "--threads", default=2, show_default=True, type=click.IntRange(min=1), help="Cores for loading and inference."
)
@click.option(
    "--protocol",
    "protocols",
    multiple=True,
    type=click.Choice([p.name for p in REGISTRY.values() if p.evaluated_by_default]),
    help="Protocols to score (repeatable); default: sparse-2d, + sparse-3d for 3D output, + pose when predicted.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(min=1), help="Bootstrap resamples.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
def evaluate(
    spec: str,
    data: Path | None,
    source: Path | None,
    eval_dir: Path | None,
    splits: tuple[str, ...],
    boxes: str,
    out: Path,
    batch_size: int,
    threads: int,
    protocols: tuple[str, ...],
    seed: int,
    n_boot: int,
    progress: bool | None,
) -> None:
    """Evaluate a model on a built data file (or the clean AFLW2000-3D folder) and write predictions + scores."""
    from ..adapters.registry import load_predictor
    from ..detection.protocol import parse_boxes
    from ..evaluation import SourceData
    from ..evaluation import evaluate as run

    if (data is None) == (source is None):
        raise click.UsageError("give exactly one of --data FILE.h5 or --source DIR")
    box_protocol = parse_boxes(boxes)  # a bad --boxes fails before the model is loaded
    if box_protocol is not None and source is not None:
        raise click.UsageError(
            "--boxes detector:DIR needs a built store (--data): detection files are made per store by `aflw-occ detect`"
        )
    predictor = load_predictor(spec, threads=threads)  # a bad spec fails before any data is read
    target = data if data is not None else SourceData(source, eval_dir, threads=threads)  # type: ignore[arg-type]
    result = run(
        predictor,
        target,
        splits=",".join(comma_list(splits)) or "all",
        out_dir=out,
        batch_size=batch_size,
        threads=threads,
        protocols=list(protocols) or None,
        seed=seed,
        n_boot=n_boot,
        progress=progress,
        model_spec=spec,
        boxes=box_protocol,
    )
    click.echo(
        f"# model={result.model} data={result.data} version={result.data_version} "
        f"manifest={result.manifest_sha256[:12] or '–'} box_protocol={result.box_protocol} ({result.seconds:.1f} s)"
    )
    if result.detections:
        click.echo(f"# detections: {result.detections}")
    df = result.summary()
    keys = ["nme_0_30", "nme_30_60", "nme_60_plus", "nme_balanced", "nme_occluded_balanced", "nme_visible_balanced"]
    for points in ("68", "inner-51"):
        sparse = (df["protocol"] == "sparse-2d") & (df["points"] == points)
        if not sparse.any():
            continue
        what = "per yaw bin, balanced; occluded/visible landmarks on occluded splits"
        wanted = keys
        chosen = sparse
        if result.detections:
            what = "on the detected faces only, per yaw bin, balanced"
            if points == "68":  # the detection rows count misses as failures on the 68-point NME
                wanted = keys + ["detection_rate_balanced", "failure_10_with_misses_balanced"]
                chosen = sparse | (df["protocol"] == "detection")
                what += "; detection rate (%, balanced); failure rate@10% with misses counted as failures (%, balanced)"
        rows = df[chosen & df["metric"].isin(wanted)]
        table = rows.pivot(index="split", columns="metric", values="value").reindex(columns=wanted)
        table = table.dropna(axis=1, how="all").reindex(list(result.splits))
        click.echo(f"# box protocol {result.box_protocol}: sparse-2d points={points} gt=original NME (%) {what}")
        click.echo(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="–"))
    click.echo(f"wrote {out}")
