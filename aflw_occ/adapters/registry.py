"""Model spec strings → predictors (``aflw-occ evaluate --model SPEC``), through a registry of adapters.

A spec is ``KIND:PATH[,key=value...]`` (``KIND[:key=value,...]`` for an adapter without a path). Each adapter module
declares one :class:`Adapter` — its kind, what it runs, the form of its path, its options (:class:`Option`, with
help text and a parser) and a factory — and :data:`ADAPTERS` maps the kind to that declaration as
``"module:attribute"``. Modules are imported only when a spec of their kind is loaded or the help is shown, and an
adapter module imports its heavy dependencies (torch, onnxruntime, dlib, ...) inside its factory or predictor, never at
module level: scoring never imports torch, and listing the adapters imports none of them.

The registry parses every spec the same way (unknown kind, missing path, unknown option, bad value: one
:class:`PredictionError` naming the spec and what to write instead), turns an ``ImportError`` of the factory into a
``pip install 'aflw-occ[EXTRA]'`` hint and anything else a factory raises into a :class:`ModelError`. The
``--model`` help (:func:`help_text`), :func:`spec_forms` and the README's model-spec table (:func:`markdown_table`,
checked by a test) are generated from the declarations.

Adding an adapter is one entry: write ``aflw_occ/adapters/<name>.py`` with a predictor (see
:mod:`aflw_occ.evaluation.predictor`) and ``ADAPTER = Adapter(kind=..., summary=..., factory=..., options=(...))``,
add ``"<kind>": "aflw_occ.adapters.<name>:ADAPTER"`` to :data:`ADAPTERS`, and regenerate the README table with
``python -m aflw_occ.adapters.registry README.md``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import registries
from ..errors import AflwOccError, ModelError, PredictionError
from .options import Option, convert_options, parse_options

#: kind → ``"module:attribute"`` of its :class:`Adapter` (imported on first use)
ADAPTERS: dict[str, str] = {
    "3ddfa-v2": "aflw_occ.adapters.tddfa:ADAPTER",
    "onnx": "aflw_occ.adapters.onnx:ADAPTER",
    "dsfnet": "aflw_occ.adapters.dsfnet:ADAPTER",
    "dlib": "aflw_occ.adapters.dlib_adapter:ADAPTER",
    "mediapipe-facemesh": "aflw_occ.adapters.facemesh:ADAPTER",
    "python": "aflw_occ.adapters.callable:ADAPTER",
}

#: ``(path or None, parsed options, threads) -> predictor``
Factory = Callable[[str | None, dict[str, Any], int], Any]


@dataclass(frozen=True)
class Adapter:
    """What an adapter module declares about its model spec.

    Attributes:
        kind: the spec's prefix (``onnx`` in ``onnx:model.onnx``).
        summary: what it runs, one or two sentences (README table, help).
        factory: builds the predictor from the path, the parsed options and the thread count.
        path: how the positional part is written (``PATH``, ``module:attr``), or None when there is none.
        options: the ``key=value`` options.
        extra: the ``pip install 'aflw-occ[EXTRA]'`` extra it needs, if any.
    """

    kind: str
    summary: str
    factory: Factory
    path: str | None = "PATH"
    options: tuple[Option, ...] = ()
    extra: str | None = None

    @property
    def form(self) -> str:
        """The spec's form: ``dsfnet:PATH[,basis=…]``; ``onnx:PATH[,key=value…]`` beyond three options."""
        head = self.kind if self.path is None else f"{self.kind}:{self.path}"
        if not self.options:
            return head
        opts = ",".join(f"{o.name}=…" for o in self.options) if len(self.options) <= 3 else "key=value…"
        return f"{head}[{':' if self.path is None else ','}{opts}]"


def adapter(kind: str) -> Adapter:
    """The declaration of ``kind`` (its module imported now); :class:`PredictionError` for an unknown kind."""
    target = ADAPTERS.get(kind)
    if target is None:
        raise PredictionError(f"unknown model kind '{kind}' (kinds: {', '.join(ADAPTERS)})")
    return registries.load_declaration(target, Adapter, kind)


