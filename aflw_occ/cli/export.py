"""``aflw-occ export MODEL``: export a model to ONNX. Each model's exporter lives beside the model."""

from __future__ import annotations

import click

from . import LazyGroup

EXPORTERS: dict[str, str] = {
    "bisenet": "aflw_occ.skin.bisenet_export:export_bisenet",
    "3ddfa-v2": "aflw_occ.adapters.tddfa_export:export_3ddfa_v2",
}


class _ExportGroup(LazyGroup):
    registry = EXPORTERS


@click.group(cls=_ExportGroup)
def export() -> None:
    """Export a model to ONNX."""
