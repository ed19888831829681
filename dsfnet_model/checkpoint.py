"""Loading official DSFNet checkpoints strictly, with errors that list the first differing keys."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .basis import UVBasis, load_basis
from .errors import CheckpointError
from .model import DSFNet

MAX_LISTED = 5


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read ``net.pth`` (a plain state dict, optionally under ``state_dict``/``model`` and/or with a ``module.``
    prefix) or an ``.npz`` of arrays keyed like the state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"DSFNet checkpoint not found: {path}")
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                sd: Mapping[str, object] = {k: torch.from_numpy(z[k]) for k in z.files}
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(sd, Mapping) and wrapper in sd and isinstance(sd[wrapper], Mapping):
            sd = sd[wrapper]
    if not isinstance(sd, Mapping) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    keys = list(sd)
    if keys and all(k.startswith("module.") for k in keys):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return dict(sd)  # type: ignore[arg-type]


def check_state_dict(model: torch.nn.Module, sd: Mapping[str, Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` naming ``source`` and the first missing / unexpected / mis-shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k} {tuple(sd[k].shape)} != {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
            problems.append(f"{label} ({len(items)}): {', '.join(items[:MAX_LISTED])}{more}")
    if problems:
        raise CheckpointError(f"{source}: not a DSFNet checkpoint: " + "; ".join(problems))


def load_dsfnet(
    weights: str | Path | Mapping[str, Tensor],
    basis: str | Path | UVBasis | None = None,
    mode: str = "deterministic",
) -> DSFNet:
    """Build :class:`DSFNet`, load ``weights`` strictly (clear error on mismatch), install ``basis``, eval mode."""
    if isinstance(weights, Mapping):
        sd, source = dict(weights), "state dict"
    else:
        sd, source = read_state_dict(weights), str(weights)
    model = DSFNet(mode=mode)
    check_state_dict(model, sd, source)
    model.load_state_dict(sd, strict=True)
    if basis is not None:
        model.set_basis(basis if isinstance(basis, UVBasis) else load_basis(basis))
    return model.eval()
