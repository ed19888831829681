"""A torch ``nn.Module`` landmark model as a predictor (torch is an optional extra; imported only here).

Same pre/post-processing as the ONNX adapter: the module maps the (N, C, S, S) float32 input to 68 landmarks in crop
pixels, or to anything ``postprocess(output, crop_boxes)`` turns into (N, 68, 2|3) image pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .preprocess import Preprocess


class TorchModulePredictor:
    """Run a torch module in eval mode under ``torch.inference_mode``.

    Args:
        module: the model (moved to CPU, put in eval mode).
        preprocess: pre/post-processing settings.
        postprocess: optional ``f(output_numpy, crop_boxes) -> (N, 68, 2|3)`` image pixels replacing the default.
        threads: ``torch.set_num_threads`` value (None leaves it).
        name: display name.
    """

    def __init__(
        self,
        module: Any,
        preprocess: Preprocess | None = None,
        *,
        postprocess: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        threads: int | None = None,
        name: str | None = None,
    ) -> None:
        import torch

        self.torch = torch
        self.module = module.eval()
        self.pre = preprocess or Preprocess()
        self.postprocess = postprocess
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        self.name = name or type(module).__name__

    def forward(self, x: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(x))
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.detach().cpu().numpy()

    def prepare(self, images: Sequence[np.ndarray], boxes: Any) -> tuple[np.ndarray, np.ndarray]:
        """Crop boxes and model input of a batch (thread-safe; the evaluator runs it in loader threads)."""
        crop = self.pre.boxes(boxes.roi, boxes.face)
        return crop, self.pre.normalise(self.pre.crops(images, crop, list(boxes.ids)))

    def infer(self, prepared: tuple[np.ndarray, np.ndarray], boxes: Any) -> np.ndarray:
        crop, x = prepared
        out = self.forward(x)
        if self.postprocess is not None:
            return self.postprocess(out, crop)
        return self.pre.to_image(out, crop)

    def predict(self, images: Sequence[np.ndarray], boxes: Any) -> np.ndarray:
        return self.infer(self.prepare(images, boxes), boxes)
