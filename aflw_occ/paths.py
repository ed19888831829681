"""Where the shared research data lives (never inside the package): one discovery rule for every command.

A data item (the AFLW2000-3D release, 3DDFA's evaluation files, the default occluder stamps, model weights, …) is
looked for in this order, the first that exists wins (README, *Where aflw-occ finds the data*):

1. the explicit option (``--eval-dir``, ``--source``, …), used as given;
2. ``$AFLW_OCC_SHARED/<item>`` (the environment variable names the shared data folder);
3. beside ``--source``: ``SOURCE/../<name>`` (e.g. ``aflw2000-3d-eval`` next to ``aflw2000-3d``) and
   ``SOURCE/../../<item>`` (the shared folder that holds ``data/aflw2000-3d``);
4. the user configuration ``~/.config/aflw-occ/config.toml`` (``$XDG_CONFIG_HOME``; or the file named by
   ``$AFLW_OCC_CONFIG``): ``shared = "/path/to/shared"`` and/or one path per item (``eval_dir = "…"``).

3DDFA's evaluation files belong to one release: with a ``--source`` that is not the shared folder's release, only an
explicit ``--eval-dir``, the folder beside ``--source`` or the configuration's ``eval_dir`` count.
Nothing is looked up relative to the current directory.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .errors import AflwOccError

ENV = "AFLW_OCC_SHARED"
CONFIG_ENV = "AFLW_OCC_CONFIG"

#: data items: name → path inside the shared folder (also the key of a per-item path in the config file)
ITEMS: dict[str, str] = {
    "source": "data/aflw2000-3d",
    "eval_dir": "data/aflw2000-3d-eval",
    "occluders": "occluders",
    "tuxpaint": "occluders/tuxpaint-stamps-default",
    "models": "models",
    "reference": "reference",
    "uv": "data/uv",
}


def config_file() -> Path:
    """``$AFLW_OCC_CONFIG``, else ``$XDG_CONFIG_HOME/aflw-occ/config.toml`` (``~/.config/aflw-occ/config.toml``)."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "aflw-occ" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The string settings of the user configuration (empty when there is none)."""
    path = config_file() if path is None else path
    if not path.is_file():
        return {}
    try:
        import tomllib
    except ImportError:  # Python 3.10: `key = "value"` lines only
        tomllib = None  # type: ignore[assignment]
    try:
        text = path.read_text(encoding="utf-8")
        if tomllib is not None:
            data = tomllib.loads(text)
        else:
            data = {}
            for line in text.splitlines():
                key, sep, value = line.partition("=")
                if sep and not line.lstrip().startswith("#"):
                    data[key.strip()] = value.strip().strip("\"'")
    except (OSError, ValueError) as exc:
        raise AflwOccError(f"{path}: cannot read the aflw-occ configuration ({exc})") from None
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


#: items that belong to one AFLW2000-3D release: with a ``--source``, a shared folder's copy is used only when that
#: ``--source`` is the shared folder's release (3DDFA's arrays are matched to the source by image name)
COMPANIONS = frozenset({"eval_dir"})


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def candidates(item: str, source: str | Path | None = None) -> list[Path]:
    """Where ``item`` is looked for, in order (steps 2–4 of the module's rule)."""
    rel = ITEMS[item]
    src = Path(source).expanduser().absolute() if source is not None else None

    def in_shared(root: Path) -> list[Path]:
        if item in COMPANIONS and src is not None and not _same(root / ITEMS["source"], src):
            return []
        return [root / rel]

    found: list[Path] = []
    if os.environ.get(ENV):
        found += in_shared(Path(os.environ[ENV]).expanduser())
    if src is not None:
        found += [src.parent / Path(rel).name, src.parent.parent / rel]
    config = read_config()
    if config.get(item):
        found.append(Path(config[item]).expanduser())
    if config.get("shared"):
        found += in_shared(Path(config["shared"]).expanduser())
    return found


def find_data(item: str, explicit: str | Path | None = None, source: str | Path | None = None) -> Path | None:
    """The path of data ``item``: ``explicit`` if given, else the first existing candidate (None if none exists)."""
    if explicit is not None:
        return Path(explicit).expanduser()
    for path in candidates(item, source):
        if path.exists():
            return path
    return None


def shared_dir() -> Path:
    """The shared data folder: ``$AFLW_OCC_SHARED``, else ``shared`` of the user configuration; a path that does not
    exist when neither is set (callers check for the files they need and say where they looked)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    config = read_config()
    if config.get("shared"):
        return Path(config["shared"]).expanduser()
    return Path("/nonexistent/aflw-occ-shared (set AFLW_OCC_SHARED)")


def default_source() -> Path:
    """The AFLW2000-3D release folder inside the shared data."""
    return find_data("source") or shared_dir() / ITEMS["source"]


def default_eval_dir(source: str | Path | None = None) -> Path:
    """3DDFA's evaluation files (re-annotations, crop boxes): found by the rule (a missing path if nowhere)."""
    return find_data("eval_dir", source=source) or shared_dir() / ITEMS["eval_dir"]


def asset_path(*parts: str) -> Path:
    """A file or folder under the packaged ``aflw_occ/assets``, found through :mod:`importlib.resources`.

    Works from the source tree, an editable install and an installed wheel alike (never a path relative to this
    file's folder: ``builders/`` sits beside ``aflw_occ/`` only in the source tree). Installed packages are plain
    folders, so the resource is a real path; a zipped install is refused with a message.
    """
    res = resources.files("aflw_occ").joinpath("assets", *parts)
    if not isinstance(res, Path):
        raise RuntimeError(f"aflw_occ/assets/{'/'.join(parts)}: the package is not installed as a folder ({res!r})")
    return res
