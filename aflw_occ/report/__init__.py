"""``aflw-occ report RESULTS_DIR... --out report.html``: one self-contained HTML page that answers where and why
occlusion hurts.

Sections (one registry, :mod:`aflw_occ.report.registry`): the models and data; every protocol ``evaluate`` scored
(sparse-2d, sparse-3d, pose, AUC, failure rate), each table labelled with protocol, conventions, data version and
manifest; the paired drop from clean to every occluded split with bootstrap intervals, also per yaw bin; the drop
against the covered fraction and against the occluder (NSOD category, CSOD type and colour); the mean error of each
of the 68 landmarks over occluded and visible points, drawn on the mean face; CED curves; and the worst samples drawn
at the size they are shown. Plots are inline SVG and samples JPEG at display size, so the page stays small.

Modules: :mod:`~.stats` (pure statistics), :mod:`~.factors` (occluder descriptors), :mod:`~.data` (store access),
:mod:`~.context` (inputs of the sections), :mod:`~.figures` (SVG plots), :mod:`~.samples` (drawn samples),
:mod:`~.page` (HTML), ``sections_*`` (the sections), :mod:`~.build` (assembly).
"""

from __future__ import annotations

from .build import build_report, load_context
from .context import ReportOptions

__all__ = ["ReportOptions", "build_report", "load_context"]