def adapters() -> list[Adapter]:
    """Every registered adapter, in registry order."""
    return [adapter(k) for k in ADAPTERS]


def spec_forms() -> tuple[str, ...]:
    """The form of every spec, e.g. ``("3ddfa-v2:PATH.onnx|PATH.pth[,crop=…]", ...)``."""
    return tuple(a.form for a in adapters())


_KIND = re.compile(r"[^:,]*")


def parse_spec(spec: str) -> tuple[Adapter, str | None, dict[str, Any]]:
    """``KIND:PATH,key=value,...`` → (adapter, path or None, parsed options); :class:`PredictionError` naming the
    spec and the forms when it is malformed."""
    kind = _KIND.match(spec).group(0)  # type: ignore[union-attr]
    rest = spec[len(kind) :]
    try:
        ad = adapter(kind.strip().lower())
    except PredictionError:
        raise PredictionError(f"unknown model spec '{spec}' (forms: {'; '.join(spec_forms())})") from None
    if ad.path is None:
        path, opt_text = None, rest[1:]
    else:
        path, _, opt_text = rest[1:].partition(",") if rest.startswith(":") else ("", "", "")
        if not path.strip():
            raise PredictionError(f"model spec '{spec}' has no {ad.path} (write {ad.form})")
    try:
        given = parse_options(opt_text)
    except PredictionError as exc:
        raise PredictionError(f"model spec '{spec}': {exc} (write {ad.form})") from None
    return ad, path, convert_options(ad.options, given, f"model spec '{spec}'")


def load_predictor(spec: str, threads: int = 2) -> Any:
    """Build the predictor a spec names.

    :class:`PredictionError` (one line) for a malformed spec, a missing file or extra; :class:`ModelError` when the
    model's own code raises while it is created.
    """
    ad, path, opts = parse_spec(spec)
    try:
        return ad.factory(path, opts, threads)
    except AflwOccError:
        raise
    except ImportError as exc:
        what = exc.name or str(exc)
        extra = f" (pip install 'aflw-occ[{ad.extra}]')" if ad.extra else ""
        raise PredictionError(f"model spec '{spec}' needs {what}, which is not installed{extra}") from None
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise ModelError(
            f"model spec '{spec}': creating the model raised {type(exc).__name__}"
            f"{': ' + text[0] if text else ''} (AFLW_OCC_DEBUG=1 prints the traceback)"
        ) from exc


def help_text() -> str:
    """The ``--model`` help of ``aflw-occ evaluate``."""
    return "Model spec: " + "; ".join(spec_forms()) + ". Options: README, 'Model specs'."


def markdown_table() -> str:
    """The README's model-spec table: one row per adapter (form, what it runs, its options with their help)."""
    rows = ["| spec | what | options |", "|---|---|---|"]
    for a in adapters():
        head = a.kind if a.path is None else f"{a.kind}:{a.path}"
        what = a.summary + (f" Needs `pip install 'aflw-occ[{a.extra}]'`." if a.extra else "")
        opts = "<br>".join(
            f"`{o.shown}`: {o.help}" + (f" (default {o.default})" if o.default is not None else "") for o in a.options
        )
        cell = registries.table_cell
        rows.append(f"| `{cell(head)}` | {cell(what)} | {cell(opts) or '–'} |")
    return "\n".join(rows)


MARKERS = ("<!-- model-specs:start -->", "<!-- model-specs:end -->")


def readme_block(text: str) -> str | None:
    """The table between the :data:`MARKERS` of a README text (None without them)."""
    return registries.readme_block(text, MARKERS)


def update_readme(path: str | Path) -> bool:
    """Rewrite the table between the :data:`MARKERS` of a README; True when it changed (PredictionError if none)."""
    return registries.update_readme_block(path, MARKERS, markdown_table(), PredictionError)


if __name__ == "__main__":  # python -m aflw_occ.adapters.registry README.md
    from aflw_occ.adapters import registry  # the module the adapters import their Adapter from, not this __main__

    for readme in sys.argv[1:] or ["README.md"]:
        print(f"{readme}: {'updated' if registry.update_readme(readme) else 'up to date'}")
