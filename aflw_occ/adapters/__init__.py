"""Predictor adapters: callables, ONNX models, torch modules, and the shipped baselines."""
