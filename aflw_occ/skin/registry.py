"""``--skin`` spec strings → segmenters, through the kinds the segmenter modules declare.

A spec is ``KIND`` or ``KIND:PATH``. Each segmenter module declares its kind as a :class:`~.segmenter.Segmenter`
(its form, a summary and a factory) and :data:`SEGMENTERS` maps the kind to that declaration as
``"module:attribute"``; a module is imported only when a spec of its kind is loaded or the help is shown, and no
declaration module imports torch or onnxruntime at module level (the torch BiSeNet is declared by
:mod:`.bisenet_onnx`, whose factory imports :mod:`.bisenet` when a ``bisenet:`` spec is loaded). The ``--skin`` help
(:func:`help_text`) is generated from the declarations.
"""

from __future__ import annotations

from ..registries import load_declaration
from .segmenter import Segmenter, SegmenterError, SkinSegmenter

#: kind → ``"module:attribute"`` of its :class:`Segmenter` (imported on first use), in the order the help lists them
SEGMENTERS: dict[str, str] = {
    "adaptive": "aflw_occ.skin.adaptive:SEGMENTER",
    "gmm": "aflw_occ.skin.gmm:SEGMENTER",
    "bisenet": "aflw_occ.skin.bisenet_onnx:BISENET_TORCH",
    "bisenet-onnx": "aflw_occ.skin.bisenet_onnx:SEGMENTER",
}
DEFAULT_SEGMENTER = "adaptive"


def segmenter(kind: str) -> Segmenter:
    """The declaration of a registered ``kind`` (its module imported now); KeyError for a kind not in the registry."""
    return load_declaration(SEGMENTERS[kind], Segmenter, kind)


def spec_forms() -> tuple[str, ...]:
    """The form of every kind: ``("adaptive", "gmm", "bisenet:PATH.pth", "bisenet-onnx:PATH.onnx")``."""
    return tuple(segmenter(k).form for k in SEGMENTERS)


def help_text() -> str:
    """The ``--skin`` help of ``aflw-occ build``."""
    return "NOD skin segmenter: " + " | ".join(spec_forms()) + "."


def _unknown(spec: str) -> SegmenterError:
    forms = [f"'{form.split(':')[0]}:PATH'" if ":" in form else f"'{form}'" for form in spec_forms()]
    return SegmenterError(f"unknown segmenter spec {spec!r}: use {', '.join(forms[:-1])} or {forms[-1]}")


def get_segmenter(spec: str | None = None) -> SkinSegmenter:
    """Build a segmenter from its spec: ``adaptive`` | ``gmm`` | ``bisenet:PATH`` | ``bisenet-onnx:PATH``.

    Heavy back-ends are imported only when asked for. Raises :class:`SegmenterError` on an unknown spec.
    """
    spec = (spec or DEFAULT_SEGMENTER).strip()
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind not in SEGMENTERS:
        raise _unknown(spec)
    declared = segmenter(kind)
    if declared.path is None:
        if arg:
            raise _unknown(spec)
        return declared.factory(None)
    if not arg:
        raise SegmenterError(f"segmenter spec {spec!r}: give the weights path, e.g. {kind}:/path/to/79999_iter.pth")
    return declared.factory(arg)
