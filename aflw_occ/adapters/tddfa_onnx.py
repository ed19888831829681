"""3DDFA_V2 exported to ONNX (``aflw-occ export 3ddfa-v2``), run with onnxruntime. Never imports torch.

The exported graph holds the network, the de-normalisation and the 68-point decoding, so the ``.onnx`` file alone is
enough at inference: outputs ``raw`` (N, 62), ``param`` (N, 62), ``landmarks`` (N, 68, 3) in 120×120 crop pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PredictionError
from .onnx import Sessions, check_input, run_chunked, run_failure
from .tddfa_identity import WeightsIdentity, model_name, onnx_identity
from .tddfa_params import INPUT_SIZE, TDDFAPipeline, tddfa_preprocess

OUTPUT_NAMES = ("raw", "param", "landmarks")


class TDDFAOnnxPredictor(TDDFAPipeline):
    """3DDFA_V2 MobileNet-x0.5 from an exported ``.onnx``.

    Its name and ``weights_sha256`` come from the checkpoint recorded in the export's metadata
    (:mod:`aflw_occ.adapters.tddfa`), so it is named like the ``.pth`` it was exported from.

    Args:
        path: the exported model.
        crop: crop rule (default ``3ddfa``: the benchmark's roi boxes).
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, path: str | Path, *, crop: str = "3ddfa", threads: int = 2) -> None:
        self.path = Path(path)
        self.sessions = Sessions(self.path, threads)
        self.session = self.sessions.main
        outs = [o.name for o in self.session.get_outputs()]
        if not {"param", "landmarks"} <= set(outs):
            raise PredictionError(
                f"{self.path}: not a 3DDFA_V2 export (outputs {outs}; expected param and landmarks — "
                "make it with `aflw-occ export 3ddfa-v2`)"
            )
        self.input_name = self.session.get_inputs()[0].name
        check_input(self.path, self.session, INPUT_SIZE, fix="make a 3DDFA_V2 export with `aflw-occ export 3ddfa-v2`")
        self.pre = tddfa_preprocess(crop)
        self.weights: WeightsIdentity = onnx_identity(self.path, self.session.get_modelmeta().custom_metadata_map)
        self.weights_sha256 = self.weights.sha256
        self.name = model_name(self.weights, crop)

    def forward(self, x: np.ndarray, session: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw, param, landmarks) of ``x`` on the main session, or on ``session`` in chunks of 16 rows."""
        try:
            if session is None:
                raw, p, q = self.session.run(list(OUTPUT_NAMES), {self.input_name: x})
                return np.asarray(raw), np.asarray(p), np.asarray(q)
            raw, p, q = run_chunked(session, list(OUTPUT_NAMES), self.input_name, x)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise run_failure(self.path, self.session, x, exc) from None
        return raw, p, q

    def infer_concurrent(self, prepared: tuple[np.ndarray, np.ndarray, np.ndarray], boxes: Any) -> Any:
        """:meth:`infer` on the shared single-thread session: safe to call from several threads at once."""
        _, p, q = self.forward(prepared[1], self.sessions.single())
        return self.decode(prepared, p, q)
