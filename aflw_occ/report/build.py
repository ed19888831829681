"""Assemble the report: load the results folders and their data, render every registered section, write the page
atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..errors import AflwOccError
from ..leaderboard import ResultsError, check_same_data, label_results, load_results, ordered_splits
from .context import ReportContext, ReportOptions
from .data import DataView, open_view
from .page import document, esc
from .registry import sections

__all__ = ["build_report", "load_context"]


def _open_data(results: list[Any], data: str | Path | None) -> tuple[DataView | None, str]:
    """The data behind the results (``data``, else the first recorded path that exists) and a note for the page.

    Raises :class:`ResultsError` when the data's manifest is not the one the results were computed on."""
    if data is not None:
        view = open_view(data)
    else:
        recorded = [str(r.meta.get("data") or "") for r in results]
        found = next((p for p in recorded if p and Path(p).exists()), None)
        if found is None:
            shown = ", ".join(sorted({p for p in recorded if p})) or "none recorded"
            return None, f" (the data the results were computed on is not found: {shown}; give it with --data)"
        view = open_view(found)
    want = str(results[0].meta.get("manifest_sha256", ""))
    if view.manifest and want and view.manifest != want:
        view.close()
        raise ResultsError(
            f"{view.path}: data has manifest {view.manifest[:12]}, the results were computed on manifest {want[:12]} "
            "(give the store they were evaluated on with --data)"
        )
    return view, ""


def load_context(
    results_dirs: Sequence[str | Path], data: str | Path | None = None, options: ReportOptions | None = None
) -> ReportContext:
    """Read the results folders (same data version and manifest) and open their data."""
    if not results_dirs:
        raise ResultsError("no results folders given")
    results = label_results([load_results(p) for p in results_dirs])
    check_same_data(results)
    frames = [r.per_sample() for r in results]
    view, view_note = _open_data(results, data)
    return ReportContext(results, frames, ordered_splits(results), view, view_note, options or ReportOptions())


def build_report(
    results_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    data: str | Path | None = None,
    options: ReportOptions | None = None,
    progress: bool | None = None,
) -> Path:
    """Write the self-contained HTML report of one or more ``aflw-occ evaluate`` results folders.

    Args:
        results_dirs: results folders (evaluated on the same data version and manifest).
        out: the HTML file (written to a temporary name, renamed when complete).
        data: the store (or AFLW2000-3D folder) the results were computed on; default: the path in ``meta.json``.
        options: :class:`ReportOptions`.
        progress: a progress bar on stderr (None: only on a terminal).

    Returns:
        The path written.
    """
    from tqdm.auto import tqdm

    if Path(out).is_dir():  # before any work: the page could never be written there
        raise AflwOccError(f"{out}: cannot be written: it is a folder (give a file name such as report.html)")
    ctx = load_context(results_dirs, data, options)
    try:
        parts = sections()
        units = [max(1, s.units(ctx)) for s in parts]
        body = []
        off = None if progress is None else not progress  # None: a bar only on a terminal
        with tqdm(total=sum(units), desc="report", unit="step", disable=off) as bar:
            ctx.progress = bar
            for s, n in zip(parts, units, strict=True):
                bar.set_postfix_str(s.key, refresh=False)
                before = bar.n
                html = s.render(ctx)
                body.append(f'<section id="{esc(s.key)}"><h2>{esc(s.title)}</h2>\n{html}\n</section>')
                bar.update(max(0, before + n - bar.n))
            ctx.progress = None
        doc = document(ctx.options.title, [(s.key, s.title) for s in parts], body)
    finally:
        if ctx.view is not None:
            ctx.view.close()
    return write_text_atomic(out, doc, make_parent=True)
