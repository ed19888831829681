"""``aflw-occ dsfnet``: build the UV basis, export to ONNX, predict, train (torch imported only inside commands)."""

from __future__ import annotations

from pathlib import Path

import click

from . import FullHelpGroup


@click.group("dsfnet", cls=FullHelpGroup)
def dsfnet() -> None:
    """DSFNet reference implementation (needs the torch extra)."""


@dsfnet.command("build-basis")
@click.option(
    "--bfm",
    "bfm",
    required=True,
    type=click.Path(path_type=Path),
    help="face3d BFM.mat, or a 3DDFA BFM folder (u_shp.npy, w_shp*.npy, tri.mat, ...).",
)
@click.option(
    "--uv-dir",
    required=True,
    type=click.Path(path_type=Path),
    help="folder with PRNet's uv_face_mask.png and uv_kpt_ind.txt.",
)
@click.option("--uv-coords", type=click.Path(path_type=Path), default=None, help="BFM_UV.mat (default: next to --bfm).")
@click.option("--n-shape", type=click.IntRange(1, 199), default=199, show_default=True, help="Shape components kept.")
@click.option("--n-exp", type=click.IntRange(1, 29), default=29, show_default=True, help="Expression components kept.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="output .npz basis file.")
def build_basis_cmd(bfm: Path, uv_dir: Path, uv_coords: Path | None, n_shape: int, n_exp: int, out: Path) -> None:
    """Rasterise a Basel Face Model into DSFNet's UV-space basis file."""
    from dsfnet_model.basis import build_basis

    basis = build_basis(bfm, uv_dir, uv_coords, n_shape=n_shape, n_exp=n_exp)
    basis.save(out)
    click.echo(f"wrote {out} ({basis.shape_pc.shape[0]} shape, {basis.exp_pc.shape[0]} expression components)")


@dsfnet.command("export")
@click.option("--weights", required=True, type=click.Path(path_type=Path), help="net.pth (or .npz).")
@click.option("--basis", type=click.Path(path_type=Path), default=None, help="UV basis .npz.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="output .onnx file.")
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset version.")
@click.option(
    "--check/--no-check", default=True, show_default=True, help="compare onnxruntime with torch on a random input."
)
def export_cmd(weights: Path, basis: Path | None, out: Path, opset: int, check: bool) -> None:
    """Export the deterministic DSFNet to one ONNX graph (image → face_uvm, kpt68, R_rot, seg, conf)."""
    import numpy as np
    import torch

    from dsfnet_model.checkpoint import load_dsfnet
    from dsfnet_model.onnx_export import export_onnx, ort_session, run_onnx
    from dsfnet_model.predictor import default_basis_path

    model = load_dsfnet(weights, basis or default_basis_path(weights))
    export_onnx(model, out, opset=opset)
    click.echo(f"wrote {out}")
    if check:
        x = np.random.default_rng(0).standard_normal((1, 3, 256, 256)).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x))["face_uvm"].numpy()
        got = run_onnx(ort_session(out), x)["face_uvm"]
        err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
        click.echo(f"onnxruntime vs torch: max relative difference {err:.2e}")


@dsfnet.command("predict")
@click.option("--weights", required=True, type=click.Path(path_type=Path), help="net.pth (or .npz).")
@click.option(
    "--basis",
    type=click.Path(path_type=Path),
    default=None,
    help="UV basis .npz (default: $AFLW_OCC_DSFNET_BASIS, or next to --weights).",
)
@click.option(
    "--image", "images", required=True, multiple=True, type=click.Path(path_type=Path), help="Face image (repeatable)."
)
@click.option(
    "--box",
    "boxes",
    multiple=True,
    type=str,
    help="x0,y0,x1,y1 per image (default: the 68-landmark box from the AFLW2000-3D .mat next to it).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="output .npz (landmarks, pose, dense).")
@click.option("--official", is_flag=True, help="use the official sampled mode instead of the deterministic one.")
def predict_cmd(
    weights: Path, basis: Path | None, images: tuple[Path, ...], boxes: tuple[str, ...], out: Path, official: bool
) -> None:
    """Predict 68 landmarks, head pose and the dense face for face images."""
    from dsfnet_model.cli_support import predict_files

    predict_files(weights, basis, list(images), list(boxes), out, deterministic=not official)
    click.echo(f"wrote {out}")


@dsfnet.command("train")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="300W-LP folder (image + .mat pairs).")
@click.option("--basis", required=True, type=click.Path(path_type=Path), help="UV basis .npz.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="output folder for checkpoints.")
@click.option("--init", type=click.Path(path_type=Path), default=None, help="initial weights (net.pth).")
@click.option("--epochs", type=int, default=35, show_default=True, help="Training epochs.")
@click.option("--batch-size", type=int, default=16, show_default=True, help="Images per step.")
@click.option("--lr", type=float, default=1e-5, show_default=True, help="Learning rate.")
@click.option("--max-samples", type=int, default=None, help="use only the first N samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data order and initialisation.")
def train_cmd(
    data: Path,
    basis: Path,
    out: Path,
    init: Path | None,
    epochs: int,
    batch_size: int,
    lr: float,
    max_samples: int | None,
    seed: int,
) -> None:
    """Train DSFNet on 300W-LP with the SADRNet recipe (docs/dsfnet.md §2)."""
    from dsfnet_model.train import TrainConfig, train

    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, max_samples=max_samples, seed=seed)
    path = train(data, basis, out, cfg, init=init, log=click.echo)
    click.echo(f"wrote {path}")
