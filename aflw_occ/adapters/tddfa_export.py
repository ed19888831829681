"""``aflw-occ export 3ddfa-v2 --weights mb05_120x120.pth --out mb05.onnx``: 3DDFA_V2 MobileNet-x0.5 → ONNX.

The exported graph is the network plus de-normalisation and 68-point decoding (outputs ``raw``, ``param``,
``landmarks``); the batch axis is dynamic. The checkpoint's file stem and sha256 are written into the ONNX metadata
(:class:`~aflw_occ.adapters.tddfa.WeightsIdentity`), so the export is named like the checkpoint when evaluated.
Needs torch and onnx (``pip install aflw-occ[torch]``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from ..atomic import atomic_path
from ..errors import PredictionError


def export_onnx(weights: str | Path, out: str | Path, model_dir: str | Path | None = None, opset: int = 17) -> Path:
    """Export the checkpoint to ONNX with its identity in the metadata (written to a temporary file, renamed at the
    end); returns the path."""
    try:
        import onnx
        import torch
    except ImportError as exc:
        raise PredictionError(f"exporting 3DDFA_V2 needs {exc.name}: pip install 'aflw-occ[torch]'") from None
    from .tddfa import checkpoint_identity
    from .tddfa_params import INPUT_SIZE, TDDFABasis
    from .tddfa_v2 import TDDFAWithDecoding, load_mobilenet

    weights = Path(weights)
    out = Path(out)
    if model_dir is None and (weights.parent / "u_base.txt").is_file():
        model_dir = weights.parent
    model = TDDFAWithDecoding(load_mobilenet(weights), TDDFABasis.load(model_dir)).eval()
    x = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    with atomic_path(out, make_parent=True) as tmp, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is the one we want
        torch.onnx.export(
            model,
            (x,),
            str(tmp),
            input_names=["input"],
            output_names=["raw", "param", "landmarks"],
            dynamic_axes={k: {0: "batch"} for k in ("input", "raw", "param", "landmarks")},
            opset_version=opset,
            dynamo=False,
        )
        graph = onnx.load(str(tmp))
        for key, value in checkpoint_identity(weights).metadata().items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(graph, str(tmp))
    return out


@click.command("3ddfa-v2")
@click.option("--weights", required=True, type=click.Path(dir_okay=False), help="3DDFA_V2 mb05_120x120.pth")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="output .onnx file")
@click.option(
    "--basis",
    type=click.Path(file_okay=False),
    default=None,
    help="folder with param_mean_std_62d_120x120.pkl, u_base.txt, w_shp_base.txt, w_exp_base.txt "
    "(default: beside the weights, else the shared model folder)",
)
@click.option(
    "--opset", default=17, show_default=True, type=click.IntRange(min=7), help="ONNX opset version to export with."
)
def export_3ddfa_v2(weights: str, out: str, basis: str | None, opset: int) -> None:
    """Export 3DDFA_V2 MobileNet-x0.5 (network + 68-point decoding) to ONNX."""
    path = export_onnx(weights, out, basis, opset)
    click.echo(f"wrote {path}")
