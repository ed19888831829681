"""DSFNet (CVPR 2023) reference implementation: official-checkpoint-compatible model, deterministic inference mode,
UV-basis builder, pre/post-processing, predictor, ONNX export and training. Needs torch; see docs/dsfnet.md."""
