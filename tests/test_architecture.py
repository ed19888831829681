"""The import contract (``docs/architecture.md``): every module of ``aflw_occ`` (with ``aflw_occ.builders`` and
``aflw_occ.metrics``) belongs to one layer of the data flow, and imports only from its own layer or the layers before
it — at module level and inside functions alike, so no function-level import can close a cycle. Within a layer the
imports form no cycle either (a submodule that imports its own package's ``__init__`` counts).

The layers, in order: core (errors, paths, exact arithmetic, files, processes) → source (the AFLW2000-3D release)
→ geometry (3D face, face region, skin, visibility) → builders → store (HDF5, manifests, the build pipeline) →
scoring (metrics, predictions, protocols, evaluation, adapters, detection) → report → cli (with the package's public
API in ``aflw_occ/__init__.py``).

The files are parsed, not imported: this test needs no optional dependency and checks every module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package folder → the dotted name it installs as (``pyproject.toml``'s package-dir)
PACKAGES = {"aflw_occ": "aflw_occ", "builders": "aflw_occ.builders", "metrics": "aflw_occ.metrics"}
LAYERS = ("core", "source", "geometry", "builders", "store", "scoring", "report", "cli")
#: module (or package prefix) → layer; the longest matching prefix decides
LAYER_OF: dict[str, str] = {
    "aflw_occ._forkserver_arm": "core",
    "aflw_occ.errors": "core",
    "aflw_occ.paths": "core",
    "aflw_occ.atomic": "core",
    "aflw_occ.oserrors": "core",
    "aflw_occ.masks": "core",
    "aflw_occ.exactmath": "core",
    "aflw_occ.area": "core",
    "aflw_occ.heap": "core",
    "aflw_occ.lifeline": "core",
    "aflw_occ.parallel": "core",
    "aflw_occ.environment": "core",
    "aflw_occ.version": "core",
    "aflw_occ.hashing": "core",
    "aflw_occ.registries": "core",
    "aflw_occ.matfile": "source",
    "aflw_occ.source": "source",
    "aflw_occ.groundtruth": "source",
    "aflw_occ.geometry": "geometry",
    "aflw_occ.region_kernel": "geometry",
    "aflw_occ.face_mesh": "geometry",
    "aflw_occ.raster": "geometry",
    "aflw_occ.landmark_patches": "geometry",
    "aflw_occ.face_region": "geometry",
    "aflw_occ.visibility": "geometry",
    "aflw_occ.skin": "geometry",
    "aflw_occ.crops": "geometry",
    "aflw_occ.builders": "builders",
    "aflw_occ.store": "store",
    "aflw_occ.pipeline": "store",
    "aflw_occ.build_plan": "store",
    "aflw_occ.build_worker": "store",
    "aflw_occ.journal": "store",
    "aflw_occ.outdir": "store",
    "aflw_occ.fingerprint": "store",
    "aflw_occ.table": "store",
    "aflw_occ.torch_dataset": "store",
    "aflw_occ.metrics": "scoring",
    "aflw_occ.matching": "scoring",
    "aflw_occ.predictions": "scoring",
    "aflw_occ.protocols": "scoring",
    "aflw_occ.scoring": "scoring",
    "aflw_occ.evaluation": "scoring",
    "aflw_occ.evaluate": "scoring",
    "aflw_occ.adapters": "scoring",
    "aflw_occ.detection": "scoring",
    "aflw_occ.models": "scoring",
    "aflw_occ.patch_regression": "scoring",
    "aflw_occ.report": "report",
    "aflw_occ.leaderboard": "report",
    "aflw_occ.sheet": "report",
    "aflw_occ.demo": "cli",
    "aflw_occ.cli": "cli",
    "aflw_occ": "cli",  # the package __init__: the public API
}


def modules() -> dict[str, Path]:
    """Every module's dotted name → its file."""
    out = {}
    for folder, dotted in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((dotted, *parts))
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()


def layer(module: str) -> str:
    """The layer of a module: its longest listed prefix."""
    name = module
    while name not in LAYER_OF:
        if "." not in name:
            raise KeyError(f"{module} has no layer: add it to LAYER_OF (and to docs/architecture.md)")
        name = name.rpartition(".")[0]
    return LAYER_OF[name]


def _target(module: str, node: ast.ImportFrom | ast.Import) -> Iterator[str]:
    """The project modules one import statement uses."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        # ``from pkg import sub`` loads the module ``pkg.sub``; ``from pkg import name`` uses ``pkg`` itself
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            yield name


def imports(module: str) -> set[str]:
    """Every project module ``module`` imports, at any depth of its code."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    return {t for node in nodes for t in _target(module, node)}


GRAPH = {m: imports(m) for m in MODULES}


def test_version_matches_pyproject() -> None:
    from aflw_occ.version import __version__

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'\nversion = "{__version__}"\n' in text


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        assert layer(module) in LAYERS, module


def test_imports_follow_the_layers() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = sorted(
        f"{m} ({layer(m)}) imports {t} ({layer(t)})"
        for m, targets in GRAPH.items()
        for t in targets
        if rank[layer(t)] > rank[layer(m)]
    )
    assert not wrong, "imports against the data flow:\n" + "\n".join(wrong)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]), ({"a": {"b"}, "b": {"c"}, "c": set()}, [])],
)
def test_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(globals(), "GRAPH", graph)
    assert _cycles() == expected


def test_every_module_is_in_the_architecture_map() -> None:
    """``docs/architecture.md`` lists every module (its path, or its file name on the line of its folder)."""
    lines: list[str] = []
    for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("  ") and lines:  # a list item's continuation line
            lines[-1] += line
        else:
            lines.append(line)
    missing = []
    for path in MODULES.values():
        rel = path.relative_to(ROOT).as_posix()
        folder, name = rel.rpartition("/")[0] + "/", path.name
        if not any(f"`{rel}`" in line or (folder in line and f"`{name}`" in line) for line in lines):
            missing.append(rel)
    assert not missing, "add to docs/architecture.md: " + ", ".join(missing)


#: radon's grade D starts at cyclomatic complexity 21 (``radon cc -n D``); dsfnet_model/ (the paper's network) is apart
MAX_COMPLEXITY = 20
MAX_LINES = 400


def test_no_function_is_complex() -> None:
    """Every function and method has cyclomatic complexity ≤ 20 (radon grade C or better)."""
    from radon.complexity import cc_visit

    complex_ = [
        f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} ({block.complexity})"
        for path in MODULES.values()
        for block in cc_visit(path.read_text(encoding="utf-8"))
        if block.complexity > MAX_COMPLEXITY
    ]
    assert not complex_, "split these (radon grade D or worse):\n" + "\n".join(complex_)


def test_no_module_is_long() -> None:
    """No module over 400 lines, unless its docstring says why (the phrase ``over 400 lines``)."""
    long_ = []
    for path in MODULES.values():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES and "over 400 lines" not in (ast.get_docstring(ast.parse(text)) or ""):
            long_.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not long_, "split these modules by job:\n" + "\n".join(long_)
