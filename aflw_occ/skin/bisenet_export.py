"""``aflw-occ export bisenet``: BiSeNet checkpoint → ONNX (main-head logits), verified against torch.

The exported graph maps the normalised input ``input`` (1, 3, S, S) float32 to ``logits`` (1, 19, S, S), the
main head upsampled to the input size (the auxiliary heads are training-only and left out). Pre-processing
(face crop, resize, ImageNet normalisation) and the argmax stay outside the graph, in
:class:`aflw_occ.skin.bisenet_onnx.BiSeNetOnnxSegmenter`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import click
import numpy as np

from ..atomic import atomic_path
from .bisenet_onnx import CLASS_NAMES, ONNX_MODEL_TAG, BiSeNetError

DEFAULT_OPSET = 17
VERIFY_TOLERANCE = 1e-4


def export_bisenet_onnx(
    weights: str | Path,
    out: str | Path,
    size: int = 512,
    opset: int = DEFAULT_OPSET,
    seed: int = 0,
    tolerance: float = VERIFY_TOLERANCE,
) -> float:
    """Export a BiSeNet checkpoint to ONNX at ``out`` (atomically) and verify it with onnxruntime.

    After export, a random input ``N(0, 1)`` (numpy ``default_rng(seed)``) is run through torch and through
    onnxruntime; the file is only moved into place when ``max |ort − torch| ≤ tolerance``.

    Returns:
        The maximum absolute difference between the onnxruntime and torch logits.
    """
    import onnx
    import onnxruntime as ort
    import torch

    from .bisenet import load_bisenet

    if size < 32 or size % 32:
        raise BiSeNetError(f"export size must be a positive multiple of 32, got {size}")
    out = Path(out)
    if not out.parent.is_dir():
        raise BiSeNetError(f"{out}: output folder does not exist")
    model = load_bisenet(weights)

    class _MainHead(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net.forward_main(x)

    wrapper = _MainHead(model).eval()
    with atomic_path(out) as tmp:
        dummy = torch.zeros(1, 3, size, size)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, (dummy,), str(tmp), dynamo=False, opset_version=opset,
                input_names=["input"], output_names=["logits"], do_constant_folding=True,
            )  # fmt: skip
        proto = onnx.load(str(tmp))
        meta = {
            "aflw_occ.model": ONNX_MODEL_TAG,
            "aflw_occ.classes": ",".join(CLASS_NAMES),
            "aflw_occ.input": "RGB, /255, ImageNet mean/std normalised, NCHW float32",
            "aflw_occ.source_weights": Path(weights).name,
        }
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))

        x = np.random.default_rng(seed).standard_normal((1, 3, size, size)).astype(np.float32)
        with torch.inference_mode():
            ref = wrapper(torch.from_numpy(x)).numpy()
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {"input": x})[0]
        diff = float(np.abs(got - ref).max())
        if not diff <= tolerance:
            raise BiSeNetError(f"{out}: onnxruntime differs from torch by {diff:.3g} > {tolerance:g}; not written")
    return diff


@click.command("bisenet")
@click.option(
    "--weights", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
    help="face-parsing.PyTorch checkpoint (e.g. 79999_iter.pth) or .npz state dict.",
)  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Output .onnx file.")
@click.option("--size", type=int, default=512, show_default=True, help="Input side (multiple of 32).")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset.")
def export_bisenet(weights: Path, out: Path, size: int, opset: int) -> None:
    """Export the BiSeNet face parser to ONNX and check onnxruntime against torch."""
    diff = export_bisenet_onnx(weights, out, size=size, opset=opset)
    click.echo(f"wrote {out} (input 1x3x{size}x{size}, opset {opset})")
    click.echo(f"max |onnxruntime - torch| = {diff:.3g} on a random input")
