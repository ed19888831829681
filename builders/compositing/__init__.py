"""NatOcc compositing (package): paste one cut-out object over the face region P (Voo, Jiang, Loy, CVPRW 2022;
reference values in ``docs/occlusion.md`` of the shared data, this toolkit's exact definition in ``docs/nsod.md``).

:func:`composite` is pure and **bit-exact on every machine**: every drawn value is quantised to a declared dyadic grid
(:data:`GRIDS`) before use, every derived geometric value comes from IEEE basic operations or
:mod:`aflw_occ.exactmath`, every statistic from exact integer sums, and every pixel operation from
:mod:`..exact_image`, :mod:`..exact_warp`, :mod:`..exact_filter` and :mod:`..exact_jpeg` (integer
arithmetic). All work is done in the occluder's region of interest
(ROI). Steps and drawn values:

1. **Size** — face box = bounding box of P (``w × h``); the occluder's alpha box (``w₀ × h₀``) is scaled by
   ``s₀ = √(a·w·h / (w₀·h₀))``, ``a ~ U(0.5, 1.0)``.
2. **Placement** — centre ``c`` uniform in the face box.
3. **Pointing** — hands and elongated objects (principal-axis ratio ≥ 2.5) are rotated by
   ``φ = atan2(f − c) − θ`` (``f``: centroid of P, ``θ``: the object's long-axis angle) so that the long axis lies on
   the line to the face centre, ``+180°`` when ``c`` is below ``f``.
4. **Affine jitter** (p = 0.7) — scale ``U(0.8, 1.2)``, rotation ``U(−15°, 15°)``, shear ``U(−8°, 8°)`` (x-shear).
   The full map is ``x ↦ c + R(φ + ρ)·Sh(σ)·(s₀·s)·(x − x̄)`` (``x̄``: centre of the occluder's box). Downscaling is
   area-averaged first (exact area means), then the residual map is applied with bilinear interpolation (16-bit
   fixed-point map, 8-bit weights), in premultiplied alpha.
5. **Colour** — one affine colour map ``x ↦ A·x + b`` (RGB, 12 fractional bits, integer arithmetic) composed of:
   grey conversion when the source image is grey (all channels equal); colour transfer toward the face's statistics
   in YCbCr (BT.601, linear in RGB) — with ``μ_f, σ_f`` over P and ``μ_o, σ_o`` over the occluder,
   ``Y ← Y + t_Y(μ_f − μ_o)`` for the mean and ``(Y − μ) · (1 + t_Y(clip(σ_f/σ_o, 0.5, 2) − 1))`` for the contrast,
   ``Cb, Cr ← Cb, Cr + t_C(μ_f − μ_o)``, ``t_Y ~ U(0.3, 0.7)``, ``t_C ~ U(0, 0.3)`` (lighting and colour cast are
   matched, the object keeps its own colours; the original uses sliced optimal transport of the full distribution);
   in near-monochrome (tinted, sepia) photos — image chroma spread ``σ_C < 6`` — the occluder's chroma deviations are
   scaled by ``k = σ_C/6`` and its mean chroma moves to the face's by ``t_C + (1 − t_C)(1 − k)``;
   brightness/contrast (p = 0.5) ``x ← (x − x̄)(1 + κ) + x̄ + 255β``, ``κ, β ~ U(−0.1, 0.1)``. Means and variances
   come from exact integer sums of R, G, B and their products; the matrix is composed in rational arithmetic.
6. **Blur** (p = 0.3) of the occluder — Gaussian ``σ ~ U(0.5, 1.5)`` px (defocus; integer taps, radius ⌈3σ⌉), in
   premultiplied alpha.
7. **Blending** — ``α = G₅(erode₃(α_occ))`` (3×3 erosion, binomial 5×5), on the 0–255 scale;
   ``out = (α·occ + (255 − α)·face)/255``; the edge band (0 < α < 255, grown by 1 px) is replaced by its binomial
   3×3 blur.
8. **JPEG** (p = 0.5) — the 16-pixel-aligned ROI (the source's MCU grid) goes through JPEG's lossy steps at quality
   ``U{70, …, 100}`` (:func:`.exact_jpeg.jpeg_roundtrip`).

The occluder is clipped to the photo inside any black padding bars (:func:`content_box`).
Steps 5–8 only change pixels where ``α > 0``: every pixel outside the returned mask equals the source image's pixel.
Every random number is drawn in a fixed order, whether or not the step is applied, and recorded in ``params``
(quantised); float statistics that are not needed to reproduce the pixels are under ``params["diagnostics"]``.

Modules: :mod:`.config` (drawn ranges, grids, the draw order), :mod:`.colour` (exact colour statistics and maps),
:mod:`.placement` (face box, size, placement and affine geometry), :mod:`.stats` (what is derived from the source
image alone), :mod:`.blend` (straight colour, blur, blending, JPEG step), :mod:`.steps` (:func:`composite`: the steps
in order).
"""

from __future__ import annotations

from .colour import YCC, chroma_spread, transfer_matrix
from .config import GRID_BITS, NatOccConfig, config_dict
from .placement import content_box
from .steps import Composite, composite

__all__ = [
    "GRID_BITS",
    "YCC",
    "Composite",
    "NatOccConfig",
    "chroma_spread",
    "composite",
    "config_dict",
    "content_box",
    "transfer_matrix",
]
